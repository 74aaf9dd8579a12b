"""WebAssembly coredumps (tool-conventions ``Coredump.md``), written and read back as bytes.

A coredump is a wasm module that is never instantiated: custom sections
``core`` (the executable's name), ``coremodules`` (the modules' names),
``coreinstances`` (which memories and globals each instance has) and
``corestack`` (one thread's frames, youngest first: instance, function index,
code offset from the function's start, locals, stack), then the memory as a
memory section and active data segments. A value the host cannot read (every
local and stack value: neither engine hands them over) is written as the
spec's "missing" value ``0x01``; pages of zeros are left out of the data.
"""

from __future__ import annotations

from typing import NamedTuple

from .constants import PAGE
from .reader import HEADER, MAGIC, VERSION_1, Reader, encode_uleb

_MISSING = 0x01
_MEMORY_SECTION = 5
_DATA_SECTION = 11
#: More locals than this per frame are not written (a real function has far fewer).
MAX_LOCALS = 50_000


class CoreFrame(NamedTuple):
    """One frame: function ``funcidx`` at ``codeoffset`` bytes from its body's start;
    ``locals`` values, all missing (the host cannot read them)."""

    funcidx: int
    codeoffset: int
    locals: int = 0
    instance: int = 0


class CoreDump(NamedTuple):
    executable: str
    modules: tuple[str, ...]
    frames: tuple[CoreFrame, ...]
    #: The memory as captured (None: not captured: the dump then has no memory). Read
    #: back, it ends with the last data segment: :attr:`size` is the memory's size.
    memory: bytes | None
    thread: str = "main"
    #: (start, bytes) of each data segment, as read back (writing makes them from memory).
    segments: tuple[tuple[int, bytes], ...] = ()
    size: int | None = None

    @property
    def memory_size(self) -> int | None:
        """How large the dumped memory is, in bytes (None: no memory in the dump)."""
        if self.size is not None:
            return self.size
        return None if self.memory is None else len(self.memory)

    def read(self, address: int, length: int) -> bytes | None:
        """``length`` bytes at ``address`` of the dumped memory (zeros where no segment is),
        or None when the dump has no memory or the range is outside it."""
        size = self.memory_size
        if self.memory is None or size is None or address < 0 or length < 0:
            return None
        if address + length > size:
            return None
        data = self.memory[address : address + length]
        return data + bytes(length - len(data))


def _name(text: str) -> bytes:
    data = text.encode("utf-8")
    return encode_uleb(len(data)) + data


def _custom(name: str, contents: bytes) -> bytes:
    body = _name(name) + contents
    return b"\x00" + encode_uleb(len(body)) + body


def _section(section_id: int, contents: bytes) -> bytes:
    return bytes([section_id]) + encode_uleb(len(contents)) + contents


def _segments(memory: bytes) -> list[tuple[int, bytes]]:
    """Runs of pages holding anything but zeros, as (start, bytes)."""
    runs: list[tuple[int, bytes]] = []
    start: int | None = None
    zero_page = bytes(PAGE)
    for page in range(0, len(memory), PAGE):
        chunk = memory[page : page + PAGE]
        empty = chunk == zero_page[: len(chunk)]
        if not empty and start is None:
            start = page
        elif empty and start is not None:
            runs.append((start, memory[start:page]))
            start = None
    if start is not None:
        runs.append((start, memory[start:]))
    return runs


