"""Section framing of a wasm binary, for the two byte-level rewrites.

``startfn`` (start function as an init step) and ``wasmmem`` (memory caps)
edit a module without parsing it fully; both need the same LEB128 and section
walking. Malformed input raises ``ValueError``, which their callers take as
"leave the bytes alone for the engine to reject".
"""

from __future__ import annotations

from collections.abc import Iterator

HEADER = 8  # magic + version


def read_uleb(data: bytes, pos: int, max_bytes: int = 5) -> tuple[int, int]:
    """An unsigned LEB128 at ``pos``: (value, position after it)."""
    result = shift = 0
    for index in range(max_bytes):
        if pos + index >= len(data):
            raise ValueError("truncated LEB128")
        byte = data[pos + index]
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos + index + 1
    raise ValueError("LEB128 too long")


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
    """(id, header start, contents start, end) of each section, in order.

    Lazy, so a caller looking for one section stops there: bytes after it are
    not read (nor judged).
    """
    pos = HEADER
    while pos < len(data):
        section_id = data[pos]
        size, contents = read_uleb(data, pos + 1)
        end = contents + size
        if end > len(data):
            raise ValueError("section runs past the end")
        yield section_id, pos, contents, end
        pos = end
