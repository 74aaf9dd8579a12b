"""Run a module's start function as an init step instead of inside instantiation.

Why: a start function runs before the engine hands us the instance, so its
imports cannot reach the guest's exported memory. AssemblyScript guests run
all top-level code there; a top-level ``console.log`` or host call would then
fail on our host although it works on hosts that find memory through the
caller (wapc-rs). Moving the start function to a hidden export, called first
in init, gives every import its memory on both engines alike.

Only the section framing is touched (the start section is dropped, one export
appended). Anything malformed is left alone for the engine to report.
"""

from __future__ import annotations

START_EXPORT = "__wapc_start"
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
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


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


def defer_start(data: bytes) -> tuple[bytes, str | None]:
    """Return (module bytes, export name of the start function or None)."""
    try:
        sections = _sections(data)
        start = next((s for s in sections if s[0] == _START_SECTION), None)
        exports = next((s for s in sections if s[0] == _EXPORT_SECTION), None)
        if start is None or exports is None:
            return data, None
        function, _ = _uleb(data, start[2])
        count, rest = _uleb(data, exports[2])
        existing = data[rest : exports[3]]
        name = START_EXPORT
        while name.encode() in existing:  # keep clear of a guest's own export names
            name += "_"
        encoded = name.encode()
        contents = (
            _leb(count + 1) + existing + _leb(len(encoded)) + encoded + b"\x00" + _leb(function)
        )
    except ValueError:
        return data, None
    out = bytearray(data[:8])
    for section_id, header, _, end in sections:
        if section_id == _START_SECTION:
            continue
        if section_id == _EXPORT_SECTION:
            out += bytes([_EXPORT_SECTION]) + _leb(len(contents)) + contents
        else:
            out += data[header:end]
    return bytes(out), name
