"""DWARF in a wasm module: its ``.debug_*`` custom sections, read with pyelftools.

In a WebAssembly module DWARF lives in custom sections named like ELF's
(``.debug_info``, ``.debug_line``, ...), and its addresses are offsets into the
code section's contents: a module offset ``m`` is DWARF address
``m - code_start``. :func:`debug_sections` finds the sections without parsing
the module; :class:`DwarfReader` answers "which function, inlined frames and
source line is at this address" and summarises the compilation units for
``inspect``. pyelftools is imported only here, and only when a module has DWARF.

DWARF comes from the module, so it is untrusted: every failure of the library
on malformed data becomes :class:`DwarfError`, and what is read is bounded
(sections, units, files, frames).
"""

from __future__ import annotations

import bisect
import io
import posixpath
from collections.abc import Iterator
from typing import Any, NamedTuple

from .reader import Reader, WasmParseError, sections

#: Debug sections pyelftools reads, by their name in the module.
DWARF_SECTIONS = (
    ".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_ranges",
    ".debug_loc", ".debug_aranges", ".debug_line_str", ".debug_str_offsets", ".debug_addr",
    ".debug_rnglists", ".debug_loclists",
)
_CODE_SECTION = 10
#: More DWARF than this is not read (a 32-bit module's code cannot need it).
MAX_DWARF_BYTES = 256 << 20
MAX_UNITS = 10_000
MAX_INLINE_DEPTH = 64


class DwarfError(ValueError):
    """The module's DWARF cannot be read (malformed, or too large)."""


def malformed(exc: Exception) -> str:
    """What pyelftools' error on malformed DWARF says (a bare ``KeyError: 0`` names its kind)."""
    text = str(exc).strip()
    if len(text) < 12 or not text[:1].isalpha():
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"malformed DWARF ({text[:200]})"


class DebugSections(NamedTuple):
    """Where a module's code starts and its custom ``.debug_*`` sections (name -> bytes)."""

    code_start: int | None
    sections: dict[str, bytes]

    @property
    def has_dwarf(self) -> bool:
        return ".debug_info" in self.sections or ".debug_line" in self.sections


class SourceFrame(NamedTuple):
    """One frame at an address: a function and where in its source (innermost first)."""

    function: str | None
    file: str | None
    line: int | None
    column: int | None
    inlined: bool = False


class UnitSummary(NamedTuple):
    name: str | None
    producer: str | None
    language: str | None


def debug_sections(wasm: bytes) -> DebugSections:
    """The code section's start and every ``.debug_*`` custom section of ``wasm``."""
    found: dict[str, bytes] = {}
    code_start: int | None = None
    try:
        for section_id, _, start, end in sections(wasm):
            if section_id == _CODE_SECTION:
                code_start = start
            elif section_id == 0:
                reader = Reader(wasm, start, end)
                name = reader.name("custom section name")
                if name.startswith(".debug_") and name not in found:
                    found[name] = wasm[reader.pos : end]
    except (WasmParseError, UnicodeDecodeError):
        pass  # a malformed tail: keep what was found before it
    return DebugSections(code_start, found)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


