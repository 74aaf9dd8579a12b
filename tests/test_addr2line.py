"""``wapc addr2line``: module offsets to functions and source lines (issue #16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import wat
from dwarf_guest import (
    CHECK_LOOP_LINE,
    DIGIT_TRAP_LINE,
    EMPTY_TRAP_LINE,
    MODULE,
    invoke,
    run_cli,
)

from wapc_cli.errors import GuestTrap
from wapc_cli.runtime.guest import WapcModule, read_module_file
from wapc_cli.tools.debuginfo import addr2line, parse_offset


def _trap_offset(engine: str, payload: bytes) -> tuple[int, str, int | None]:
    guest = WapcModule.from_bytes(read_module_file(MODULE), engine=engine).instantiate()
    with pytest.raises(GuestTrap) as caught:
        guest.call("check", payload)
    frame = next(f for f in caught.value.frames if not f.inlined)
    assert frame.module_offset is not None
    return frame.module_offset, frame.function, frame.line


def test_maps_the_trap_offset_to_the_same_function_and_line(engine_name: str) -> None:
    offset, function, line = _trap_offset(engine_name, b"")
    done = run_cli("addr2line", str(MODULE), hex(offset), "--json")
    assert done.returncode == 0, done.stderr
    lookup = json.loads(done.stdout)["lookups"][0]
    assert lookup["source"] == "dwarf" and lookup["offset"] == offset
    frame = lookup["frames"][0]
    assert (frame["function"], frame["file"], frame["line"]) == (function, "dwarf_trap.c", line)
    assert line == EMPTY_TRAP_LINE


def test_inlined_frames_are_listed(engine_name: str) -> None:
    offset, _, _ = _trap_offset(engine_name, b"x")
    [lookup] = addr2line(read_module_file(MODULE), [offset])
    assert [(f.function, f.line, f.inlined) for f in lookup.frames] == [
        ("digit_value", DIGIT_TRAP_LINE, True), ("check_input", CHECK_LOOP_LINE, False)
    ]
    result = invoke("addr2line", str(MODULE), str(offset))  # decimal works too
    assert result.exit_code == 0
    text = result.stdout.splitlines()
    assert text[0].startswith(f"{offset:#x}  digit_value at dwarf_trap.c:{DIGIT_TRAP_LINE}:")
    assert text[0].endswith("(inlined)")
    assert f"check_input at dwarf_trap.c:{CHECK_LOOP_LINE}:" in text[1]


def test_offsets_outside_code_and_without_dwarf() -> None:
    [outside] = addr2line(read_module_file(MODULE), [0])
    assert outside.frames == () and outside.source == "none"
    data = wat('(module (func $only_names (export "f") nop nop) (memory (export "memory") 1))')
    found = [r for r in addr2line(data, list(range(len(data)))) if r.frames]
    assert found and all(r.source == "name section" for r in found)
    assert {r.frames[0].function for r in found} == {"only_names"}


def test_bad_offsets_are_usage_errors() -> None:
    done = run_cli("addr2line", str(MODULE), "0xZZ")
    assert done.returncode == 2
    assert done.stderr.decode().count("\n") == 1 and "not a number" in done.stderr.decode()
    assert parse_offset("0x1A8") == 0x1A8 and parse_offset("424") == 424
    assert run_cli("addr2line", str(MODULE), "-1").returncode == 2
    assert run_cli("addr2line", "/nonexistent.wasm", "1").returncode == 2


def test_garbage_dwarf_is_a_note_not_a_crash(tmp_path: Path) -> None:
    from wasmcloud_actors import custom_section

    data = wat('(module (func $named (export "f") nop nop) (memory (export "memory") 1))')
    junk = bytes(range(7, 250)) * 2
    for name in (".debug_info", ".debug_abbrev", ".debug_line"):
        data += custom_section(name, junk)
    module = tmp_path / "junk.wasm"
    module.write_bytes(data)
    done = run_cli("addr2line", str(module), "0", "--json")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert err.count("\n") == 1 and "DWARF cannot be read" in err and "malformed DWARF (" in err
    assert json.loads(done.stdout)["dwarf_problem"].startswith("malformed DWARF (")
    clean = tmp_path / "clean.wasm"
    clean.write_bytes(wat('(module (func (export "f") nop))'))
    quiet = run_cli("addr2line", str(clean), "0", "--json")
    assert quiet.stderr == b"" and json.loads(quiet.stdout)["dwarf_problem"] is None
