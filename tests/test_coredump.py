"""``--core DIR``: a wasm coredump and the exchange record on a trap; ``wapc core show`` (#16)."""

from __future__ import annotations

import json
from pathlib import Path

from dwarf_guest import CALL_LINE, EMPTY_TRAP_LINE, MODULE, invoke, run_cli

from wapc_cli.wasm.coredump import CoreDump, CoreFrame, read_coredump, write_coredump
from wapc_cli.wasm.parse import parse_module
from wapc_cli.wasm.reader import Reader

CORE = "dwarf_trap.check.core.wasm"
RECORD = "dwarf_trap.check.json"


def _custom(data: bytes, name: str) -> bytes:
    module = parse_module(data)
    section = next(s for s in module.customs if s.name == name)
    reader = Reader(data, section.offset, section.offset + section.size)
    reader.name("custom section name")
    return data[reader.pos : section.offset + section.size]


def test_core_writes_a_valid_coredump_and_the_exchange(engine_name: str, tmp_path: Path) -> None:
    done = run_cli("call", str(MODULE), "check", "--engine", engine_name, "--core", str(tmp_path))
    assert done.returncode == 3, done.stderr
    assert "crash bundle written" in done.stderr.decode()
    data = (tmp_path / CORE).read_bytes()
    module = parse_module(data)  # our own parser: a valid wasm module
    names = [s.name for s in module.customs]
    assert {"core", "coremodules", "coreinstances", "corestack"} <= set(names)
    assert _custom(data, "core")[0] == 0 and b"dwarf_trap.wasm" in _custom(data, "core")
    assert module.memories and module.section(11) is not None  # memory and data sections

    record = json.loads((tmp_path / RECORD).read_text())
    assert record["operation"] == "check" and record["engine"] == engine_name
    assert record["trapping_function"] == "check_input"
    assert record["frames"][0]["line"] == EMPTY_TRAP_LINE
    assert record["memory"]["captured"] is True
    request = record["guest_request"]
    dump = read_coredump(data)
    assert dump.read(request["op_ptr"], request["op_len"]) == b"check"  # the guest's memory
    assert dump.executable == "dwarf_trap.wasm" and len(dump.frames) == 2
    assert dump.frames[0].locals > 0  # every local there, marked missing


def test_core_show_lists_frames_with_source_lines(engine_name: str, tmp_path: Path) -> None:
    assert run_cli("call", str(MODULE), "check", "-e", engine_name,
                   "--core", str(tmp_path)).returncode == 3
    result = invoke("core", "show", str(tmp_path / CORE), "--module", str(MODULE))
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert f"check_input at dwarf_trap.c:{EMPTY_TRAP_LINE}:" in text
    assert f"guest_call at dwarf_trap.c:{CALL_LINE}:" in text
    assert "operation (__guest_request op_ptr)" in text and "|check" in text
    shown = json.loads(invoke("core", "show", str(tmp_path / CORE), "--json").stdout)
    assert shown["executable"] == "dwarf_trap.wasm" and len(shown["frames"]) == 2


def test_trace_core_records_host_calls_of_a_trap(engine_name: str, tmp_path: Path) -> None:
    done = run_cli("trace", str(MODULE), "check", "-e", engine_name, "-f", "jsonl",
                   "--core", str(tmp_path))
    assert done.returncode == 3
    assert json.loads((tmp_path / RECORD).read_text())["trapping_function"] == "check_input"


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    args = ("call", str(MODULE), "check", "--core", str(tmp_path))
    assert run_cli(*args).returncode == 3
    before = (tmp_path / CORE).read_bytes()
    again = run_cli(*args)
    assert again.returncode == 2
    assert "exists" in again.stderr.decode() and "--force" in again.stderr.decode()
    assert (tmp_path / CORE).read_bytes() == before
    assert run_cli(*args, "--force").returncode == 3


def test_no_bundle_without_a_trap(tmp_path: Path) -> None:
    done = run_cli("call", str(MODULE), "check", "-p", "12", "--core", str(tmp_path))
    assert done.returncode == 0
    assert not list(tmp_path.iterdir())


def test_hostile_coredumps_fail_cleanly() -> None:
    import contextlib
    import random

    from wapc_cli.wasm.reader import WasmParseError

    good = write_coredump(CoreDump("g", ("g",), (CoreFrame(1, 2, 3),), b"x" * 10))
    rng = random.Random(16)
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with contextlib.suppress(WasmParseError):  # anything else fails the test
            read_coredump(bytes(data[: rng.randint(0, len(data))]))


def test_coredump_round_trip_and_missing_memory() -> None:
    memory = bytes(70000) + b"tail"
    dump = CoreDump("g.wasm", ("g.wasm",), (CoreFrame(3, 17, 2), CoreFrame(1, 0)), memory)
    back = read_coredump(write_coredump(dump))
    assert back.frames == dump.frames and back.memory is not None
    assert back.read(0, len(memory)) == memory and len(back.segments) == 1  # zero page left out
    assert back.memory_size == 2 * 65536 and back.read(2 * 65536 - 4, 4) == bytes(4)
    empty = read_coredump(write_coredump(dump._replace(memory=None)))
    assert empty.memory is None and empty.read(0, 1) is None
    assert parse_module(write_coredump(dump._replace(memory=None))).memories == ()


def test_core_show_says_once_what_is_wrong(tmp_path: Path) -> None:
    not_core = invoke("core", "show", str(MODULE))
    assert not_core.exit_code == 2
    assert not_core.stderr.count("not a WebAssembly coredump") == 1, not_core.stderr
    assert "no 'core' section" in not_core.stderr
    assert run_cli("call", str(MODULE), "check", "--core", str(tmp_path)).returncode == 3
    other = tmp_path / "other.wasm"
    other.write_bytes(MODULE.read_bytes())
    shown = run_cli("core", "show", str(tmp_path / CORE), "--module", str(other))
    assert shown.returncode == 0
    assert "the coredump is of 'dwarf_trap.wasm', not 'other.wasm'" in shown.stderr.decode()
    same = run_cli("core", "show", str(tmp_path / CORE), "--module", str(MODULE))
    assert same.returncode == 0 and same.stderr == b""


def test_core_show_of_a_dump_without_memory_or_frames(tmp_path: Path) -> None:
    """What a wasmer guest killed at its timeout leaves: no frames, no memory."""
    core = tmp_path / "g.op.core.wasm"
    core.write_bytes(write_coredump(CoreDump("g.wasm", ("g.wasm",), (), None)))
    (tmp_path / "g.op.json").write_text(json.dumps(
        {"guest_request": {"op_ptr": 32, "ptr": 1024, "op_len": 2, "payload_len": 0}}))
    result = invoke("core", "show", str(core))
    assert result.exit_code == 0, result.stderr
    assert "(none recorded)" in result.stdout
    assert result.stdout.count("(the coredump holds no memory)") == 2
    assert "outside the dumped memory" not in result.stdout
