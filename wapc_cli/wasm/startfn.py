"""Run a module's start function as an init step instead of inside instantiation.

Why: a start function runs before the engine hands us the instance, so its
imports cannot reach the guest's exported memory. AssemblyScript guests run
all top-level code there; a top-level ``console.log`` or host call would then
fail on our host although it works on hosts that find memory through the
caller (wapc-rs). Moving the start function to an export, called first in
init, gives every import its memory on both engines alike.

The export gets the empty name: the start section (id, size, index) and the
new export entry (name length 0, kind, index) then have the same length, so
every byte after the export section -- all code -- keeps its offset and trap
frames still match the user's file. When that equality does not hold (rare
LEB128 boundary cases) or the module is malformed, it is left alone.
"""

from __future__ import annotations

from .reader import HEADER, encode_uleb, read_uleb, sections

START_EXPORT = ""
_START_SECTION = 8
_EXPORT_SECTION = 7


def _export_names(data: bytes, pos: int, count: int) -> set[bytes]:
    names = set()
    for _ in range(count):
        length, pos = read_uleb(data, pos)
        names.add(data[pos : pos + length])
        _, pos = read_uleb(data, pos + length + 1)  # skip kind, read index
    return names


def defer_start(data: bytes) -> tuple[bytes, str | None]:
    """Return (module bytes, export name of the former start function or None)."""
    try:
        found = list(sections(data))
        start = next((s for s in found if s[0] == _START_SECTION), None)
        exports = next((s for s in found if s[0] == _EXPORT_SECTION), None)
        if start is None or exports is None:
            return data, None
        function, _ = read_uleb(data, start[2])
        count, entries = read_uleb(data, exports[2])
        if START_EXPORT.encode() in _export_names(data, entries, count):
            return data, None
        entry = b"\x00" + b"\x00" + encode_uleb(function)  # name length 0, kind func, index
        contents = encode_uleb(count + 1) + data[entries : exports[3]] + entry
    except (ValueError, IndexError):
        return data, None
    section = bytes([_EXPORT_SECTION]) + encode_uleb(len(contents)) + contents
    grown = len(section) - (exports[3] - exports[1])
    if grown != start[3] - start[1]:
        return data, None  # offsets would shift: keep the start section as it is
    out = bytearray(data[:HEADER])
    for section_id, header, _, end in found:
        if section_id == _START_SECTION:
            continue
        out += section if section_id == _EXPORT_SECTION else data[header:end]
    return bytes(out), START_EXPORT
