"""Module offsets to functions and source lines: DWARF first, then the name section, then offsets.

One :class:`Symbolizer` per module, built from its bytes and kept with it: it
reads nothing until it is first asked (a trap, ``addr2line``, ``core show``),
then scans the section headers once; pyelftools is loaded only when the module
has ``.debug_*`` sections. Names are demangled (:mod:`.demangle`).
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from ..errors import TrapFrame
from .demangle import demangle
from .dwarf import DebugSections, DwarfError, DwarfReader, debug_sections
from .module import Module
from .parse import parse_module
from .reader import Reader, WasmParseError, sections

_CODE_SECTION = 10


class FunctionRanges(NamedTuple):
    """Where each defined function's body lies in the module: sorted starts, ends, indexes."""

    starts: list[int]
    ends: list[int]
    indexes: list[int]

    def index_at(self, module_offset: int) -> int | None:
        at = bisect.bisect_right(self.starts, module_offset) - 1
        if at >= 0 and module_offset < self.ends[at]:
            return self.indexes[at]
        return None


def function_ranges(wasm: bytes, imported_functions: int) -> FunctionRanges:
    """The body of each function in the code section (index space: imports first)."""
    starts: list[int] = []
    ends: list[int] = []
    for section_id, _, start, end in sections(wasm):
        if section_id != _CODE_SECTION:
            continue
        reader = Reader(wasm, start, end)
        for _ in range(reader.count("function body", 1)):
            size = reader.u32("function body size")
            body = reader.sub(size, "function body")
            starts.append(body.pos)
            ends.append(body.end)
        break
    return FunctionRanges(starts, ends, [imported_functions + i for i in range(len(starts))])


#: The symbolizers of the latest modules, by the identity of their bytes (which each
#: entry keeps alive, so an identity is not reused while it is cached).
_SYMBOLIZERS: dict[int, tuple[bytes, Symbolizer]] = {}
_KEPT = 8


def symbolizer_for(wasm: bytes) -> Symbolizer:
    """The one :class:`Symbolizer` of these module bytes (cached per module)."""
    entry = _SYMBOLIZERS.get(id(wasm))
    if entry is None or entry[0] is not wasm:
        while len(_SYMBOLIZERS) >= _KEPT:
            _SYMBOLIZERS.pop(next(iter(_SYMBOLIZERS)))
        entry = _SYMBOLIZERS[id(wasm)] = (wasm, Symbolizer(wasm))
    return entry[1]


class Symbolizer:
    """Function names and source locations for one module's offsets (cached)."""

    def __init__(self, wasm: bytes) -> None:
        self._wasm = wasm
        self._debug: DebugSections | None = None
        self._dwarf: DwarfReader | None = None
        self._dwarf_problem: str | None = None
        self._module: Module | None = None
        self._names: dict[int, str] | None = None
        self._ranges: FunctionRanges | None = None

    # -- what the module has -----------------------------------------------------
    @property
    def debug(self) -> DebugSections:
        if self._debug is None:
            self._debug = debug_sections(self._wasm)
        return self._debug

    @property
    def dwarf(self) -> DwarfReader | None:
        """The module's DWARF reader, or None (no DWARF, or DWARF that cannot be read:
        :attr:`dwarf_problem` says why)."""
        if self._dwarf is None and self._dwarf_problem is None:
            if not self.debug.has_dwarf:
                self._dwarf_problem = "no DWARF"
            else:
                try:
                    self._dwarf = DwarfReader(self.debug)
                except DwarfError as exc:
                    self._dwarf_problem = str(exc)
        return self._dwarf

    @property
    def dwarf_problem(self) -> str | None:
        _ = self.dwarf
        return self._dwarf_problem

    def _name_section(self) -> tuple[dict[int, str], FunctionRanges]:
        if self._names is None or self._ranges is None:
            try:
                module = self._module = parse_module(self._wasm)
                self._names = dict(module.function_names)
                self._ranges = function_ranges(self._wasm, len(module.imported_functions))
            except (WasmParseError, UnicodeDecodeError):
                self._names, self._ranges = {}, FunctionRanges([], [], [])
        return self._names, self._ranges

    # -- lookups -------------------------------------------------------------------
    def code_position(self, module_offset: int) -> tuple[int, int, int] | None:
        """(function index, offset from its body's start, how many locals it has: params
        and declared) of a module offset; None outside every function body."""
        _, ranges = self._name_section()
        at = bisect.bisect_right(ranges.starts, module_offset) - 1
        if at < 0 or module_offset >= ranges.ends[at]:
            return None
        start = ranges.starts[at]
        return ranges.indexes[at], module_offset - start, self._local_count(at, start)

    def module_offset(self, funcidx: int, codeoffset: int) -> int | None:
        """The module offset of ``codeoffset`` bytes into function ``funcidx``'s body."""
        _, ranges = self._name_section()
        if funcidx not in ranges.indexes:
            return None
        at = ranges.indexes.index(funcidx)
        offset = ranges.starts[at] + codeoffset
        return offset if offset < ranges.ends[at] else None

    def _local_count(self, position: int, body_start: int) -> int:
        """Function ``position``'s parameters plus the locals its body declares."""
        _, ranges = self._name_section()
        func_type = None if self._module is None else self._module.func_type(
            ranges.indexes[position]
        )
        count = 0 if func_type is None else len(func_type.params)
        reader = Reader(self._wasm, body_start, ranges.ends[position])
        try:
            for _ in range(reader.count("local declaration", 2)):
                count += reader.u32("local count")
                reader.byte("local type")
        except WasmParseError:
            pass
        return count

    def function_at(self, module_offset: int) -> str | None:
        """The name-section name (demangled) of the function holding ``module_offset``,
        else ``func[index]``; None when the offset is in no function's body."""
        names, ranges = self._name_section()
        index = ranges.index_at(module_offset)
        if index is None:
            return None
        name = names.get(index)
        return demangle(name) if name else f"func[{index}]"

    def lookup(self, module_offset: int) -> tuple[TrapFrame, ...]:
        """The frames at one module offset, innermost (inlined) first: DWARF's when it has
        the offset, else one frame named from the name section; () in no function."""
        dwarf = self.dwarf
        fallback = self.function_at(module_offset)
        if dwarf is not None:
            found = dwarf.frames_at(module_offset)
            if found:
                return tuple(
                    TrapFrame(
                        demangle(frame.function) if frame.function else (fallback or "?"),
                        module_offset, frame.file, frame.line, frame.column, frame.inlined,
                    )
                    for frame in found
                )
        return () if fallback is None else (TrapFrame(fallback, module_offset),)

    def symbolize(self, frames: tuple[TrapFrame, ...]) -> tuple[TrapFrame, ...]:
        """Engine-reported frames with source locations (and inlined frames) added where
        the module's DWARF has them, and names demangled; never raises."""
        out: list[TrapFrame] = []
        try:
            dwarf = self.dwarf
        except Exception:  # the module's bytes themselves: nothing worth failing a report for
            dwarf = None
        for frame in frames:
            offset = frame.module_offset
            found = () if dwarf is None or offset is None else dwarf.frames_at(offset)
            if not any(f.line is not None for f in found):
                out.append(frame._replace(function=demangle(frame.function)))
                continue
            for source in found:
                name = frame.function if not source.inlined and source.function is None else (
                    source.function or frame.function
                )
                out.append(TrapFrame(demangle(name), offset, source.file, source.line,
                                     source.column, source.inlined))
        return tuple(out)
