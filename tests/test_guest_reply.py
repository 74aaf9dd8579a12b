"""``reply: {guest: MODULE, operation: OP}``: another guest answers a host call, as a nested
exchange (the machinery of Tarmac's function calls), on every engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from stub_guests import ECHO_WAT, HANG_WAT, build, host_call_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.tools.nested import MAX_DEPTH
from wapc_cli.tools.stubs.loader import load_stub_file
from wapc_cli.tools.stubs.source import StubTableError

FAILING_WAT = """
(module
  (import "wapc" "__guest_error" (func $err (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ponger is asleep")
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $err (i32.const 0) (i32.const 16))
    (i32.const 0)))
"""
TRAP_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32) unreachable))
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("guest_reply")
    build(folder / "caller.wasm", host_call_wat("actor", "other", "Echo.Say"))
    build(folder / "echo.wasm", ECHO_WAT)
    build(folder / "failing.wasm", FAILING_WAT)
    build(folder / "trap.wasm", TRAP_WAT)
    build(folder / "hang.wasm", HANG_WAT)
    for name, module in (("echo", "echo.wasm"), ("failing", "failing.wasm"),
                         ("trap", "trap.wasm"), ("hang", "hang.wasm"),
                         ("self", "caller.wasm")):
        (folder / f"{name}.yaml").write_text(
            "calls:\n  - match: actor:other:Echo.Say\n"
            f"    reply: {{guest: {module}, operation: Echo.Say}}\n")
    return folder


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "100"})
    return result.exit_code, result.stdout, result.stderr


def jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_the_callees_response_is_the_answer(folder: Path, engine_name: str) -> None:
    code, out, err = run("call", str(folder / "caller.wasm"), "x", "-p", "hello", "-e",
                         engine_name, "--stubs", str(folder / "echo.yaml"))
    assert (code, out) == (0, "hello"), err


def test_the_callees_error_is_the_host_error(folder: Path, engine_name: str) -> None:
    code, _, err = run("call", str(folder / "caller.wasm"), "x", "-e", engine_name,
                       "--stubs", str(folder / "failing.yaml"))
    assert code == 1 and err.strip() == "wapc: error: ponger is asleep"
    code, _, err = run("call", str(folder / "caller.wasm"), "x", "-e", engine_name,
                       "--stubs", str(folder / "trap.yaml"))
    assert code == 1 and "unreachable" in err


def test_the_nested_exchange_in_the_trace(folder: Path, engine_name: str) -> None:
    code, out, err = run("trace", str(folder / "caller.wasm"), "x", "-p", "hi", "-e",
                         engine_name, "--stubs", str(folder / "echo.yaml"), "-f", "jsonl")
    assert code == 0, err
    steps = [e for e in jsonl(out) if e["event"] not in ("run", "summary")]
    start = next(e for e in steps if e["event"] == "function_call")
    assert start["function"] == "echo.wasm" and start["operation"] == "Echo.Say"
    assert start["module"].endswith("echo.wasm") and start["depth"] == 0
    nested = [e for e in steps if e["depth"] == 1]
    assert all(e["parent"] == start["span"] for e in nested)
    assert next(e for e in nested if e["event"] == "guest_call")["operation"] == "Echo.Say"
    at = [e["event"] for e in steps].index("function_return")
    assert steps[at + 1]["event"] == "host_call" and steps[at + 1]["span"] == start["span"]
    code, out, _ = run("trace", str(folder / "caller.wasm"), "x", "-p", "hi",
                       "--stubs", str(folder / "echo.yaml"))
    assert "echo.wasm · Echo.Say · payload 2 B" in out
    assert "│ guest_call" in out


def test_nesting_is_bounded(folder: Path) -> None:
    code, _, err = run("call", str(folder / "caller.wasm"), "x", "-p", "hi",
                       "--stubs", str(folder / "self.yaml"))
    assert code == 1
    assert f"nested guest calls went deeper than {MAX_DEPTH}" in err


def test_a_hanging_callee_ends_the_run_with_the_callers_timeout(folder: Path) -> None:
    code, _, err = run("call", str(folder / "caller.wasm"), "x", "--timeout", "1",
                       "--stubs", str(folder / "hang.yaml"))
    assert code == 3, err  # a limit, as if the caller had run out of time itself
    assert "ran longer than 1s" in err and "the Echo.Say of hang.wasm" in err


def test_recording_keeps_the_callees_answer(folder: Path, tmp_path: Path) -> None:
    record = tmp_path / "rec.yaml"
    code, _, err = run("call", str(folder / "caller.wasm"), "x", "-p", "hello",
                       "--stubs", str(folder / "echo.yaml"), "--record", str(record))
    assert code == 0, err
    table = yaml.safe_load(record.read_text())
    assert table["calls"][0]["reply"] == "hello"


@pytest.mark.parametrize("reply, problem", [
    ("{guest: echo.wasm}", "needs 'operation'"),
    ("{guest: missing.wasm, operation: x}", "no such module"),
    ("{guest: a_folder.wasm, operation: x}", "not a file"),  # it exists: not "no such"
    ("{text: hi, operation: x}", "'operation' goes with 'guest' only"),
    ("{guest: echo.wasm, operation: ''}", "must not be empty"),
])
def test_loader_problems(folder: Path, tmp_path: Path, reply: str, problem: str) -> None:
    (folder / "a_folder.wasm").mkdir(exist_ok=True)
    table = folder / "bad-reply.yaml"
    table.write_text(f"calls:\n  - match: a:b:c\n    reply: {reply}\n")
    with pytest.raises(StubTableError) as caught:
        load_stub_file(table)
    assert problem in str(caught.value) and "bad-reply.yaml:3:" in str(caught.value)


def test_as_a_real_process(folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(folder / "caller.wasm"), "x",
         "-p", "over the wire", "--stubs", str(folder / "echo.yaml")],
        capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"over the wire"


def test_the_callee_runs_under_the_callers_host_profile(
    folder: Path, tmp_path: Path, engine_name: str
) -> None:
    """A callee that registers in ``_initialize`` answers under wapc-go (which calls it)
    and fails under wapc-rs (which does not), as the caller's own guest would."""
    from profile_guests import REACTOR_ERROR, REACTOR_WAT

    build(tmp_path / "reactor.wasm", REACTOR_WAT)
    build(tmp_path / "caller.wasm", host_call_wat("actor", "other", "Echo.Say"))
    (tmp_path / "reactor.yaml").write_text(
        "calls:\n  - match: actor:other:Echo.Say\n"
        "    reply: {guest: reactor.wasm, operation: Echo.Say}\n")
    base = ("call", str(tmp_path / "caller.wasm"), "x", "-p", "hi", "-e", engine_name,
            "--stubs", str(tmp_path / "reactor.yaml"))
    assert run(*base, "--host", "wapc-go")[:2] == (0, "hi")
    code, _, err = run(*base, "--host", "wapc-rs")
    assert code == 1 and REACTOR_ERROR in err, err
