"""Read and cap the linear memories a module defines, straight from its bytes.

Why a byte-level rewrite: wasmer 1.1 cannot limit memory growth from Python,
but every engine honours a memory's declared maximum. Lowering that maximum to
``--max-memory`` makes ``memory.grow`` beyond it return -1, exactly the way
WebAssembly says growth fails. It also tells us the initial size before any
engine reserves it, so an oversized module is refused with a clear message.

Malformed input is never an error here: parsing stops and the bytes are left
as they are, for the engine's validator to reject with its own reason.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE = 65536
_MEMORY_SECTION = 5
_HEADER = 8


@dataclass(frozen=True, slots=True)
class MemoryLimits:
    min_pages: int
    max_pages: int | None
    flags: int


def _leb_u(data: bytes, pos: int, max_bytes: int = 10) -> tuple[int, int]:
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


def _encode_u(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _memory_section(wasm: bytes) -> tuple[int, int, int] | None:
    """(section start, payload start, payload end) of the memory section, if any."""
    pos = _HEADER
    while pos < len(wasm):
        start = pos
        section_id = wasm[pos]
        size, body = _leb_u(wasm, pos + 1, 5)
        end = body + size
        if end > len(wasm):
            raise ValueError("section runs past the end")
        if section_id == _MEMORY_SECTION:
            return start, body, end
        pos = end
    return None


def _parse_memories(wasm: bytes, body: int, end: int) -> list[tuple[MemoryLimits, int, int]]:
    count, pos = _leb_u(wasm, body, 5)
    memories = []
    for _ in range(count):
        if pos >= end:
            raise ValueError("memory section truncated")
        item = pos
        flags = wasm[pos]
        minimum, pos = _leb_u(wasm, pos + 1)
        maximum = None
        if flags & 1:
            maximum, pos = _leb_u(wasm, pos)
        memories.append((MemoryLimits(minimum, maximum, flags), item, pos))
    return memories


def defined_memories(wasm: bytes) -> list[MemoryLimits]:
    """The memories the module defines (not imports); [] when it cannot tell."""
    try:
        found = _memory_section(wasm)
        if found is None:
            return []
        return [limits for limits, _, _ in _parse_memories(wasm, found[1], found[2])]
    except (ValueError, IndexError):
        return []


def cap_memories(wasm: bytes, max_bytes: int) -> bytes:
    """Return ``wasm`` with every defined 32-bit memory's maximum lowered to ``max_bytes``."""
    cap = max_bytes // PAGE
    try:
        found = _memory_section(wasm)
        if found is None:
            return wasm
        start, body, end = found
        memories = _parse_memories(wasm, body, end)
    except (ValueError, IndexError):
        return wasm
    count_end = _leb_u(wasm, body, 5)[1]
    items = [wasm[body:count_end]]
    cursor = count_end
    for limits, item_start, item_end in memories:
        items.append(wasm[cursor:item_start])
        if limits.flags & ~0x1:  # shared or 64-bit memories: leave to the engine
            items.append(wasm[item_start:item_end])
        else:
            maximum = cap if limits.max_pages is None else min(limits.max_pages, cap)
            items.append(b"\x01" + _encode_u(limits.min_pages) + _encode_u(maximum))
        cursor = item_end
    items.append(wasm[cursor:end])
    payload = b"".join(items)
    section = bytes([_MEMORY_SECTION]) + _encode_u(len(payload)) + payload
    return wasm[:start] + section + wasm[end:]
