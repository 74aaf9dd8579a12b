"""``wapc bench`` and its measurement core: shapes and sanity, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wasmtime
from conftest import module_from_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.engines import available_engines
from wapc_cli.runtime.guest import WapcModule
from wapc_cli.tools.bench import run_bench

GUEST = """(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wapc" "__guest_error" (func $err (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "b")
  (func (export "__guest_call") (param $op i32) (param $len i32) (result i32)
    (call $req (i32.const 0) (i32.const 1024))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x66)) (then
      (call $err (i32.const 1024) (local.get $len))
      (return (i32.const 0))))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x68)) (then
      (drop (call $host_call (i32.const 100) (i32.const 1) (i32.const 100) (i32.const 1)
                             (i32.const 100) (i32.const 1) (i32.const 1024) (local.get $len)))))
    (call $resp (i32.const 1024) (local.get $len))
    (i32.const 1)))"""

REQUIRED_KEYS = {"calls_per_s", "p50_us", "p90_us", "p99_us", "max_us", "compile_ms",
                 "instantiate_ms", "init_ms", "host_calls_per_call", "engine", "calls"}


@pytest.fixture
def guest_file(tmp_path: Path) -> Path:
    path = tmp_path / "bench.wasm"
    path.write_bytes(bytes(wasmtime.wat2wasm(GUEST)))
    return path


def test_run_bench_counts_calls_and_host_calls(engine_name: str) -> None:
    module: WapcModule = module_from_wat(GUEST, engine_name)
    guest = module.instantiate(lambda request: b"answer")
    result = run_bench(module, guest, "host", b"xyz", count=300, warmup=10, compare_bare=True)
    assert result.calls == 300
    assert result.errors == 0
    assert result.host_calls_per_call == 1.0
    assert result.response_len == 3
    assert 0 < result.p50_us <= result.p90_us <= result.p99_us <= result.max_us
    assert result.calls_per_s > 0
    assert result.bare is not None and result.bare.calls == 300
    assert result.api_overhead_pct is not None
    assert set(result.as_json()) >= REQUIRED_KEYS


def test_run_bench_counts_guest_errors_without_raising(engine_name: str) -> None:
    module = module_from_wat(GUEST, engine_name)
    result = run_bench(module, module.instantiate(), "fail", b"nope", count=50, warmup=2)
    assert result.calls == 50 and result.errors == 50
    assert result.response_len is None
    assert result.notes and "nope" in result.notes[0]


def test_duration_bound_run_lasts_about_the_duration(engine_name: str) -> None:
    """Bounds on how long, not how fast: the loop stops soon after the duration."""
    module = module_from_wat(GUEST, engine_name)
    reported: list[tuple[int, int | None]] = []
    started = time.perf_counter()
    result = run_bench(module, module.instantiate(), "echo", b"", duration=0.2, warmup=0,
                       progress=lambda done, total: reported.append((done, total)))
    wall = time.perf_counter() - started
    timed = result.calls / result.calls_per_s  # the timed loop's own elapsed time
    assert 0.2 * 0.95 <= timed <= wall < 0.2 + 10
    assert result.errors == 0 and result.host_calls_per_call == 0
    # Progress counts up with no total (the run is bound by time), and the loop
    # stops only when it looks at the clock, right after a report: the last one
    # is the number of calls measured.
    assert reported and all(total is None for _, total in reported)
    done = [count for count, _ in reported]
    assert done == sorted(set(done)) and done[-1] == result.calls


def test_cli_bench_json(guest_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    args = ["bench", str(guest_file), "host", "--size", "100", "-n", "200", "--warmup", "5",
            "--reply", "ok", "--json", "--bare"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert set(data) >= REQUIRED_KEYS
    assert data["payload_len"] == 100 and data["response_len"] == 100
    assert data["host_calls_per_call"] == 1
    assert data["cache_hit"] is False
    second = json.loads(runner.invoke(app, args).stdout)
    assert second["cache_hit"] is True
    assert json.loads(runner.invoke(app, [*args, "--no-cache"]).stdout)["cache_hit"] is False


def test_cli_bench_engine_all(guest_file: Path) -> None:
    result = CliRunner().invoke(app, ["bench", str(guest_file), "echo", "-n", "100",
                                      "--warmup", "1", "--engine", "all", "--json",
                                      "--no-cache"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = data if isinstance(data, list) else [data]
    assert [row["engine"] for row in rows] == available_engines()


def test_cli_bench_text_table(guest_file: Path) -> None:
    result = CliRunner().invoke(app, ["bench", str(guest_file), "echo", "-n", "100",
                                      "--no-cache", "--engine", "all"])
    assert result.exit_code == 0, result.output
    for label in ("calls/s", "latency p50", "latency p99", "compile", "instantiate", "init"):
        assert label in result.stdout


@pytest.mark.parametrize(
    "extra",
    [["-n", "0"], ["--duration", "-1"], ["-n", "5", "--duration", "1"], ["--size", "-3"],
     ["--size", "3", "-p", "x"], ["--warmup", "-1"]],
)
def test_cli_bench_usage_errors(guest_file: Path, extra: list[str]) -> None:
    result = CliRunner().invoke(app, ["bench", str(guest_file), "echo", *extra])
    assert result.exit_code == 2


def test_help_imports_no_engine() -> None:
    code = ("import sys; import wapc_cli.cli.app; "
            "bad = [m for m in ('wasmtime', 'wasmer') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    helped = subprocess.run([sys.executable, "-c", "import sys; sys.argv=['wapc','--help'];"
                             "from wapc_cli.cli.app import app\n"
                             "try:\n app()\nexcept SystemExit: pass\n"
                             "print('wasmtime' in sys.modules, file=sys.stderr)"],
                            capture_output=True, text=True)
    assert helped.stderr.strip().endswith("False")
