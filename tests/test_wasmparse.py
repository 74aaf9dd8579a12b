"""The defensive wasm reader: what it reads, and every way it refuses bad bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wasmtime
from conftest import wat

from wapc_cli.wasm.parse import (
    FuncType,
    MemoryType,
    Reader,
    WasmParseError,
    display_name,
    parse_module,
)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_guests"
MANIFEST_MODULES = sorted(json.loads((SAMPLES / "manifest.json").read_text())["modules"])

HEADER = b"\0asm\x01\0\0\0"


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def name(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return leb(len(raw)) + raw


def section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + leb(len(payload)) + payload


def vec(*items: bytes) -> bytes:
    return leb(len(items)) + b"".join(items)


FUNC_I32_I32__I32 = b"\x60" + vec(b"\x7f", b"\x7f") + vec(b"\x7f")
FUNC_VOID = b"\x60" + vec() + vec()


def parse_error(data: bytes) -> WasmParseError:
    with pytest.raises(WasmParseError) as info:
        parse_module(data)
    return info.value


# -- what it reads ---------------------------------------------------------------


def test_empty_module() -> None:
    module = parse_module(HEADER)
    assert module.size == 8
    assert module.imports == module.exports == module.types == ()
    assert module.start is None


def test_reads_types_imports_exports_memory_and_start() -> None:
    module = parse_module(wat("""
        (module
          (import "wapc" "__host_call" (func (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
          (import "env" "mem" (memory 2 10))
          (import "env" "g" (global i32))
          (import "env" "t" (table 1 funcref))
          (func $init)
          (func $call (param i32 i32) (result i32) i32.const 1)
          (start $init)
          (export "__guest_call" (func $call))
          (export "memory" (memory 0))
          (export "wapc_init" (func $init)))
    """))
    assert [(i.module, i.name, i.kind) for i in module.imports] == [
        ("wapc", "__host_call", "func"), ("env", "mem", "memory"),
        ("env", "g", "global"), ("env", "t", "table"),
    ]
    assert module.imports[0].type == FuncType(("i32",) * 8, ("i32",))
    assert module.imports[1].memory == MemoryType(2, 10)
    exports = {e.name: e for e in module.exports}
    assert module.func_type(exports["__guest_call"].index) == FuncType(("i32", "i32"), ("i32",))
    assert module.func_type(exports["wapc_init"].index) == FuncType((), ())
    memory, imported = module.memory_type(exports["memory"].index)
    assert memory == MemoryType(2, 10) and imported is not None and imported.name == "mem"
    assert module.start == 1  # one imported function comes first
    assert module.code_count == 2 == len(module.functions)
    assert module.function_names[1] == "init"
    assert module.function_name(0) == "wapc.__host_call"


def test_reads_producers_and_custom_sections() -> None:
    module = parse_module(wat("""
        (module (@producers (language "Go" "1.21") (processed-by "TinyGo" "0.30.0"))
                (@custom "hello" "abc")
                (func $runtime.alloc))
    """))
    assert module.producers == {
        "language": (("Go", "1.21"),), "processed-by": (("TinyGo", "0.30.0"),)
    }
    assert {s.name for s in module.customs} == {"producers", "hello", "name"}
    assert next(s for s in module.customs if s.name == "hello").size == len(name("hello")) + 3
    assert module.function_names == {0: "runtime.alloc"}


def test_memory64_and_shared_limits() -> None:
    mem64 = HEADER + section(5, vec(b"\x04" + leb(1)))
    assert parse_module(mem64).memories == (MemoryType(1, None, False, True),)
    shared = HEADER + section(5, vec(b"\x03" + leb(1) + leb(4)))
    assert parse_module(shared).memories == (MemoryType(1, 4, True, False),)


@pytest.mark.parametrize("path", MANIFEST_MODULES)
def test_every_sample_guest_parses_like_wasmtime_sees_it(path: str) -> None:
    data = (SAMPLES / path).read_bytes()
    module = parse_module(data)
    compiled = wasmtime.Module(wasmtime.Engine(), data)
    assert [(i.module, i.name) for i in module.imports] == [
        (i.module, i.name) for i in compiled.imports
    ]
    assert [e.name for e in module.exports] == [e.name for e in compiled.exports]
    for export in compiled.exports:
        if isinstance(export.type, wasmtime.FuncType):
            ours = module.func_type(next(e for e in module.exports if e.name == export.name).index)
            assert ours is not None
            assert list(ours.params) == [str(p) for p in export.type.params]
            assert list(ours.results) == [str(r) for r in export.type.results]


# -- integers --------------------------------------------------------------------


def test_leb_u32_bounds() -> None:
    assert Reader(b"\xff\xff\xff\xff\x0f").u32("x") == 0xFFFFFFFF
    assert Reader(b"\x80\x80\x80\x80\x00").u32("x") == 0  # padded but in range
    with pytest.raises(WasmParseError, match="too large"):
        Reader(b"\xff\xff\xff\xff\x1f").u32("x")
    with pytest.raises(WasmParseError, match=r"too large|too long"):
        Reader(b"\x80\x80\x80\x80\x80\x00").u32("x")
    with pytest.raises(WasmParseError, match="unexpected end"):
        Reader(b"\x80\x80").u32("x")


def test_leb_u64_bounds() -> None:
    assert Reader(b"\xff" * 9 + b"\x01").uleb(64, "x") == 2**64 - 1
    with pytest.raises(WasmParseError):
        Reader(b"\xff" * 9 + b"\x02").uleb(64, "x")
    with pytest.raises(WasmParseError):
        Reader(b"\x80" * 11).uleb(64, "x")


def test_reader_never_reads_past_its_end() -> None:
    reader = Reader(b"\x05abcdefgh", 0, 4)
    with pytest.raises(WasmParseError, match="needs 5 bytes but only 3 remain"):
        reader.name("thing")


# -- refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "magic"),
        (b"(module)", "magic"),
        (b"\0asm", "truncated"),
        (b"\0asm\x0d\0\x01\0", "version"),  # a component, not a core module
        (HEADER + b"\x01", "end of section size"),
        (HEADER + b"\x01\x05\x01", "truncated: the type section declares 5 bytes"),
        (HEADER + b"\x01\xff\xff\xff\xff\x0f", "truncated"),
        (HEADER + section(1, b"\xff\xff\xff\xff\x0f"), "count 4294967295 is larger"),
        (HEADER + section(2, b"\xf0\xff\xff\xff\x0f"), "import count"),
        (HEADER + section(14, b""), "unknown section id 14"),
        (HEADER + section(1, vec()) + section(1, vec()), "duplicated or out of order"),
        (HEADER + section(3, vec()) + section(1, vec()), "duplicated or out of order"),
        (HEADER + section(1, vec() + b"\0"), "unread bytes"),
        (HEADER + section(1, vec(b"\x5f\0\0")), "unsupported type form"),
        (HEADER + section(1, vec(b"\x60" + vec(b"\x01") + vec())), "value type 0x01"),
        (HEADER + section(2, vec(name(b"\xff") + name("x") + b"\0\0")), "UTF-8"),
        (HEADER + section(2, vec(name("a") + name("b") + b"\0" + leb(3))), "uses type 3"),
        (HEADER + section(2, vec(name("a") + name("b") + b"\x09")), "import kind"),
        (HEADER + section(5, vec(b"\x01" + leb(5) + leb(2))), "below the minimum"),
        (HEADER + section(5, vec(b"\x00" + leb(65537))), "more than 65536 pages"),
        (HEADER + section(5, vec(b"\x08" + leb(1))), "limits flags"),
        (HEADER + section(1, vec(FUNC_VOID)) + section(3, vec(b"\0")), "no code section"),
        (
            HEADER + section(1, vec(FUNC_VOID)) + section(3, vec(b"\0")) + section(10, vec()),
            "code section has 0 bodies",
        ),
        (HEADER + section(7, vec(name("f") + b"\0" + leb(0))), "refers to func 0"),
        (
            HEADER + section(5, vec(b"\0\x01"))
            + section(7, vec(name("m") + b"\x02\0", name("m") + b"\x02\0")),
            "duplicated",
        ),
        (HEADER + section(8, leb(0)), "start function 0 does not exist"),
        (
            HEADER + section(1, vec(FUNC_I32_I32__I32)) + section(3, vec(b"\0"))
            + section(8, leb(0)) + section(10, vec(b"\x04\0\x41\x01\x0b")),
            "must be () -> ()",
        ),
    ],
)
def test_refuses_malformed_modules(data: bytes, words: str) -> None:
    error = parse_error(data)
    assert words in str(error)
    assert 0 <= error.offset <= len(data)
    assert f"at byte {error.offset}" in str(error)


def test_truncation_names_the_offset_of_the_section() -> None:
    data = wat('(module (func (export "f") (param i32) (result i32) local.get 0))')
    error = parse_error(data[:-3])
    assert "truncated" in error.reason
    assert error.offset > 8


def test_malformed_custom_sections_are_problems_not_errors() -> None:
    bad_names = section(0, name("name") + b"\x01\x05\x01\x00\x09ab")
    bad_producers = section(0, name("producers") + b"\x07")
    module = parse_module(HEADER + bad_names + bad_producers)
    assert len(module.custom_problems) == 2
    assert "'name' section is malformed" in module.custom_problems[0]
    assert module.function_names == {}
    assert {s.name for s in module.customs} == {"name", "producers"}


def test_custom_section_name_must_be_utf8() -> None:
    assert "UTF-8" in str(parse_error(HEADER + section(0, name(b"\xc3"))))


def test_display_name_escapes_and_caps() -> None:
    assert display_name("ok_name") == "ok_name"
    assert display_name("a\x1b[31mb\n") == "a\\x1b[31mb\\n"
    assert display_name("x" * 500, 10) == "x" * 10 + "..."


# Found by tests/test_inspect_fuzz.py: a parameter of type nullref (0x71, the GC
# proposal's abbreviation), which wasmtime accepts; and the (ref null ht) forms.
NULLREF_PARAM = (
    b"\x00asm\x01\x00\x00\x00\x01\x1c\x05`\x02~\x7f\x00`\x04q\x7f\x7f\x7f\x01\x7f`\x01\x7f"
    b"\x01\x7f`\x00\x00`\x02\x7f\x7f\x01\x7f\x02F\x03\x04wapc\x0f__guest_request\x00\x00"
    b"\x16wasi_snapshot_preview1\x08fd_write\x00\x01\x03env\x03mem\x02\x01\x01\x02\x03\x04"
    b"\x03\x02\x03\x04\x05\x04\x01\x01\x01\x04\x07\"\x03\x06malloc\x00\x02\x06memory\x02\x01"
    b"\x0c__guest_call\x00\x04\x08\x01\x03\n\x0e\x03\x04\x00A\x00\x0b\x02\x00\x0b\x04\x00A"
    b"\x01\x0b"
)


def test_gc_reference_types_are_read() -> None:
    module = parse_module(NULLREF_PARAM)
    assert [(i.module, i.name) for i in module.imports] == [
        ("wapc", "__guest_request"), ("wasi_snapshot_preview1", "fd_write"), ("env", "mem")]
    assert [e.name for e in module.exports] == [
        e.name for e in wasmtime.Module(wasmtime.Engine(), NULLREF_PARAM).exports]
    fd_write = module.imports[1].type
    assert fd_write is not None and fd_write.params[0] == "nullref"
    # (func (param (ref null 0)) (param (ref func))): a type index and an abstract heap type
    typed = b"\x00asm\x01\x00\x00\x00\x01\x0b\x02\x60\x00\x00\x60\x02\x63\x00\x64\x70\x00"
    assert parse_module(typed).types[1].params == ("(ref null 0)", "(ref func)")
