"""trace, bench and inspect --run under limits on every engine.

wasmer 1.1 cannot interrupt a guest, so with a timeout or --max-memory these
commands run it in a supervised child process (wapc_cli.isolation); wasmtime
stays in-process. What the user sees must be the same either way: a live trace
that ends at the timeout with exit 3, the limit named, a benchmark measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import require_engine, wat
from stub_guests import FORWARD_WAT, HANG_WAT
from typer.testing import CliRunner

from wapc_cli.cli.app import app

IMPORTS = """
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
"""


def module(body: str, *, extra: str = "") -> str:
    return f"""(module {IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (global $at (mut i32) (i32.const 0))
  {extra}
  (func (export "__guest_call") (param $op i32) (param $len i32) (result i32)
    (call $req (i32.const 100) (i32.const 200))
    (call $log (i32.const 0) (i32.const 5))
    {body}
    (i32.const 1)))"""


ECHO = module("(call $resp (i32.const 200) (local.get $len))")
LOOP_INIT = module("", extra='(func (export "wapc_init") (loop $l (br $l)))')
TRAP_INIT = module("", extra='(func (export "wapc_init") unreachable)')
TRAP_START = module("", extra="(func $start unreachable) (start $start)")
BOMB = module("""
    (block $refused (loop $grow
      (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      (global.set $at (i32.mul (i32.sub (memory.size) (i32.const 1)) (i32.const 65536)))
      (loop $touch
        (i32.store (global.get $at) (i32.const 1))
        (global.set $at (i32.add (global.get $at) (i32.const 4096)))
        (br_if $touch (i32.and (global.get $at) (i32.const 0xffff))))
      (br $grow)))
    unreachable""")

#: Time allowed on top of a timeout for the kill and the process to end.
SLACK_S = 2.0


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("supervised")
    paths = {}
    for name, text in {"echo": ECHO, "loop_init": LOOP_INIT, "trap_init": TRAP_INIT,
                       "trap_start": TRAP_START, "bomb": BOMB, "hang": HANG_WAT,
                       "forward": FORWARD_WAT}.items():
        path = folder / f"{name}.wasm"
        path.write_bytes(wat(text))
        paths[name] = str(path)
    return paths


def run(*args: str) -> tuple[int, str, str, float]:
    started = time.monotonic()
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "100", "NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr, time.monotonic() - started


def jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# -- trace -----------------------------------------------------------------------------
def test_trace_of_a_hang_is_live_and_stops_at_the_timeout(
    guests: dict[str, str], engine_name: str
) -> None:
    """Steps stream out while the guest still runs; the kill comes at the timeout."""
    timeout = 2
    process = subprocess.Popen(
        [sys.executable, "-m", "wapc_cli", "trace", guests["hang"], "op", "-e", engine_name,
         "--timeout", str(timeout), "-f", "jsonl"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    lines: list[dict[str, Any]] = []
    live = False
    first_line_at = None
    try:
        for line in process.stdout:
            lines.append(json.loads(line))
            first_line_at = first_line_at or time.monotonic()
            if lines[-1]["event"] == "host_call":
                live = process.poll() is None  # the guest is still looping
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    ended = time.monotonic()
    stderr = process.stderr.read()
    assert code == 3, stderr
    assert live, "the steps before the hang only appeared after the run ended"
    assert first_line_at is not None and ended - first_line_at < timeout + SLACK_S
    events = [line["event"] for line in lines]
    assert events[:2] == ["run", "init"] and lines[0]["engine"] == engine_name
    assert events[2:] == ["guest_call", "guest_request", "host_call", "return", "summary"]
    assert lines[-2]["outcome"] == "trap" and "timeout" in lines[-2]["message"]
    assert lines[-2]["t_ns"] >= timeout * 1e9 * 0.9
    summary = lines[-1]
    assert (summary["exit_code"], summary["outcome"]) == (3, "limit")
    assert (summary["error"]["limit"], summary["error"]["figure"]) == ("timeout", "2s")
    assert stderr.count("\n") == 1 and "timeout: the guest ran longer than 2s" in stderr


def test_trace_memory_bomb_names_the_limit(guests: dict[str, str], engine_name: str) -> None:
    code, out, err, _ = run("trace", guests["bomb"], "op", "-e", engine_name,
                            "--max-memory", "16MiB", "-f", "jsonl")
    assert code == 3, err
    lines = jsonl(out)
    assert [line["event"] for line in lines][2:5] == ["guest_call", "guest_request",
                                                      "console_log"]
    summary = lines[-1]
    assert (summary["error"]["limit"], summary["error"]["figure"]) == ("max-memory", "16MiB")
    assert err.startswith("wapc: error: max-memory:") and "16MiB" in err


def test_trace_with_the_default_timeout_shows_every_step(
    guests: dict[str, str], engine_name: str
) -> None:
    """No flag: the default 30 s timeout applies (wasmer: through the child)."""
    code, out, err, _ = run("trace", guests["echo"], "op", "-e", engine_name, "--payload-hex",
                            "6869", "-f", "jsonl")
    assert code == 0, err
    lines = jsonl(out)
    assert lines[0]["engine"] == engine_name
    assert [line["event"] for line in lines][2:] == [
        "guest_call", "guest_request", "console_log", "guest_response", "return", "summary"]
    assert lines[-1]["response_b64"] == "aGk="
    assert lines[-1]["total_ns"] > 0


def test_trace_rich_timeline_ends_with_the_timeout(guests: dict[str, str],
                                                   engine_name: str) -> None:
    code, out, err, elapsed = run("trace", guests["hang"], "op", "-e", engine_name,
                                  "--timeout", "1")
    assert code == 3, err
    assert "host_call" in out and "return" in out and "limit (exit 3)" in out
    assert elapsed < 1 + SLACK_S + 3  # + the child's start-up, which the clock leaves out


# -- bench -----------------------------------------------------------------------------
def test_bench_with_limits_measures(guests: dict[str, str], engine_name: str) -> None:
    code, out, err, _ = run("bench", guests["echo"], "op", "-e", engine_name, "--timeout", "5",
                            "--max-memory", "16MiB", "-n", "300", "--warmup", "10", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["engine"] == engine_name
    assert (result["calls"], result["errors"]) == (300, 0)
    assert result["calls_per_s"] > 0 and result["p50_us"] > 0 and result["compile_ms"] > 0
    supervised = any("supervised child process" in note for note in result["notes"])
    assert supervised == (engine_name == "wasmer")


def test_bench_reply_answers_host_calls(guests: dict[str, str], engine_name: str) -> None:
    """--reply is answered in the supervised child itself: no round trip per host call."""
    code, out, err, _ = run("bench", guests["forward"], "op", "-e", engine_name, "--timeout",
                            "5", "--reply", "pong", "-n", "200", "--warmup", "5", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["calls"], result["errors"], result["response_len"]) == (200, 0, 4)
    assert result["host_calls_per_call"] == 1
    assert not any("over a pipe" in note for note in result["notes"])


def test_bench_engine_all_with_a_timeout(guests: dict[str, str],
                                         all_engines: list[str]) -> None:
    code, out, err, _ = run("bench", guests["echo"], "op", "-e", "all", "--timeout", "5",
                            "-n", "100", "--warmup", "5", "--json")
    assert code == 0, err
    data = json.loads(out)
    results = data if isinstance(data, list) else [data]
    assert [r["engine"] for r in results] == all_engines
    assert all(r["calls"] == 100 and r["errors"] == 0 for r in results)


# -- inspect --run ---------------------------------------------------------------------
@pytest.mark.parametrize("timeout", [None, "5"])
def test_inspect_run_trapping_init_exits_3(
    guests: dict[str, str], engine_name: str, timeout: str | None
) -> None:
    extra = ("--timeout", timeout) if timeout else ()
    code, out, err, _ = run("inspect", guests["trap_init"], "--run", "-e", engine_name,
                            "--json", *extra)
    assert code == 3, err
    run_json = json.loads(out)["run"]
    assert run_json["engine"] == engine_name
    assert [(s["step"], s["outcome"]) for s in run_json["steps"]] == [
        ("compile", "ok"), ("start", "ok"), ("wapc_init", "trap")]
    assert "wapc_init" in run_json["error"] and run_json["exit_code"] == 3
    assert "initialisation failed: guest trapped" in err


def test_inspect_run_trapping_start_section(guests: dict[str, str], engine_name: str) -> None:
    code, out, err, _ = run("inspect", guests["trap_start"], "--run", "-e", engine_name,
                            "--json")
    assert code == 3, err
    steps = json.loads(out)["run"]["steps"]
    # The start section runs as a step of its own after instantiation, so the trap
    # is named for it, in-process or supervised alike.
    assert [(s["step"], s["outcome"]) for s in steps] == [
        ("compile", "ok"), ("instantiate", "ok"), ("start section", "trap")]
    assert "start section" in err


def test_inspect_run_endless_init_stops_at_the_timeout(
    guests: dict[str, str], engine_name: str
) -> None:
    code, out, err, elapsed = run("inspect", guests["loop_init"], "--run", "-e", engine_name,
                                  "--timeout", "1")
    assert code == 3, err
    assert "timeout: the guest ran longer than 1s" in err
    assert "wapc_init" in out and "trap" in out
    assert elapsed < 1 + SLACK_S + 3


def test_bench_of_a_guest_outliving_the_timeout_ends_at_the_first_such_call(
    guests: dict[str, str], engine_name: str
) -> None:
    """Not one timeout per warm-up and timed call (minutes): exit 3 at the first, as wasmer's
    supervised benchmark does."""
    code, out, err, elapsed = run("bench", guests["hang"], "op", "-e", engine_name,
                                  "--timeout", "1", "-n", "5", "--warmup", "20")
    assert code == 3, (out, err)
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("wapc: error: timeout: ") and "longer than 1s" in last
    assert elapsed < 1 + SLACK_S + 3


# -- wasmer only: the child is killed mid-benchmark ------------------------------------
@pytest.mark.wasmer
def test_wasmer_bench_call_over_the_timeout_stops_the_benchmark(
    guests: dict[str, str],
) -> None:
    """The timeout is per call: the warm-up's first call hangs, the child is killed."""
    require_engine("wasmer")
    code, out, err, elapsed = run("bench", guests["hang"], "op", "-e", "wasmer",
                                  "--timeout", "1", "-n", "5", "--warmup", "2")
    assert code == 3, (out, err)
    assert out == ""
    assert err.strip().splitlines()[-1] == (
        "wapc: error: timeout: a guest call ran longer than 1s "
        "(the wasmer process running it was stopped)")
    assert elapsed < 1 + SLACK_S + 3


@pytest.mark.wasmer
def test_wasmer_bench_timeout_is_per_call_not_for_the_run(guests: dict[str, str]) -> None:
    """A benchmark far longer than --timeout is fine while each call is short."""
    require_engine("wasmer")
    code, out, err, _ = run("bench", guests["echo"], "op", "-e", "wasmer", "--timeout",
                            "0.5", "--duration", "1.5", "--warmup", "10", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["calls"] > 1000 and result["errors"] == 0


@pytest.mark.wasmer
def test_wasmer_inspect_run_default_timeout_is_supervised(
    guests: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No --timeout: the default 30 s applies on wasmer too (it used to run unbounded)."""
    require_engine("wasmer")
    import wapc_cli.isolation as supervise

    modes: list[str] = []
    real = supervise.run_supervised

    def spy(*args: Any, **kw: Any) -> supervise.SupervisedOutcome:
        modes.append(str(kw.get("mode")))
        return real(*args, **kw)

    monkeypatch.setattr(supervise, "run_supervised", spy)
    code, out, err, _ = run("inspect", guests["echo"], "--run", "-e", "wasmer")
    assert code == 0, err
    assert modes == ["init"]
    assert "Run (wasmer)" in out


# -- a supervised benchmark, through the tool ----------------------------------------------
def test_supervised_bench_relays_a_handler_that_cannot_be_pickled(engine_name: str) -> None:
    from wapc_cli.engines.base import Limits
    from wapc_cli.isolation import BenchPlan, local_handler
    from wapc_cli.runtime.hostcalls import HostCallRequest
    from wapc_cli.tools.bench import ConstantAnswer, run_bench_supervised

    seen: list[str] = []

    def handler(request: HostCallRequest) -> bytes:  # a closure: it stays in this process
        seen.append(request.operation)
        return b"ok"

    assert local_handler(handler) is None
    assert local_handler(ConstantAnswer(b"x")) == ConstantAnswer(b"x")
    done: list[int] = []
    result = run_bench_supervised(
        wat(FORWARD_WAT), operation="op", engine=engine_name, limits=Limits(timeout_s=5),
        host_call=handler, plan=BenchPlan(count=50, warmup=2),
        progress=lambda n, total: done.append(n),
    )
    assert result.engine == engine_name
    assert (result.calls, result.errors, result.response_len) == (50, 0, 2)
    assert len(seen) == 52 and set(seen) == {"op"}
    assert any("over a pipe" in note for note in result.notes)