def write_coredump(dump: CoreDump) -> bytes:
    """The coredump as a wasm module's bytes."""
    out = bytearray(MAGIC + VERSION_1)
    out += _custom("core", b"\x00" + _name(dump.executable))
    out += _custom(
        "coremodules",
        encode_uleb(len(dump.modules)) + b"".join(b"\x00" + _name(m) for m in dump.modules),
    )
    memories = b"" if dump.memory is None else encode_uleb(0)
    instance = b"\x00" + encode_uleb(0) + encode_uleb(1 if memories else 0) + memories
    out += _custom("coreinstances", encode_uleb(1) + instance + encode_uleb(0))
    frames = bytearray(b"\x00" + _name(dump.thread) + encode_uleb(len(dump.frames)))
    for frame in dump.frames:
        count = min(frame.locals, MAX_LOCALS)
        frames += b"\x00" + encode_uleb(frame.instance) + encode_uleb(frame.funcidx)
        frames += encode_uleb(frame.codeoffset)
        frames += encode_uleb(count) + bytes([_MISSING]) * count
        frames += encode_uleb(0)  # the value stack: not readable either, left empty
    out += _custom("corestack", bytes(frames))
    if dump.memory is not None:
        pages = -(-len(dump.memory) // PAGE)
        out += _section(_MEMORY_SECTION, encode_uleb(1) + b"\x00" + encode_uleb(pages))
        segments = _segments(dump.memory)
        data = bytearray(encode_uleb(len(segments)))
        for start, chunk in segments:
            # active, memory 0: (i32.const start) end, then the bytes
            signed = start if start < 1 << 31 else start - (1 << 32)  # i32.const is signed
            data += b"\x00\x41" + _sleb(signed) + b"\x0b" + encode_uleb(len(chunk)) + chunk
        out += _section(_DATA_SECTION, bytes(data))
    return bytes(out)


def _sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def read_coredump(data: bytes) -> CoreDump:
    """A coredump back from its bytes; ``WasmParseError`` when they are not one."""
    reader = Reader(data)
    if reader.bytes(HEADER, "header") != MAGIC + VERSION_1:
        raise reader.fail("not a WebAssembly coredump (bad magic or version)", 0)
    executable: str | None = None
    modules: list[str] = []
    frames: list[CoreFrame] = []
    thread = "main"
    pages = 0
    segments: list[tuple[int, bytes]] = []
    while reader.remaining:
        section_id, _, body = reader.section()
        if section_id == 0:
            name = body.name("custom section name")
            if name == "core":
                body.byte("process-info kind")
                executable = body.name("executable name")
            elif name == "coremodules":
                for _ in range(body.count("module", 2)):
                    body.byte("module kind")
                    modules.append(body.name("module name"))
            elif name == "corestack":
                body.byte("thread-info kind")
                thread = body.name("thread name")
                for _ in range(body.count("frame", 4)):
                    frames.append(_read_frame(body))
        elif section_id == _MEMORY_SECTION:
            if body.count("memory", 2):
                flags = body.byte("memory limits")
                pages = body.u32("memory minimum")
                if flags & 1:
                    body.u32("memory maximum")
        elif section_id == _DATA_SECTION:
            for _ in range(body.count("data segment", 3)):
                segments.append(_read_segment(body))
    if executable is None:
        raise reader.fail("not a WebAssembly coredump: no 'core' section", 0)
    memory: bytes | None = None
    size = pages * PAGE
    if pages or segments:
        # Only as far as the data goes: a file claiming 4 GiB of zeros allocates nothing.
        image = bytearray(max((start + len(chunk) for start, chunk in segments), default=0))
        for start, chunk in segments:
            if start + len(chunk) > size:
                raise reader.fail("a data segment lies outside the dumped memory", 0)
            image[start : start + len(chunk)] = chunk
        memory = bytes(image)
    return CoreDump(executable, tuple(modules), tuple(frames), memory, thread,
                    tuple(segments), size if memory is not None else None)


def _read_frame(body: Reader) -> CoreFrame:
    body.byte("frame kind")
    instance = body.u32("instance index")
    funcidx = body.u32("function index")
    codeoffset = body.u32("code offset")
    locals_count = body.count("local", 1)
    for _ in range(locals_count):
        _skip_value(body)
    for _ in range(body.count("stack value", 1)):
        _skip_value(body)
    return CoreFrame(funcidx, codeoffset, locals_count, instance)


def _skip_value(body: Reader) -> None:
    kind = body.byte("value type")
    size = {_MISSING: 0, 0x7F: 4, 0x7E: 8, 0x7D: 4, 0x7C: 8}.get(kind)
    if size is None:
        raise body.fail(f"unknown coredump value type 0x{kind:02x}")
    body.bytes(size, "value")


def _read_segment(body: Reader) -> tuple[int, bytes]:
    if body.byte("data segment kind") != 0:
        raise body.fail("only active data segments of memory 0 are read")
    if body.byte("offset expression") != 0x41:
        raise body.fail("a data segment's offset is not an i32.const")
    start = _read_sleb(body)
    if body.byte("end of the offset expression") != 0x0B:
        raise body.fail("a data segment's offset expression does not end")
    length = body.u32("data segment size")
    return start, body.bytes(length, "data segment bytes")


def _read_sleb(body: Reader) -> int:
    result = shift = 0
    for _ in range(5):
        byte = body.byte("i32 constant")
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte & 0x40:
                result -= 1 << shift
            return result & 0xFFFFFFFF
    raise body.fail("an i32 constant is longer than 5 bytes")
