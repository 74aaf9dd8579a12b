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

START_EXPORT = ""
_START_SECTION = 8
_EXPORT_SECTION = 7


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    for _ in range(5):
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise ValueError("LEB128 too long")


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _sections(data: bytes) -> list[tuple[int, int, int, int]]:
    """(id, header start, contents start, end) of every section."""
    sections = []
    pos = 8
    while pos < len(data):
        section_id = data[pos]
        size, contents = _uleb(data, pos + 1)
        end = contents + size
        if end > len(data):
            raise ValueError("truncated section")
        sections.append((section_id, pos, contents, end))
        pos = end
    return sections


def _export_names(data: bytes, pos: int, count: int) -> set[bytes]:
    names = set()
    for _ in range(count):
        length, pos = _uleb(data, pos)
        names.add(data[pos : pos + length])
        _, pos = _uleb(data, pos + length + 1)  # skip kind, read index
    return names


def defer_start(data: bytes) -> tuple[bytes, str | None]:
    """Return (module bytes, export name of the former start function or None)."""
    try:
        sections = _sections(data)
        start = next((s for s in sections if s[0] == _START_SECTION), None)
        exports = next((s for s in sections if s[0] == _EXPORT_SECTION), None)
        if start is None or exports is None:
            return data, None
        function, _ = _uleb(data, start[2])
        count, entries = _uleb(data, exports[2])
        if START_EXPORT.encode() in _export_names(data, entries, count):
            return data, None
        contents = (
            _leb(count + 1) + data[entries : exports[3]] + b"\x00\x00" + _leb(function)
        )
    except (ValueError, IndexError):
        return data, None
    section = bytes([_EXPORT_SECTION]) + _leb(len(contents)) + contents
    grown = len(section) - (exports[3] - exports[1])
    if grown != start[3] - start[1]:
        return data, None  # offsets would shift: keep the start section as it is
    out = bytearray(data[:8])
    for section_id, header, _, end in sections:
        if section_id == _START_SECTION:
            continue
        out += section if section_id == _EXPORT_SECTION else data[header:end]
    return bytes(out), START_EXPORT
