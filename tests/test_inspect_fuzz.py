"""Hostile input: random and mutated bytes never crash, hang or blow up `inspect`.

The only allowed outcomes are a report, ``WasmParseError`` from the parser, and
``NotWasmError`` from ``inspect_module`` (exit 2 on the command line, or 0/4
when the mutation still left a readable module).
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
import wasmtime
from conftest import wat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import NotWasmError
from wapc_cli.tools.inspect import inspect_module
from wapc_cli.wasm.parse import WasmParseError, parse_module
from wapc_cli.wasm.reader import encode_uleb

SAMPLES = Path(__file__).resolve().parent.parent / "sample_guests"
HEADER = b"\0asm\x01\0\0\0"
#: Per input, far above what any of these needs (a few ms): a hang would blow it.
TIME_LIMIT_S = 5.0

NAMED_WAT = """(module
  (@producers (language "Go" "1.21") (processed-by "TinyGo" "0.30.0"))
  (import "wapc" "__guest_request" (func (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "env" "mem" (memory 1 2))
  (memory 1 4)
  (func $runtime.alloc (export "malloc") (param i32) (result i32) i32.const 0)
  (func $boot) (start $boot)
  (export "memory" (memory 1))
  (func (export "__guest_call") (param i32 i32) (result i32) i32.const 1))"""

BASES = [
    wat(NAMED_WAT),
    (SAMPLES / "build/zig_guest.wasm").read_bytes(),
    (SAMPLES / "build/as_abort.wasm").read_bytes(),
    (SAMPLES / "build/c_command.wasm").read_bytes(),
]
HUGE = [
    b"\xff\xff\xff\xff\x0f",  # u32 max
    b"\xff\xff\xff\xff\x7f",  # too large for u32
    b"\x80\x80\x80\x80\x80\x80\x01",  # too long
    b"\xfe\xff\xff\xff\x07",
]


def _section_starts(data: bytes) -> list[int]:
    return [s.offset for s in parse_module(data).sections]


SECTION_STARTS = [_section_starts(b) for b in BASES]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    which = draw(st.integers(0, len(BASES) - 1))
    data = bytearray(BASES[which])
    for _ in range(draw(st.integers(1, 6))):
        if len(data) <= 8:
            break
        op = draw(st.sampled_from(["flip", "byte", "truncate", "huge", "count", "insert", "cut"]))
        pos = draw(st.integers(8, len(data) - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "huge":
            data[pos : pos + 1] = draw(st.sampled_from(HUGE))
        elif op == "count":  # a section's first vector count, or the size before it
            start = draw(st.sampled_from(SECTION_STARTS[which])) - draw(st.integers(0, 1))
            if 8 <= start < len(data):
                data[start : start + 1] = draw(st.sampled_from(HUGE))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos : pos + draw(st.integers(1, 32))]
    return bytes(data)


random_bytes = st.one_of(
    st.binary(max_size=512),
    st.binary(max_size=512).map(lambda b: HEADER + b),
)


def _inspect(data: bytes) -> None:
    started = time.perf_counter()
    try:
        report = inspect_module(data, "fuzz.wasm")
    except NotWasmError as exc:
        assert "fuzz.wasm" in str(exc) and "\n" not in str(exc)
    else:
        report.as_json()  # every field must serialise
        assert report.conformant == (not report.errors)
    assert time.perf_counter() - started < TIME_LIMIT_S


def _parse(data: bytes) -> None:
    try:
        parse_module(data)
    except WasmParseError as exc:
        assert 0 <= exc.offset <= len(data)


@settings(max_examples=300, deadline=None)
@given(random_bytes)
def test_random_bytes(data: bytes) -> None:
    _parse(data)
    _inspect(data)


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_mutated_real_modules(data: bytes) -> None:
    _parse(data)
    _inspect(data)


_runner = CliRunner()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), random_bytes), st.booleans())
def test_cli_on_mutated_and_random_bytes(data: bytes, as_json: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.wasm"
        path.write_bytes(data)
        started = time.perf_counter()
        result = _runner.invoke(app, ["inspect", str(path), *(["--json"] if as_json else [])])
        assert time.perf_counter() - started < TIME_LIMIT_S
    assert result.exit_code in (0, 2, 4), result.output
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    if result.exit_code == 2:  # --json: the error document, no report
        assert result.stdout == "" if not as_json else '"kind": "usage"' in result.stdout
        assert len(result.stderr.splitlines()) == 1 and str(path) in result.stderr


@pytest.mark.parametrize(
    "data",
    [
        HEADER + b"\x01\x05" + b"\xff\xff\xff\xff\x0f",  # 4 billion types
        HEADER + b"\x02\x06\xff\xff\xff\xff\x0f\x00",  # 4 billion imports
        HEADER + b"\x00\x0c\x04name\x01\x06\xff\xff\xff\xff\x0f\x00",  # 4 billion names
        HEADER + b"\x00\x10\x09producers\xff\xff\xff\xff\x0f\x00",
        HEADER + b"\x01\x0a\x01\x60\xff\xff\xff\xff\x0f\x7f\x7f\x00",  # 4 billion params
        HEADER + b"\x00" + b"\xff\xff\xff\xff\x0f",  # a 4 GiB custom section
        HEADER + b"\x05\x07\x01\x05" + b"\xff" * 9 + b"\x01",  # memory64 limits at u64 max
    ],
)
def test_huge_counts_allocate_nothing_big(data: bytes) -> None:
    tracemalloc.start()
    try:
        try:
            inspect_module(data, "x.wasm").as_json()
        except NotWasmError as exc:
            assert "x.wasm" in str(exc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_large_hostile_module_stays_fast() -> None:
    """Many imports and exports cost linear time, in the parser and in the report."""
    count = 20000
    imports = b"".join(
        bytes([len(m)]) + m + b"\x01f\x00\x00"
        for m in (f"m{i}".encode() for i in range(count))
    )
    exports = b"".join(
        bytes([len(n)]) + n + b"\x00" + encode_uleb(i)
        for i, n in enumerate(f"e{i}".encode() for i in range(count))
    )
    types = b"\x01\x60\x00\x00"
    data = (
        HEADER
        + _section(1, types)
        + _section(2, encode_uleb(count) + imports)
        + _section(7, encode_uleb(count) + exports)
    )
    started = time.perf_counter()
    report = inspect_module(data, "big.wasm")
    assert time.perf_counter() - started < TIME_LIMIT_S
    assert len(report.errors) >= count
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.wasm"
        path.write_bytes(data)
        started = time.perf_counter()
        result = _runner.invoke(app, ["inspect", str(path)])
        assert time.perf_counter() - started < TIME_LIMIT_S
    assert result.exit_code == 4
    assert len(result.stdout.splitlines()) < 500  # the text report caps its lists


def _section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + encode_uleb(len(payload)) + payload


_engine = wasmtime.Engine()


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_whatever_wasmtime_accepts_the_parser_reads_the_same(data: bytes) -> None:
    try:
        compiled = wasmtime.Module(_engine, data)
    except wasmtime.WasmtimeError:
        return  # invalid: the parser may refuse it or read it (it skips code)
    module = parse_module(data)
    assert [(i.module, i.name) for i in module.imports] == [
        (i.module, i.name) for i in compiled.imports
    ]
    assert [e.name for e in module.exports] == [e.name for e in compiled.exports]
