"""``--host`` on call, trace, bench and ``host:`` in ``wapc test``: CliRunner and subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from profile_guests import ECHO_WAT, PROBE_WAT, REACTOR_ERROR, REACTOR_WAT, write_guest
from typer.testing import CliRunner

from wapc_cli.cli.app import app


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("profile_guests")
    return {name: write_guest(directory, name, text) for name, text in
            (("reactor", REACTOR_WAT), ("echo", ECHO_WAT), ("probe", PROBE_WAT))}


def wapc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wapc_cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize(("host", "code"), [
    ("wapc", 0), ("wapc-go", 0), ("tarmac", 0), ("wapc-rs", 1), ("wapc-js", 1),
])
def test_reactor_under_each_host_as_a_subprocess(
    guests: dict[str, Path], engine_name: str, host: str, code: int,
) -> None:
    done = wapc("call", str(guests["reactor"]), "echo", "-p", "hi", "--host", host,
                "-e", engine_name)
    assert done.returncode == code, done.stderr
    if code == 0:
        assert done.stdout == "hi"
    else:
        assert REACTOR_ERROR in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_reactor_under_each_host_through_clirunner(guests: dict[str, Path]) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["call", str(guests["reactor"]), "echo", "-p", "hi",
                             "--host", "wapc-go"])
    assert ok.exit_code == 0 and ok.stdout == "hi"
    failed = runner.invoke(app, ["call", str(guests["reactor"]), "echo", "-p", "hi",
                                 "--host", "wapc-rs", "--json"])
    assert failed.exit_code == 1
    data = json.loads(failed.stdout)
    assert REACTOR_ERROR in json.dumps(data)


def test_bad_host_is_a_usage_error(guests: dict[str, Path]) -> None:
    done = wapc("call", str(guests["echo"]), "echo", "--host", "wapc-zz")
    assert done.returncode == 2
    assert done.stderr.strip() == "wapc: error: --host: unknown host profile 'wapc-zz' " \
        "(choose from: wapc, wapc-rs, wapc-go, wapc-js, tarmac, kubewarden, wasmcloud)"
    clash = wapc("call", str(guests["echo"]), "echo", "--host", "tarmac", "--preset",
                 "kubewarden")
    assert clash.returncode == 2 and "cannot be combined with --preset" in clash.stderr


def test_trace_marks_deviations(guests: dict[str, Path], engine_name: str) -> None:
    done = wapc("trace", str(guests["reactor"]), "echo", "-p", "hi", "--host", "wapc-rs",
                "--format", "jsonl", "-e", engine_name)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    marked = [line for line in lines if "deviation" in line]
    assert [(m["event"], m["step"]) for m in marked] == [("init", "_initialize")]
    assert marked[0]["deviation"] == "wapc-rs does not call `_initialize`"
    plain = wapc("trace", str(guests["reactor"]), "echo", "-p", "hi", "--format", "jsonl",
                 "-e", engine_name)
    assert plain.returncode == 0 and "deviation" not in plain.stdout


def test_rich_trace_shows_the_deviation(guests: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["trace", str(guests["probe"]), "x", "--host", "wapc-js"])
    assert result.exit_code == 0, result.output
    assert "deviation" in result.output and "@wapc/host's error when nothing answers" in \
        result.output.replace("\n", " ")


def test_bench_with_a_host(guests: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["bench", str(guests["echo"]), "echo", "-n", "200",
                                      "--warmup", "10", "--host", "wapc-go", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["calls"] == 200


def test_suite_host_key(guests: dict[str, Path], tmp_path: Path, engine_name: str) -> None:
    suite = tmp_path / "reactor.wapc.yaml"
    suite.write_text(f"""module: {guests['reactor']}
engines: [{engine_name}]
host: wapc-go
cases:
  - name: answers on wapc-go
    operation: echo
    payload: hi
    expect: {{response: hi}}
  - name: fails on wapc-rs with its own error
    operation: echo
    payload: hi
    host: wapc-rs
    expect: {{error: "{REACTOR_ERROR}"}}
""")
    done = wapc("test", str(suite))
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / "bad.wapc.yaml"
    bad.write_text(suite.read_text().replace("host: wapc-go", "host: wapc-zz"))
    wrong = wapc("test", str(bad))
    assert wrong.returncode == 2 and "unknown host profile 'wapc-zz'" in wrong.stderr


LOOP_WAT = """(module (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 1)))"""


def test_kubewarden_has_policy_servers_2s_timeout(tmp_path: Path, engine_name: str) -> None:
    import time

    loop = write_guest(tmp_path, "loop", LOOP_WAT)
    started = time.monotonic()
    done = wapc("call", str(loop), "validate", "--host", "kubewarden", "-e", engine_name)
    assert done.returncode == 3, done.stderr
    assert "longer than 2s" in done.stderr
    assert time.monotonic() - started < 60  # stopped near 2 s, not the default 30 s
