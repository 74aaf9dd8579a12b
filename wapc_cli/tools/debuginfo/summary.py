"""What debug info a module carries: DWARF (sections, producers, units, files) and names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...wasm.dwarf import DwarfError, DwarfReader, debug_sections

#: At most this many compilation units and source files are listed.
MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class CompilationUnit:
    name: str | None
    producer: str | None
    language: str | None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "producer": self.producer, "language": self.language}


@dataclass(frozen=True, slots=True)
class DebugInfo:
    """``dwarf``: the module has DWARF; ``stripped``: it has neither DWARF nor names."""

    dwarf: bool
    sections: tuple[tuple[str, int], ...]  # the .debug_* sections and their sizes
    producers: tuple[str, ...]
    units: tuple[CompilationUnit, ...]
    unit_count: int
    source_files: tuple[str, ...]
    source_file_count: int
    name_section: bool
    problem: str | None = None  # DWARF that could not be read, and why

    @property
    def stripped(self) -> bool:
        return not self.dwarf and not self.name_section

    def as_json(self) -> dict[str, Any]:
        return {
            "dwarf": self.dwarf, "stripped": self.stripped, "name_section": self.name_section,
            "sections": [{"name": n, "size": s} for n, s in self.sections],
            "producers": list(self.producers),
            "compilation_units": [u.as_json() for u in self.units],
            "compilation_unit_count": self.unit_count,
            "source_files": list(self.source_files),
            "source_file_count": self.source_file_count,
            "problem": self.problem,
        }


def debug_info(wasm: bytes, *, name_section: bool) -> DebugInfo:
    """The debug info of ``wasm`` (``name_section``: whether the parser found one)."""
    debug = debug_sections(wasm)
    sections = tuple((name, len(data)) for name, data in debug.sections.items())
    if not debug.has_dwarf:
        return DebugInfo(False, sections, (), (), 0, (), 0, name_section)
    try:
        units, files = DwarfReader(debug).summary()
    except DwarfError as exc:
        return DebugInfo(True, sections, (), (), 0, (), 0, name_section, str(exc))
    producers = tuple(dict.fromkeys(u.producer for u in units if u.producer))
    return DebugInfo(
        True, sections, producers,
        tuple(CompilationUnit(u.name, u.producer, u.language) for u in units[:MAX_LISTED]),
        len(units), tuple(files[:MAX_LISTED]), len(files), name_section,
    )
