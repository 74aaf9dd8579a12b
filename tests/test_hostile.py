"""Hostile guests and bad input: every misbehaviour ends cleanly, on every engine.

The cases below are also the table in ``docs/hostile-guests.md``: each test looks
its expected exit code and message up in that table, so the page cannot drift
from what ``wapc call`` really prints. When a message changes on purpose, run
``python tests/test_hostile.py`` and paste the rows it prints into the page.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime
from conftest import ENGINE_PARAMS, WAPC_IMPORTS, guest_from_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.engines.base import Limits
from wapc_cli.errors import GuestTrap, LimitExceeded

DOC = Path(__file__).resolve().parent.parent / "docs" / "hostile-guests.md"


HOST_CALL = "(drop (call $host_call (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)" \
    " (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))"


def guest(body: str, *, memory: str = "1", extra: str = "") -> str:
    """A guest whose ``__guest_call`` runs ``body`` and returns 1."""
    return f"""(module {WAPC_IMPORTS}
  (memory (export "memory") {memory})
  (data (i32.const 0) "hello")
  (global $at (mut i32) (i32.const 0))
  {extra}
  (func $guest_call (export "__guest_call") (param i32 i32) (result i32)
    {body}
    (i32.const 1)))"""


GROW_UNTIL_REFUSED = """
    (block $refused (loop $grow
      (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      ;; touch every 4 KiB of the new page so all of it is really resident
      (global.set $at (i32.mul (i32.sub (memory.size) (i32.const 1)) (i32.const 65536)))
      (loop $touch
        (i32.store (global.get $at) (i32.const 1))
        (global.set $at (i32.add (global.get $at) (i32.const 4096)))
        (br_if $touch (i32.and (global.get $at) (i32.const 0xffff))))
      (br $grow)))
    unreachable"""


@dataclass(frozen=True)
class Case:
    id: str
    what: str
    wat: str
    args: tuple[str, ...] = ()


CASES = [
    Case("request-op-ptr", "`__guest_request` with the operation pointer past the end",
         guest("(call $guest_request (i32.const 65536) (i32.const 0))")),
    Case("request-negative-ptr", "`__guest_request` with a negative payload pointer",
         guest("(call $guest_request (i32.const 0) (i32.const -1))")),
    Case("response-len-2^31", "`__guest_response` with a length near 2^31",
         guest("(call $guest_response (i32.const 0) (i32.const 0x7fffffff))")),
    Case("error-negative-len", "`__guest_error` with a negative length",
         guest("(call $guest_error (i32.const 0) (i32.const -1))")),
    Case("host-call-binding-ptr", "`__host_call` with a negative binding pointer",
         guest("(drop (call $host_call (i32.const -8) (i32.const 1) (i32.const 0) (i32.const 1)"
               " (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))")),
    Case("host-call-payload-len", "`__host_call` with a payload length near 2^31",
         guest("(drop (call $host_call (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)"
               " (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 0x7ffffff0)))")),
    Case("host-response-len", "`__host_response_len` before any host call (answers 0)",
         guest("(drop (call $host_response_len)) (call $guest_response (i32.const 0)"
               " (i32.const 5))")),
    Case("host-response-no-pending", "`__host_response` with no pending host response",
         guest("(call $host_response (i32.const 0))")),
    Case("host-response-ptr", "`__host_response` at a pointer past the end",
         guest(HOST_CALL + "(call $host_response (i32.const -1))")),
    Case("host-error-len", "`__host_error_len` before any host call (answers 0)",
         guest("(drop (call $host_error_len)) (call $guest_response (i32.const 0)"
               " (i32.const 5))")),
    Case("host-error-no-pending", "`__host_error` with no pending host error",
         guest("(call $host_error (i32.const 0))")),
    Case("host-error-ptr", "`__host_error` at a pointer where the error text does not fit",
         guest(HOST_CALL + "(call $host_error (i32.const 65530))")),
    Case("console-log-len", "`__console_log` with a length near 2^31",
         guest("(call $console_log (i32.const 16) (i32.const 0x7fffffff))")),
    Case("unreachable", "`unreachable`", guest("unreachable")),
    Case("divide-by-zero", "integer division by zero",
         guest("(drop (i32.div_s (i32.const 1) (i32.const 0)))")),
    Case("stack-overflow", "unbounded recursion (stack overflow)",
         guest("(call $recurse)", extra="(func $recurse (call $recurse))")),
    Case("endless-loop", "an endless loop, `--timeout 1`",
         guest("(loop $forever (br $forever))"), ("--timeout", "1")),
    Case("endless-init", "an endless loop in `wapc_init`, `--timeout 1`",
         guest("", extra='(func $wapc_init (export "wapc_init") (loop $forever (br $forever)))'),
         ("--timeout", "1")),
    Case("grow-to-4gib", "memory growth toward 4 GiB (no `--max-memory`)",
         guest("(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 0x1000))"
               " (i32.const -1)))) unreachable")),
    Case("memory-bomb", "a memory bomb, `--max-memory 16MiB`",
         guest(GROW_UNTIL_REFUSED), ("--max-memory", "16MiB")),
    Case("initial-memory", "initial memory above `--max-memory 1MiB`",
         guest("", memory="32"), ("--max-memory", "1MiB")),
    Case("fuel", "an endless loop, `--fuel 100000`",
         guest("(loop $forever (br $forever))"), ("--fuel", "100000")),
    Case("trap-in-init", "a trap inside `wapc_init`",
         guest("", extra='(func $wapc_init (export "wapc_init") unreachable)')),
    Case("trap-in-start", "a trap in the start section",
         guest("", extra="(func $start unreachable) (start $start)")),
    Case("return-0-no-error", "returns 0 without `__guest_error`",
         guest("(return (i32.const 0))")),
    Case("return-1-no-response", "returns 1 without `__guest_response`", guest("")),
    Case("return-7", "returns 7", guest("(return (i32.const 7))")),
    Case("guest-error", "reports an error (`__guest_error`, returns 0)",
         guest("(call $guest_error (i32.const 0) (i32.const 5)) (return (i32.const 0))")),
]


# -- the table in docs/hostile-guests.md -----------------------------------------------
@dataclass(frozen=True)
class Expected:
    code: int
    message: str


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def documented() -> dict[tuple[str, str], Expected]:
    """(case id, engine) -> the exit code and message the page promises."""
    rows: dict[tuple[str, str], Expected] = {}
    lines = DOC.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| case "))
    engines = [cell.split()[0] for cell in _cells(lines[header])[2:]]
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        case_id = cells[0].strip("`")
        for engine, cell in zip(engines, cells[2:], strict=True):
            code, _, message = cell.partition(": ")
            rows[(case_id, engine)] = Expected(int(code.strip("` ")), _unescape(message))
    return rows


def _unescape(cell: str) -> str:
    return cell.strip().strip("`").strip().replace("\\|", "|")


def _pattern(message: str) -> re.Pattern[str]:
    """``…`` in the page stands for anything (counts, offsets that vary by build)."""
    return re.compile(".*".join(re.escape(part) for part in message.split("…")) + r"\Z")


@pytest.fixture(scope="module")
def table() -> dict[tuple[str, str], Expected]:
    return documented()


def test_every_case_is_documented_for_every_engine(table: dict[tuple[str, str], Expected]) -> None:
    documented_ids = {case_id for case_id, _ in table}
    assert documented_ids == {case.id for case in CASES}
    for case in CASES:
        for engine in ("wasmtime", "wasmer"):
            assert (case.id, engine) in table, (case.id, engine)


def run_case(case: Case, engine: str, tmp_path: Path) -> tuple[int, str, str]:
    module = tmp_path / f"{case.id}.wasm"
    module.write_bytes(wasmtime.wat2wasm(case.wat))
    result = CliRunner().invoke(app, ["call", str(module), "op", "-e", engine, *case.args])
    return result.exit_code, result.stderr, result.stdout


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_misbehaviour_ends_cleanly(
    case: Case, engine_name: str, tmp_path: Path, table: dict[tuple[str, str], Expected]
) -> None:
    code, stderr, _ = run_case(case, engine_name, tmp_path)
    expected = table[(case.id, engine_name)]
    lines = stderr.splitlines()
    assert "Traceback" not in stderr
    error_lines = [line for line in lines if line.startswith("wapc: error: ")]
    if expected.code == 0:
        assert error_lines == [], stderr
        return
    assert len(error_lines) == 1, stderr
    message = error_lines[0].removeprefix("wapc: error: ")
    assert code == expected.code and _pattern(expected.message).match(message), (
        f"the page says {expected.code}: {expected.message!r}; got {code}: {message!r}"
    )


# -- the Python API rebuilds after a trap ----------------------------------------------
MANY_WAYS = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (global $at (mut i32) (i32.const 0))
  (func $recurse (call $recurse))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $op i32)
    (call $guest_request (i32.const 100) (i32.const 200))
    (local.set $op (i32.load8_u (i32.const 100)))
    (if (i32.eq (local.get $op) (i32.const 0x75)) (then unreachable))          ;; u
    (if (i32.eq (local.get $op) (i32.const 0x73)) (then (call $recurse)))     ;; s
    (if (i32.eq (local.get $op) (i32.const 0x6c)) (then (loop $l (br $l))))  ;; l
    (if (i32.eq (local.get $op) (i32.const 0x62)) (then {GROW_UNTIL_REFUSED}))  ;; b
    (if (i32.eq (local.get $op) (i32.const 0x70))                             ;; p
      (then (call $guest_response (i32.const -1) (i32.const 2))))
    ;; anything else: answer with the first 5 bytes of memory, "hello" unless overwritten
    (call $guest_response (i32.const 0) (i32.const 5))
    (i32.const 1)))"""


def test_after_each_kind_of_trap_the_next_call_works(engine_name: str) -> None:
    timed = engine_name == "wasmtime"  # wasmer cannot stop a guest in-process
    limits = Limits(max_memory_bytes=4 * 1024**2, timeout_s=1.0 if timed else None)
    g = guest_from_wat(MANY_WAYS, engine_name, limits=limits)
    assert g.call("echo") == b"hello"
    for op in ("unreachable", "stack", "bomb", "pointer", *(["loop"] if timed else [])):
        with pytest.raises(GuestTrap):
            g.call(op)
        assert g.call("echo") == b"hello", f"no working instance after '{op}'"


def test_an_in_process_timeout_names_the_limit_and_figure() -> None:
    # In-process timeouts exist only on wasmtime; wasmer's child: test_limits.py.
    g = guest_from_wat(MANY_WAYS, "wasmtime", limits=Limits(timeout_s=0.3))
    with pytest.raises(LimitExceeded) as caught:
        g.call("loop")
    assert (caught.value.limit, caught.value.figure) == ("timeout", "0.3s")


# -- bad user input: one line naming the thing, exit 2 --------------------------------
ECHO = guest("(call $guest_response (i32.const 0) (i32.const 5))")


@pytest.fixture
def echo(tmp_path: Path) -> Path:
    path = tmp_path / "echo.wasm"
    path.write_bytes(wasmtime.wat2wasm(ECHO))
    return path


def _bad_inputs(tmp: Path, echo: Path) -> list[tuple[str, list[str], str]]:
    (tmp / "empty.wasm").write_bytes(b"")
    (tmp / "text.wasm").write_text("(module)")
    (tmp / "elf.wasm").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64))
    (tmp / "truncated.wasm").write_bytes(echo.read_bytes()[:40])
    (tmp / "magic-only.wasm").write_bytes(b"\0asm")
    (tmp / "component.wasm").write_bytes(b"\0asm\x0d\0\x01\0")
    (tmp / "bad.yaml").write_text("rules: [unclosed\n")
    (tmp / "payload.bin").mkdir()
    e = str(echo)
    return [
        ("missing module", ["call", str(tmp / "nope.wasm"), "op"], "nope.wasm': no such file"),
        ("empty module", ["call", str(tmp / "empty.wasm"), "op"], "is empty"),
        ("directory", ["call", str(tmp), "op"], "is a directory"),
        ("unreadable", ["call", f"{e}/inside", "op"], "cannot read"),
        ("WAT text", ["call", str(tmp / "text.wasm"), "op"], "compile it with wat2wasm"),
        ("not wasm", ["call", str(tmp / "elf.wasm"), "op"], "not a WebAssembly module"),
        ("truncated", ["call", str(tmp / "truncated.wasm"), "op"], "not a valid WebAssembly"),
        ("magic only", ["call", str(tmp / "magic-only.wasm"), "op"], "truncated"),
        ("component", ["call", str(tmp / "component.wasm"), "op"], "version"),
        ("payload file", ["call", e, "op", "-p", f"@{tmp}/none.bin"], "payload file"),
        ("payload dir", ["call", e, "op", "-p", f"@{tmp}/payload.bin"], "is a directory"),
        ("payload hex", ["call", e, "op", "--payload-hex", "zz"], "--payload-hex"),
        ("payload json", ["call", e, "op", "--payload-json", "{nope"], "JSON"),
        ("two payloads", ["call", e, "op", "-p", "a", "--payload-hex", "00"], "only one"),
        ("stub yaml", ["call", e, "op", "--stubs", str(tmp / "bad.yaml")], "bad.yaml"),
        ("missing stubs", ["call", e, "op", "--stubs", str(tmp / "no.yaml")], "no.yaml"),
        ("engine", ["call", e, "op", "-e", "v8"], "unknown engine 'v8'"),
        ("timeout", ["call", e, "op", "--timeout", "soon"], "--timeout"),
        ("negative timeout", ["call", e, "op", "--timeout", "-1"], "--timeout"),
        ("fuel", ["call", e, "op", "--fuel", "0"], "--fuel"),
        ("fuel text", ["call", e, "op", "--fuel", "lots"], "--fuel"),
        ("max-memory", ["call", e, "op", "--max-memory", "16XB"], "--max-memory"),
        ("max-memory 8GiB", ["call", e, "op", "--max-memory", "8GiB"], "--max-memory"),
        ("decode", ["call", e, "op", "--decode", "base99"], "--decode"),
        ("dir grant", ["call", e, "op", "--dir", str(tmp / "nowhere")], "--dir"),
        ("env grant", ["call", e, "op", "--env", "=x"], "--env"),
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, echo: Path) -> None:
    failures = []
    for name, argv, needle in _bad_inputs(tmp_path, echo):
        result = CliRunner().invoke(app, argv)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        ok = (
            result.exit_code == 2
            and len(lines) == 1
            and needle in lines[0]
            and "Traceback" not in result.stderr
        )
        if not ok:
            failures.append(f"{name}: exit {result.exit_code}, stderr {result.stderr!r}")
    assert not failures, "\n".join(failures)


def test_unreadable_module_by_permission(echo: Path) -> None:
    echo.chmod(0)
    result = CliRunner().invoke(app, ["call", str(echo), "op"])
    if os.geteuid() == 0:  # root reads whatever the mode: then it simply runs
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 2
        assert result.stderr.strip().endswith("permission denied"), result.stderr


# -- regenerate the page's rows -------------------------------------------------------
def _print_rows() -> None:  # pragma: no cover - a maintenance tool
    import tempfile

    from wapc_cli.engines import available_engines

    engines = [name for name in ENGINE_PARAMS if name in available_engines()]
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            cells = []
            for engine in engines:
                code, stderr, _ = run_case(case, engine, Path(tmp))
                line = next((x for x in stderr.splitlines() if x.startswith("wapc: error: ")), "")
                message = line.removeprefix("wapc: error: ").replace("|", "\\|")
                cells.append(f"`{code}`: `{message}`" if message else f"`{code}`: (none)")
            print(f"| `{case.id}` | {case.what} | " + " | ".join(cells) + " |")


if __name__ == "__main__":  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).parent))
    _print_rows()
