"""``wapc addr2line``: module offsets to functions and ``file:line:column``, inlined frames too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import TrapFrame, UsageError
from ...wasm.symbols import Symbolizer, symbolizer_for

#: More offsets than this in one run is a mistake, not a lookup.
MAX_OFFSETS = 10_000


@dataclass(frozen=True, slots=True)
class AddressLookup:
    """What one module offset is: its frames, innermost (inlined) first; () in no function."""

    offset: int
    frames: tuple[TrapFrame, ...]
    source: str  # "dwarf" | "name section" | "none"

    def as_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset, "offset_hex": f"{self.offset:#x}", "source": self.source,
            "frames": [frame.to_json() for frame in self.frames],
        }


def parse_offset(text: str) -> int:
    """A module offset as the user wrote it: ``0x1a8`` (hex) or ``424`` (decimal)."""
    value = text.strip().lower()
    try:
        number = int(value, 16) if value.startswith("0x") else int(value, 10)
    except ValueError:
        raise UsageError(
            f"offset '{text}' is not a number (write it in hex, 0x1a8, or decimal, 424)"
        ) from None
    if not 0 <= number < 1 << 32:
        raise UsageError(f"offset '{text}' is outside a 32-bit module")
    return number


def dwarf_problem(wasm: bytes) -> str | None:
    """Why the module's DWARF sections cannot be read, when it has some (else None)."""
    problem = symbolizer_for(wasm).dwarf_problem
    return None if problem in (None, "no DWARF") else problem


def addr2line(wasm: bytes, offsets: list[int]) -> list[AddressLookup]:
    """Look up each offset in ``wasm`` (DWARF first, then the name section)."""
    if len(offsets) > MAX_OFFSETS:
        raise UsageError(f"at most {MAX_OFFSETS} offsets at a time, not {len(offsets)}")
    symbolizer: Symbolizer = symbolizer_for(wasm)
    results = []
    for offset in offsets:
        frames = symbolizer.lookup(offset)
        if any(frame.line is not None for frame in frames):
            source = "dwarf"
        else:
            source = "name section" if frames else "none"
        results.append(AddressLookup(offset, frames, source))
    return results
