"""Read and cap the linear memories a module defines, straight from its bytes.

Why a byte-level rewrite: wasmer 1.1 cannot limit memory growth from Python,
but every engine honours a memory's declared maximum. Lowering that maximum to
the max-memory limit makes ``memory.grow`` beyond it return -1, exactly the way
WebAssembly says growth fails. It also tells us the initial size before any
engine reserves it, so an oversized module is refused with a clear message.

Malformed input is never an error here: parsing stops and the bytes are left
as they are, for the engine's validator to reject with its own reason.
"""

from __future__ import annotations

from typing import NamedTuple

from .constants import PAGE
from .reader import encode_uleb, read_uleb, sections

__all__ = ["PAGE", "MemoryLimits", "cap_memories", "defined_memories"]

_MEMORY_SECTION = 5


class MemoryLimits(NamedTuple):
    min_pages: int
    max_pages: int | None
    flags: int


def _memory_section(wasm: bytes) -> tuple[int, int, int] | None:
    """(section start, payload start, payload end) of the memory section, if any."""
    for section_id, start, body, end in sections(wasm):
        if section_id == _MEMORY_SECTION:
            return start, body, end
    return None


def _parse_memories(wasm: bytes, body: int, end: int) -> list[tuple[MemoryLimits, int, int]]:
    count, pos = read_uleb(wasm, body)
    memories = []
    for _ in range(count):
        if pos >= end:
            raise ValueError("memory section truncated")
        item = pos
        flags = wasm[pos]
        minimum, pos = read_uleb(wasm, pos + 1, bits=64)
        maximum = None
        if flags & 1:
            maximum, pos = read_uleb(wasm, pos, bits=64)
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
    count_end = read_uleb(wasm, body)[1]
    items = [wasm[body:count_end]]
    cursor = count_end
    for limits, item_start, item_end in memories:
        items.append(wasm[cursor:item_start])
        if limits.flags & ~0x1:  # shared or 64-bit memories: leave to the engine
            items.append(wasm[item_start:item_end])
        else:
            maximum = cap if limits.max_pages is None else min(limits.max_pages, cap)
            items.append(b"\x01" + encode_uleb(limits.min_pages) + encode_uleb(maximum))
        cursor = item_end
    items.append(wasm[cursor:end])
    payload = b"".join(items)
    section = bytes([_MEMORY_SECTION]) + encode_uleb(len(payload)) + payload
    return wasm[:start] + section + wasm[end:]
