"""The one bounded reader of wasm bytes: LEB128 integers, vectors, names, section framing.

Both users of raw wasm bytes read through it: the module parser
(:mod:`.parse`, for inspection) and the byte-level rewrites (:mod:`.startfn`,
:mod:`.memories`) that edit a module without parsing it fully. It trusts no
number in the input: every length is checked against the bytes that remain
before it is used, and a LEB128 integer stops after the bytes its width allows.
Every problem is one ``WasmParseError`` (a ``ValueError``) carrying the byte
offset and a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

MAGIC = b"\0asm"
VERSION_1 = b"\x01\0\0\0"
HEADER = len(MAGIC) + len(VERSION_1)

SECTION_NAMES = {
    0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
    6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
    12: "datacount", 13: "tag",
}

T = TypeVar("T")


class WasmParseError(ValueError):
    """The bytes are not a well-formed WebAssembly module."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} (at byte {offset}, 0x{offset:x})")
        self.offset = offset
        self.reason = reason


class Reader:
    """A cursor over ``data[pos:end]`` that refuses to read past ``end``."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def fail(self, reason: str, at: int | None = None) -> WasmParseError:
        return WasmParseError(self.pos if at is None else at, reason)

    def byte(self, what: str) -> int:
        if self.pos >= self.end:
            raise self.fail(f"unexpected end of {what}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def bytes(self, length: int, what: str) -> bytes:
        if length > self.remaining:
            raise self.fail(
                f"{what} needs {length} bytes but only {self.remaining} remain"
            )
        chunk = self.data[self.pos : self.pos + length]
        self.pos += length
        return chunk

    def sub(self, length: int, what: str) -> Reader:
        """A reader over the next ``length`` bytes, which this reader then skips."""
        start = self.pos
        self.bytes(length, what)
        return Reader(self.data, start, self.pos)

    def uleb(self, bits: int, what: str) -> int:
        """An unsigned LEB128 integer of at most ``bits`` bits."""
        start = self.pos
        result = shift = 0
        max_bytes = (bits + 6) // 7
        for i in range(max_bytes):
            b = self.byte(what)
            if i == max_bytes - 1 and b >> (bits - shift):
                # the last byte may only carry the bits that still fit
                raise self.fail(f"{what}: integer too large for u{bits}", start)
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
        raise self.fail(f"{what}: integer representation too long", start)

    def u32(self, what: str) -> int:
        return self.uleb(32, what)

    def count(self, what: str, min_item_size: int = 1) -> int:
        """A vector length, refused when the remaining bytes cannot hold that many items."""
        start = self.pos
        n = self.u32(f"{what} count")
        if n * min_item_size > self.remaining:
            raise self.fail(
                f"{what} count {n} is larger than the {self.remaining} bytes that remain", start
            )
        return n

    def name(self, what: str) -> str:
        start = self.pos
        length = self.u32(f"{what} length")
        raw = self.bytes(length, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8", start) from None

    def vector(self, what: str, item: Callable[[], T], min_item_size: int = 1) -> list[T]:
        return [item() for _ in range(self.count(what, min_item_size))]

    def section(self) -> tuple[int, int, Reader]:
        """The next section: (id, offset of its header, a reader over its contents)."""
        header = self.pos
        section_id = self.byte("section id")
        size = self.u32("section size")
        if size > self.remaining:
            label = SECTION_NAMES.get(section_id, f"id {section_id}")
            raise self.fail(
                f"truncated: the {label} section declares {size} bytes "
                f"but only {self.remaining} remain in the file",
                header,
            )
        return section_id, header, self.sub(size, "section")


def read_uleb(data: bytes, pos: int, bits: int = 32) -> tuple[int, int]:
    """An unsigned LEB128 at ``pos``: (value, position after it)."""
    reader = Reader(data, pos)
    value = reader.uleb(bits, "LEB128 integer")
    return value, reader.pos


def encode_uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def sections(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(id, header start, contents start, end) of each section after the header, in order.

    Lazy, so a caller looking for one section stops there: bytes after it are
    not read (nor judged). The header itself is not checked here.
    """
    reader = Reader(data, HEADER)
    while reader.remaining > 0:
        section_id, header, body = reader.section()
        yield section_id, header, body.pos, body.end
