"""``wapc core show``: a coredump read back: its frames (with source lines) and memory regions.

The frames come from the ``corestack`` section; with the module that trapped,
each one gets its function name and source line (DWARF, else the name section).
The exchange record written beside the coredump (same name, ``.json``) says
where the request and the response lie in memory; those regions are returned
for a hex dump.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputFileError, TrapFrame
from ...wasm.coredump import CoreDump, CoreFrame, read_coredump
from ...wasm.reader import WasmParseError
from ...wasm.symbols import symbolizer_for

#: Bytes shown around each pointer, at most.
REGION_BYTES = 256


@dataclass(frozen=True, slots=True)
class MemoryRegion:
    label: str
    address: int
    data: bytes | None  # None: outside the dumped memory (or no memory dumped)


@dataclass(frozen=True, slots=True)
class CoreReport:
    path: str
    dump: CoreDump
    frames: tuple[tuple[CoreFrame, tuple[TrapFrame, ...]], ...]
    regions: tuple[MemoryRegion, ...]
    record: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "coredump": self.path, "executable": self.dump.executable,
            "modules": list(self.dump.modules),
            "memory_size": self.dump.memory_size,
            "frames": [
                {"funcidx": frame.funcidx, "codeoffset": frame.codeoffset,
                 "locals": frame.locals, "source": [s.to_json() for s in source]}
                for frame, source in self.frames
            ],
            "regions": [
                {"label": r.label, "address": r.address,
                 "hex": None if r.data is None else r.data.hex()}
                for r in self.regions
            ],
        }


def show_core(path: Path, core: bytes, module: bytes | None) -> CoreReport:
    """The report of coredump ``core`` (read from ``path``), symbolized with ``module``."""
    try:
        dump = read_coredump(core)
    except WasmParseError as exc:
        said = str(exc)
        if not said.startswith("not a WebAssembly coredump"):
            said = f"not a WebAssembly coredump: {said}"
        raise InputFileError(f"'{path}' is {said}") from None
    frames = []
    symbolizer = None if module is None else symbolizer_for(module)
    for frame in dump.frames:
        source: tuple[TrapFrame, ...] = ()
        if symbolizer is not None:
            offset = symbolizer.module_offset(frame.funcidx, frame.codeoffset)
            if offset is not None:
                source = symbolizer.lookup(offset)
        frames.append((frame, source))
    record = _record_beside(path)
    return CoreReport(str(path), dump, tuple(frames), _regions(dump, record), record)


def _record_beside(path: Path) -> dict[str, Any] | None:
    name = path.name.removesuffix(".wasm").removesuffix(".core")
    record = path.with_name(f"{name}.json")
    try:
        if record.stat().st_size > 64 << 20:
            return None
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _regions(dump: CoreDump, record: dict[str, Any] | None) -> tuple[MemoryRegion, ...]:
    if record is None:
        return ()
    wanted: list[tuple[str, int | None, int | None]] = []
    request = record.get("guest_request")
    if isinstance(request, dict):
        wanted.append(("operation (__guest_request op_ptr)", _int(request.get("op_ptr")),
                       _int(request.get("op_len"))))
        wanted.append(("payload (__guest_request ptr)", _int(request.get("ptr")),
                       _int(request.get("payload_len"))))
    response = record.get("guest_response")
    if isinstance(response, dict):
        wanted.append(("response (__guest_response ptr)", _int(response.get("ptr")),
                       _int(response.get("length"))))
    regions = []
    for label, address, length in wanted:
        if address is None:
            continue
        shown = max(16, min(REGION_BYTES, length or 0))
        regions.append(MemoryRegion(label, address, _clip(dump, address, shown)))
    return tuple(regions)


def _clip(dump: CoreDump, address: int, length: int) -> bytes | None:
    """What there is of ``length`` bytes at ``address`` before the dumped memory ends."""
    size = dump.memory_size
    if size is None or address >= size:
        return None
    return dump.read(address, min(length, size - address))