class DwarfReader:
    """Lookups in one module's DWARF; build it once per module and keep it (it caches)."""

    def __init__(self, debug: DebugSections) -> None:
        if not debug.has_dwarf:
            raise DwarfError("the module has no DWARF")
        if sum(len(data) for data in debug.sections.values()) > MAX_DWARF_BYTES:
            raise DwarfError("the module's DWARF is too large to read")
        self.debug = debug
        try:
            from elftools.dwarf.dwarfinfo import (
                DebugSectionDescriptor,
                DwarfConfig,
                DWARFInfo,
            )

            def descriptor(name: str) -> DebugSectionDescriptor | None:
                data = debug.sections.get(name)
                if data is None:
                    return None
                return DebugSectionDescriptor(io.BytesIO(data), name, None, len(data), 0)

            self.info: Any = DWARFInfo(
                config=DwarfConfig(little_endian=True, machine_arch="wasm32",
                                   default_address_size=4),
                debug_info_sec=descriptor(".debug_info"),
                debug_aranges_sec=descriptor(".debug_aranges"),
                debug_abbrev_sec=descriptor(".debug_abbrev"),
                debug_frame_sec=None, eh_frame_sec=None,
                debug_str_sec=descriptor(".debug_str"),
                debug_loc_sec=descriptor(".debug_loc"),
                debug_ranges_sec=descriptor(".debug_ranges"),
                debug_line_sec=descriptor(".debug_line"),
                debug_pubtypes_sec=None, debug_pubnames_sec=None,
                debug_addr_sec=descriptor(".debug_addr"),
                debug_str_offsets_sec=descriptor(".debug_str_offsets"),
                debug_line_str_sec=descriptor(".debug_line_str"),
                debug_loclists_sec=descriptor(".debug_loclists"),
                debug_rnglists_sec=descriptor(".debug_rnglists"),
                debug_sup_sec=None, gnu_debugaltlink_sec=None, debug_types_sec=None,
            )
            self.units: list[Any] = []
            for unit in self.info.iter_CUs():
                self.units.append(unit)
                if len(self.units) >= MAX_UNITS:
                    break
        except DwarfError:
            raise
        except Exception as exc:  # pyelftools on malformed input: any error at all
            raise DwarfError(malformed(exc)) from None
        self._rows: dict[int, tuple[list[int], list[tuple[int, str | None, int, int, bool]]]] = {}
        self._cache: dict[int, tuple[SourceFrame, ...]] = {}

    # -- summary ---------------------------------------------------------------
    def summary(self) -> tuple[list[UnitSummary], list[str]]:
        """Each compilation unit (name, producer, language) and every source file named."""
        units: list[UnitSummary] = []
        files: dict[str, None] = {}
        try:
            for unit in self.units:
                die = unit.get_top_DIE()
                language = die.attributes.get("DW_AT_language")
                units.append(UnitSummary(
                    _text(self._attr(die, "DW_AT_name")), _text(self._attr(die, "DW_AT_producer")),
                    None if language is None else _language(language.value),
                ))
                program = self.info.line_program_for_CU(unit)
                if program is not None:
                    for index in range(len(program["file_entry"])):
                        name = self._file_name(program, index, base=0)
                        if name is not None:
                            files[name] = None
        except Exception as exc:
            raise DwarfError(malformed(exc)) from None
        return units, list(files)

    # -- lookups ---------------------------------------------------------------
    def code_address(self, module_offset: int) -> int | None:
        """The DWARF address of a module offset (None: not in the code section)."""
        start = self.debug.code_start
        if start is None or module_offset < start:
            return None
        return module_offset - start

    def frames_at(self, module_offset: int) -> tuple[SourceFrame, ...]:
        """The frames at a module offset, innermost (inlined) first; () if DWARF has none."""
        cached = self._cache.get(module_offset)
        if cached is None:
            address = self.code_address(module_offset)
            try:
                cached = () if address is None else self._frames(address)
            except Exception:  # malformed DWARF for this address: nothing to say
                cached = ()
            if len(self._cache) < 4096:
                self._cache[module_offset] = cached
        return cached

    def _frames(self, address: int) -> tuple[SourceFrame, ...]:
        for unit in self.units:
            chain = self._subprogram_chain(unit, address)
            row = self._line_row(unit, address)
            if chain is None and row is None:
                continue
            program = self.info.line_program_for_CU(unit)
            file, line, column = (None, None, None) if row is None else row
            if not chain:
                return (SourceFrame(None, file, line, column),)
            frames = []
            for depth in range(len(chain) - 1, -1, -1):
                die = chain[depth]
                frames.append(SourceFrame(self._die_name(die), file, line, column, depth > 0))
                if die.tag == "DW_TAG_inlined_subroutine":  # its caller's location
                    file = self._file_name(program, self._attr(die, "DW_AT_call_file"))
                    line = _number(self._attr(die, "DW_AT_call_line"))
                    column = _number(self._attr(die, "DW_AT_call_column"))
            return tuple(frames)
        return ()

    def _subprogram_chain(self, unit: Any, address: int) -> list[Any] | None:
        """The subprogram DIE holding ``address`` and the inlined DIEs nested inside it."""
        top = unit.get_top_DIE()
        if top.attributes and not self._contains(unit, top, address, default=True):
            return None
        pending = list(top.iter_children())
        chain: list[Any] = []
        while pending and len(chain) < MAX_INLINE_DEPTH:
            for die in pending:
                if die.tag in ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine") and (
                    self._contains(unit, die, address)
                ):
                    chain.append(die)
                    pending = list(die.iter_children())
                    break
                if die.tag == "DW_TAG_lexical_block" and self._contains(unit, die, address):
                    pending = list(die.iter_children())
                    break
            else:
                break
        return chain

    def _contains(self, unit: Any, die: Any, address: int, default: bool = False) -> bool:
        attrs = die.attributes
        low = attrs.get("DW_AT_low_pc")
        if "DW_AT_ranges" in attrs:
            base = 0 if low is None else low.value
            ranges = self.info.range_lists()
            if ranges is None:
                return default
            entries = ranges.get_range_list_at_offset(attrs["DW_AT_ranges"].value, cu=unit)
            for entry in entries:
                start, end = getattr(entry, "begin_offset", None), getattr(entry, "end_offset", 0)
                if start is None:  # a base-address entry
                    base = getattr(entry, "base_address", base)
                    continue
                if start == end:
                    continue
                if not getattr(entry, "is_absolute", False):
                    start, end = start + base, end + base
                if start <= address < end:
                    return True
            return False
        high = attrs.get("DW_AT_high_pc")
        if low is None or high is None:
            return default
        end = high.value if high.form == "DW_FORM_addr" else low.value + high.value
        return bool(low.value <= address < end) and low.value not in (0xFFFFFFFF, 0xFFFFFFFE)

    def _line_row(self, unit: Any, address: int) -> tuple[str | None, int, int] | None:
        """The line-table row covering ``address``: (file, line, column)."""
        key = unit.cu_offset
        table = self._rows.get(key)
        if table is None:
            table = self._rows[key] = self._line_table(unit)
        addresses, rows = table
        at = bisect.bisect_right(addresses, address) - 1
        if at < 0:
            return None
        _, file, line, column, end_sequence = rows[at]
        if end_sequence or line == 0:
            return None
        return file, line, column

    def _line_table(
        self, unit: Any
    ) -> tuple[list[int], list[tuple[int, str | None, int, int, bool]]]:
        program = self.info.line_program_for_CU(unit)
        rows: list[tuple[int, str | None, int, int, bool]] = []
        if program is not None:
            names: dict[int, str | None] = {}
            for entry in program.get_entries():
                state = entry.state
                if state is None:
                    continue
                if state.file not in names:
                    names[state.file] = self._file_name(program, state.file)
                rows.append((state.address, names[state.file], state.line, state.column,
                             state.end_sequence))
        rows.sort(key=lambda row: (row[0], not row[4]))  # an end before a start at one address
        return [row[0] for row in rows], rows

    # -- names -----------------------------------------------------------------
    @staticmethod
    def _attr(die: Any, name: str) -> Any:
        attribute = die.attributes.get(name)
        return None if attribute is None else attribute.value

    def _die_name(self, die: Any) -> str | None:
        """A function's name: its linkage name (mangled) or plain name, through origins."""
        for _ in range(8):
            for key in ("DW_AT_linkage_name", "DW_AT_MIPS_linkage_name", "DW_AT_name"):
                value = _text(self._attr(die, key))
                if value:
                    return value
            origins = ("DW_AT_abstract_origin", "DW_AT_specification")
            origin = next((k for k in origins if k in die.attributes), None)
            if origin is None:
                return None
            die = die.get_DIE_from_attribute(origin)
        return None

    @staticmethod
    def _file_name(program: Any, index: object, base: int | None = None) -> str | None:
        """File ``index`` of a line program: its name, under its directory unless that is
        the compilation directory (directory 0). DWARF 5 counts files from 0, older from 1."""
        if program is None or not isinstance(index, int):
            return None
        version = program.header.get("version", 4)
        first = base if base is not None else (0 if version >= 5 else 1)
        entries = program["file_entry"]
        position = index - first
        if not 0 <= position < len(entries):
            return None
        entry = entries[position]
        name = _text(entry.name) or "?"
        directory = entry.dir_index
        directories = program["include_directory"]
        if directory and not posixpath.isabs(name):
            position = directory if version >= 5 else directory - 1
            if 0 <= position < len(directories):
                name = posixpath.join(_text(directories[position]) or "", name)
        return name

    def iter_functions(self) -> Iterator[tuple[str | None, int, int]]:
        """(name, low, high) of every subprogram with an address range (for tests/tools)."""
        for unit in self.units:
            for die in unit.get_top_DIE().iter_children():
                low, high = die.attributes.get("DW_AT_low_pc"), die.attributes.get("DW_AT_high_pc")
                if die.tag == "DW_TAG_subprogram" and low is not None and high is not None:
                    end = high.value if high.form == "DW_FORM_addr" else low.value + high.value
                    yield self._die_name(die), low.value, end


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_LANGUAGES = {
    0x01: "C89", 0x02: "C", 0x04: "C++", 0x0C: "C99", 0x1C: "Rust", 0x1D: "C11",
    0x1A: "C++11", 0x21: "C++14", 0x16: "Go", 0x2C: "C17", 0x2B: "C++17",
}


def _language(code: object) -> str:
    if isinstance(code, int):
        return _LANGUAGES.get(code, f"DW_LANG {code:#x}")
    return str(code)
