"""Source lines for trap frames from DWARF, on both engines (issue #16)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from conftest import wat
from dwarf_guest import (
    CALL_LINE,
    CHECK_LOOP_LINE,
    DIGIT_TRAP_LINE,
    EMPTY_TRAP_LINE,
    MODULE,
    invoke,
    run_cli,
)

from wapc_cli.errors import GuestTrap, TrapFrame, WapcError
from wapc_cli.runtime.guest import WapcModule, read_module_file
from wapc_cli.wasm.demangle import demangle
from wapc_cli.wasm.dwarf import DebugSections, DwarfError, DwarfReader, debug_sections
from wapc_cli.wasm.symbols import Symbolizer

EXPECTED_LINE = (
    f"at check_input (dwarf_trap.c:{EMPTY_TRAP_LINE}:"
)


def _trap(engine: str, payload: bytes) -> GuestTrap:
    module = WapcModule.from_bytes(read_module_file(MODULE), engine=engine, name=str(MODULE))
    guest = module.instantiate()
    with pytest.raises(GuestTrap) as caught:
        guest.call("check", payload)
    return caught.value


def test_frames_carry_source_lines(engine_name: str) -> None:
    trap = _trap(engine_name, b"")
    first, second = trap.frames[:2]
    assert (first.function, first.file, first.line) == ("check_input", "dwarf_trap.c",
                                                        EMPTY_TRAP_LINE)
    assert first.column and first.module_offset and not first.inlined
    assert (second.function, second.file, second.line) == ("guest_call", "dwarf_trap.c",
                                                           CALL_LINE)
    assert f"[at check_input (dwarf_trap.c:{EMPTY_TRAP_LINE}:" in str(trap)
    assert f"<- guest_call (dwarf_trap.c:{CALL_LINE}:" in str(trap)


def test_inlined_frame_comes_first(engine_name: str) -> None:
    trap = _trap(engine_name, b"1x")
    inner, outer = trap.frames[:2]
    assert (inner.function, inner.line, inner.inlined) == ("digit_value", DIGIT_TRAP_LINE, True)
    assert (outer.function, outer.line, outer.inlined) == ("check_input", CHECK_LOOP_LINE, False)
    assert inner.module_offset == outer.module_offset  # one wasm frame, two source frames


def test_the_guest_still_answers_good_input(engine_name: str) -> None:
    module = WapcModule.from_bytes(read_module_file(MODULE), engine=engine_name)
    assert module.instantiate().call("check", b"1234") == b"10"


@pytest.mark.parametrize("how", ["process", "runner"])
def test_cli_error_line_names_file_and_line(engine_name: str, how: str) -> None:
    args = ("call", str(MODULE), "check", "--engine", engine_name)
    if how == "process":
        done = run_cli(*args)
        code, stderr = done.returncode, done.stderr.decode()
    else:
        result = invoke(*args)
        code, stderr = result.exit_code, result.stderr
    assert code == 3, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("wapc: error:")]
    assert len(lines) == 1
    assert EXPECTED_LINE in lines[0]
    assert f"<- guest_call (dwarf_trap.c:{CALL_LINE}:" in lines[0]


def test_call_json_frames(engine_name: str) -> None:
    done = run_cli("call", str(MODULE), "check", "--engine", engine_name, "--json")
    assert done.returncode == 3
    error = json.loads(done.stdout)["error"]
    frame = error["frames"][0]
    assert set(frame) >= {"function", "file", "line", "column", "module_offset"}
    assert (frame["function"], frame["file"], frame["line"]) == (
        "check_input", "dwarf_trap.c", EMPTY_TRAP_LINE)
    assert isinstance(frame["module_offset"], int) and isinstance(frame["column"], int)


def test_trace_return_and_summary_carry_frames(engine_name: str) -> None:
    done = run_cli("trace", str(MODULE), "check", "--engine", engine_name, "-f", "jsonl")
    assert done.returncode == 3
    events = [json.loads(line) for line in done.stdout.decode().splitlines()]
    returned = next(e for e in events if e["event"] == "return")
    summary = next(e for e in events if e["event"] == "summary")
    for frames in (returned["frames"], summary["error"]["frames"]):
        assert (frames[0]["function"], frames[0]["line"]) == ("check_input", EMPTY_TRAP_LINE)
        assert frames[1]["function"] == "guest_call"


def test_frame_json_round_trip() -> None:
    frame = TrapFrame("check_input", 1300, "dwarf_trap.c", 39, 9, False)
    error = GuestTrap("guest trapped", frames=(frame, "old text frame"))
    back = WapcError.from_json(json.loads(json.dumps(error.to_json())))
    assert isinstance(back, GuestTrap) and back.frames == error.frames
    assert back.frames[1] == TrapFrame("old text frame")
    assert str(frame) == "check_input (dwarf_trap.c:39:9)"
    assert str(TrapFrame("f", 0x24E)) == "f @ 0x24e"


# -- inspect ---------------------------------------------------------------------------


def test_inspect_json_reports_dwarf() -> None:
    done = run_cli("inspect", str(MODULE), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)["debug_info"]
    assert info["dwarf"] is True and info["stripped"] is False and info["name_section"] is True
    assert {s["name"] for s in info["sections"]} >= {".debug_info", ".debug_line"}
    assert any("clang" in p for p in info["producers"])
    assert [u["name"] for u in info["compilation_units"]] == ["dwarf_trap.c"]
    assert "dwarf_trap.c" in info["source_files"]


def test_inspect_text_reports_dwarf() -> None:
    result = invoke("inspect", str(MODULE))
    assert result.exit_code == 0
    assert "Debug info  DWARF" in result.stdout and "dwarf_trap.c" in result.stdout


def test_inspect_reports_a_stripped_module() -> None:
    from wapc_cli.tools.inspect import inspect_module

    data = wat('(module (memory (export "memory") 1) (func (export "__guest_call") '
               "(param i32 i32) (result i32) i32.const 1))")
    report = inspect_module(data, "plain.wasm")
    assert report.debug_info is not None
    assert report.debug_info.dwarf is False
    assert report.as_json()["debug_info"]["dwarf"] is False


# -- the readers, on hostile input -----------------------------------------------------


def test_malformed_dwarf_never_breaks_a_trap_report() -> None:
    good = debug_sections(read_module_file(MODULE))
    rng = random.Random(16)
    for _ in range(40):
        sections = {}
        for name, data in good.sections.items():
            mangled = bytearray(data)
            for _ in range(rng.randint(1, 20)):
                mangled[rng.randrange(len(mangled))] = rng.randrange(256)
            sections[name] = bytes(mangled[: rng.randint(0, len(mangled))])
        try:
            reader = DwarfReader(DebugSections(good.code_start, sections))
        except DwarfError:
            continue
        for offset in (0, 0x100, 0x514, 0x21B, 10**9):
            assert isinstance(reader.frames_at(offset), tuple)


def test_symbolizer_without_dwarf_keeps_engine_frames() -> None:
    data = wat('(module (func $f (export "f")) (memory (export "memory") 1))')
    symbolizer = Symbolizer(data)
    frames = (TrapFrame("f", 10),)
    assert symbolizer.symbolize(frames) == frames
    assert symbolizer.dwarf is None and symbolizer.dwarf_problem == "no DWARF"


def test_demangles_rust_and_cxx() -> None:
    assert demangle("_ZN4core9panicking5panic17h0123456789abcdefE") == "core::panicking::panic"
    assert demangle("_RNvCs1234_7mycrate3foo") == "mycrate::foo"
    assert demangle("_ZN3foo3barEi") == "foo::bar(int)"
    assert demangle("check_input") == "check_input"
    assert demangle("_Znot-a-symbol") == "_Znot-a-symbol"


def test_a_module_without_dwarf_never_loads_pyelftools() -> None:
    """No DWARF, no cost: a trap on such a module does not import the DWARF reader."""
    code = (
        "import sys, wasmtime\n"
        "from wapc_cli.runtime.guest import WapcModule\n"
        "from wapc_cli.errors import GuestTrap\n"
        "data = bytes(wasmtime.wat2wasm('(module (memory (export \"memory\") 1) "
        "(func (export \"__guest_call\") (param i32 i32) (result i32) unreachable))'))\n"
        "guest = WapcModule.from_bytes(data, engine='wasmtime').instantiate()\n"
        "try:\n    guest.call('x')\nexcept GuestTrap as exc:\n    assert exc.frames, exc\n"
        "assert 'elftools' not in sys.modules, 'pyelftools was loaded'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.stdout.strip() == b"ok", done.stderr


MANGLED_TRAP = """
(module
  (memory (export "memory") 1)
  (func $_ZN4core9panicking5panic17h0123456789abcdefE unreachable)
  (func (export "__guest_call") (param i32 i32) (result i32)
    call $_ZN4core9panicking5panic17h0123456789abcdefE
    i32.const 1))
"""


def test_rust_names_read_the_same_on_every_engine(engine_name: str) -> None:
    """wasmer names a frame demangled but with its hash; wasmtime without: ours has none."""
    guest = WapcModule.from_bytes(wat(MANGLED_TRAP), engine=engine_name).instantiate()
    with pytest.raises(GuestTrap) as caught:
        guest.call("op", b"")
    assert caught.value.frames[0].function == "core::panicking::panic"
    assert demangle("core::panicking::panic::h0123456789abcdef") == "core::panicking::panic"
    assert demangle("plain_h0123456789abcdef") == "plain_h0123456789abcdef"
