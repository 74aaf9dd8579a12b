"""``tarmac:function:NAME``: another module's handler as a nested exchange, on every engine."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from stub_guests import ECHO_WAT, HANG_WAT, build, host_call_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.tools.tarmac.functions import MAX_DEPTH


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("functions")
    build(folder / "caller.wasm", host_call_wat("tarmac", "function", "greet"))
    build(folder / "echo.wasm", ECHO_WAT)
    build(folder / "self.wasm", host_call_wat("tarmac", "function", "self"))
    build(folder / "hang.wasm", HANG_WAT)
    build(folder / "kvset.wasm", host_call_wat("tarmac", "kvstore", "set"))
    return folder


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "100"})
    return result.exit_code, result.stdout, result.stderr


def jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_function_by_flag_answers_with_the_callees_response(
    guests: Path, engine_name: str
) -> None:
    code, out, err = run("call", str(guests / "caller.wasm"), "x", "-p", "hello", "-e",
                         engine_name, "--function", f"greet={guests / 'echo.wasm'}")
    assert (code, out) == (0, "hello"), err


def test_an_unknown_function_is_tarmacs_callback_not_found(guests: Path) -> None:
    code, _, err = run("call", str(guests / "caller.wasm"), "x", "--function",
                       f"other={guests / 'echo.wasm'}")
    assert code == 1 and err.strip() == "wapc: error: callback not found"


def test_the_nested_exchange_in_json_lines(guests: Path, engine_name: str) -> None:
    code, out, err = run("trace", str(guests / "caller.wasm"), "x", "-p", "hello", "-e",
                         engine_name, "--function", f"greet={guests / 'echo.wasm'}", "-f", "jsonl")
    assert code == 0, err
    events = jsonl(out)
    steps = [e for e in events if e["event"] not in ("run", "summary")]
    assert all("depth" in e for e in steps)
    start = next(e for e in steps if e["event"] == "function_call")
    assert start["depth"] == 0 and start["function"] == "greet" and "parent" not in start
    span = start["span"]
    nested = [e for e in steps if e["depth"] == 1]
    assert [e["event"] for e in nested][-4:] == ["guest_call", "guest_request",
                                                "guest_response", "return"]
    assert all(e["parent"] == span for e in nested)
    assert next(e for e in nested if e["event"] == "guest_call")["operation"] == "handler"
    # Order: the start, the callee's steps, the end, then the host call that ran them.
    names = [e["event"] for e in steps]
    at = names.index("function_return")
    assert names.index("function_call") < names.index("guest_call", names.index(
        "function_call")) < at
    host_call = steps[at + 1]
    assert host_call["event"] == "host_call" and host_call["span"] == span
    assert host_call["depth"] == 0 and host_call["ok"] is True
    assert steps[at]["outcome"] == "ok" and steps[at]["response_len"] == 5
    summary = events[-1]
    assert summary["functions"]["greet"]["count"] == 1
    assert summary["host_calls"] == {"tarmac:function:greet": summary["host_calls"][
        "tarmac:function:greet"]}  # the callee's steps are not the run's own


def test_the_nested_exchange_in_the_rich_timeline(guests: Path) -> None:
    code, out, _ = run("trace", str(guests / "caller.wasm"), "x", "-p", "hello", "--function",
                       f"greet={guests / 'echo.wasm'}")
    assert code == 0
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if " function_call " in line)
    end = next(i for i, line in enumerate(lines) if " function_return " in line)
    inner = lines[start + 1 : end]
    assert any("│ guest_call" in line and "handler" in line for line in inner)
    stamped = [line for line in inner if line[:9].strip()]  # rows (not wrapped details)
    assert stamped and all(line[19:21] == "│ " for line in stamped)  # indented one level
    assert "tarmac:function:greet → ok" in lines[end + 1]
    assert "function  greet ×1" in out


def test_recursion_is_bounded(guests: Path, engine_name: str) -> None:
    code, out, err = run("trace", str(guests / "self.wasm"), "x", "-e", engine_name,
                         "--function", f"self={guests / 'self.wasm'}", "-f", "jsonl")
    assert code == 1
    assert err.count("failed to execute wasm module - ") == MAX_DEPTH
    assert err.rstrip().endswith(f"function calls nested deeper than {MAX_DEPTH} "
                                 "(function:self not run)")
    events = jsonl(out)
    assert max(int(str(e.get("depth", 0))) for e in events) == MAX_DEPTH
    assert sum(e["event"] == "function_call" for e in events) == MAX_DEPTH


def test_the_callee_time_counts_against_the_callers_timeout(
    guests: Path, engine_name: str
) -> None:
    started = time.monotonic()
    code, _, err = run("call", str(guests / "caller.wasm"), "x", "-e", engine_name,
                       "--timeout", "0.5", "--function", f"greet={guests / 'hang.wasm'}")
    assert code == 3, err
    assert "timeout" in err and "tarmac:function:greet" in err
    assert time.monotonic() - started < 20  # stopped at the caller's limit, not later


def test_caller_and_callee_share_the_kvstore(guests: Path, tmp_path: Path) -> None:
    caller = build(tmp_path / "setter.wasm", host_call_wat("tarmac", "function", "kv"))
    value = base64.b64encode(b"v").decode()
    code, out, err = run("trace", str(caller), "x", "-p", json.dumps({"key": "k", "data": value}),
                         "--function", f"kv={guests / 'kvset.wasm'}", "-f", "jsonl")
    assert code == 0, err
    summary = jsonl(out)[-1]
    assert "k" in summary["preset"]["kvstore_keys"]  # set by the callee, seen by the run


def test_functions_from_a_stub_tables_tarmac_block(guests: Path, tmp_path: Path) -> None:
    (tmp_path / "echo.wasm").write_bytes((guests / "echo.wasm").read_bytes())
    table = tmp_path / "stubs.yaml"
    table.write_text("tarmac:\n  functions: {greet: echo.wasm}\n", encoding="utf-8")
    code, out, err = run("call", str(guests / "caller.wasm"), "x", "-p", "via table",
                         "--stubs", str(table))
    assert (code, out) == (0, "via table"), err
    # The flag wins over the table, name by name.
    code, out, err = run("call", str(guests / "caller.wasm"), "x", "-p", "x", "--stubs",
                         str(table), "--function", f"greet={guests / 'self.wasm'}")
    assert code == 1 and "callback not found" in err


def test_a_bad_table_block_names_file_line_column(tmp_path: Path, guests: Path) -> None:
    table = tmp_path / "stubs.yaml"
    table.write_text("tarmac:\n  functions:\n    greet: missing.wasm\n", encoding="utf-8")
    code, _, err = run("call", str(guests / "caller.wasm"), "x", "--stubs", str(table))
    assert code == 2
    assert f"{table}:3:12: tarmac.functions.greet:" in err and "no such file" in err


@pytest.mark.parametrize(("flag", "words"), [
    ("greet", "expected NAME=MODULE.wasm"),
    ("=echo.wasm", "expected NAME=MODULE.wasm"),
    ("greet=nowhere.wasm", "module 'nowhere.wasm': no such file"),
])
def test_bad_function_flags_are_one_line_exit_2(guests: Path, flag: str, words: str) -> None:
    code, _, err = run("call", str(guests / "caller.wasm"), "x", "--function", flag)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wapc: error: --function: ")
    assert words in lines[0]


def test_a_callee_that_is_not_wasm_stops_the_run_exit_2(guests: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"not wasm")
    code, _, err = run("call", str(guests / "caller.wasm"), "x", "--function", f"greet={junk}")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_as_a_subprocess(guests: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(guests / "caller.wasm"), "x", "-p", "sub",
         "--function", f"greet={guests / 'echo.wasm'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, "sub"), done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(guests / "caller.wasm"), "x",
         "--function", "greet"], capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("wapc: error: --function: ")
