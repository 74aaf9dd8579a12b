"""A bounded, defensive parser of the WebAssembly binary format (core modules, version 1).

It reads what an inspector needs — types, imports, functions, memories,
exports, the start function, custom sections with their ``name`` and
``producers`` contents — and only skips over code and data. It never runs
anything and trusts no number in the file: it reads through :class:`.reader.Reader`,
which checks every length against the bytes that remain before it is used,
stops LEB128 integers after 5 (u32) or 10 (u64) bytes, and checks a vector's
count against the remaining bytes before anything is allocated for it. Work
and memory are therefore linear in the input size, whatever the input claims.

Every problem is one ``WasmParseError`` carrying the byte offset and a reason.
Malformed custom sections (which engines ignore) are not errors: they are
recorded in ``Module.custom_problems``.
"""

from __future__ import annotations

from .constants import MAX_PAGES_32
from .module import (
    EXTERNAL_KINDS,
    HEAP_TYPES,
    REFTYPES,
    VALTYPES,
    Export,
    FuncType,
    Import,
    MemoryType,
    Module,
    Section,
    display_name,
)
from .reader import HEADER, MAGIC, SECTION_NAMES, VERSION_1, Reader, WasmParseError

__all__ = [
    "EXTERNAL_KINDS",
    "HEADER",
    "MAGIC",
    "SECTION_NAMES",
    "VALTYPES",
    "VERSION_1",
    "Export",
    "FuncType",
    "Import",
    "MemoryType",
    "Module",
    "Reader",
    "Section",
    "WasmParseError",
    "display_name",
    "parse_module",
]

#: Where each known non-custom section may appear (the binary format fixes the order).
_SECTION_ORDER = {sid: pos for pos, sid in enumerate((1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11))}
#: ``(ref ht)`` and ``(ref null ht)``: a heap type follows (GC / typed function references).
_REF, _REF_NULL = 0x64, 0x63


def parse_module(data: bytes) -> Module:
    """Parse ``data`` or raise ``WasmParseError``; never runs or validates code."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise WasmParseError(0, "missing the WebAssembly magic number \\0asm")
    if len(data) < HEADER:
        raise WasmParseError(4, "truncated: no version after the magic number")
    if data[4:8] != VERSION_1:
        version = int.from_bytes(data[4:8], "little")
        raise WasmParseError(4, f"unsupported version {version} (only core modules, version 1)")
    return _ModuleParser(data).parse()


class _ModuleParser:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sections: list[Section] = []
        self.types: list[FuncType] = []
        self.imports: list[Import] = []
        self.functions: list[int] = []
        self.memories: list[MemoryType] = []
        self.exports: list[Export] = []
        self.start: int | None = None
        self.code_count: int | None = None
        self.module_name: str | None = None
        self.function_names: dict[int, str] = {}
        self.producers: dict[str, tuple[tuple[str, str], ...]] = {}
        self.custom_problems: list[str] = []

    def parse(self) -> Module:
        r = Reader(self.data, HEADER)
        last_position = -1
        while r.remaining:
            section_id, header, body = r.section()
            if section_id == 0:
                self._custom(body)
                continue
            if section_id not in _SECTION_ORDER:
                raise body.fail(f"unknown section id {section_id}", header)
            position = _SECTION_ORDER[section_id]
            if position <= last_position:
                raise body.fail(
                    f"{SECTION_NAMES[section_id]} section is duplicated or out of order", header
                )
            last_position = position
            self.sections.append(
                Section(section_id, SECTION_NAMES[section_id], body.pos, body.remaining)
            )
            self._known(section_id, body)
        self._check_references(r)
        return Module(
            size=len(self.data),
            sections=tuple(self.sections),
            types=tuple(self.types),
            imports=tuple(self.imports),
            functions=tuple(self.functions),
            memories=tuple(self.memories),
            exports=tuple(self.exports),
            start=self.start,
            code_count=self.code_count,
            module_name=self.module_name,
            function_names=self.function_names,
            producers=self.producers,
            custom_problems=tuple(self.custom_problems),
            imported_functions=tuple(i for i in self.imports if i.kind == "func"),
            imported_memories=tuple(i for i in self.imports if i.kind == "memory"),
        )

    # -- known sections --------------------------------------------------------
    def _known(self, section_id: int, r: Reader) -> None:
        label = SECTION_NAMES[section_id]
        if section_id == 1:
            self.types = r.vector("type", lambda: self._functype(r), 3)
        elif section_id == 2:
            self.imports = r.vector("import", lambda: self._import(r), 4)
        elif section_id == 3:
            self.functions = r.vector("function", lambda: self._type_index(r, "function"))
        elif section_id == 5:
            self.memories = r.vector("memory", lambda: self._limits(r), 2)
        elif section_id == 7:
            self.exports = r.vector("export", lambda: self._export(r), 3)
        elif section_id == 8:
            self.start = r.u32("start function index")
        elif section_id == 10:
            self.code_count = r.count("code entry")
            return  # function bodies are not read
        else:
            return  # table, global, element, data, datacount, tag: sizes only
        if r.remaining:
            raise r.fail(f"{label} section has {r.remaining} unread bytes at its end")

    def _valtype(self, r: Reader) -> str:
        at = r.pos
        code = r.byte("value type")
        if code in (_REF, _REF_NULL):
            heap_at = r.pos
            heap = r.byte("heap type")
            if heap in HEAP_TYPES:
                name = HEAP_TYPES[heap]
            elif heap & 0x40:  # another negative s33: no heap type this parser knows
                raise r.fail(f"unsupported heap type 0x{heap:02x}", heap_at)
            else:  # a type index, as a non-negative s33
                r.pos = heap_at
                name = str(r.uleb(32, "heap type index"))
            return f"(ref {'null ' if code == _REF_NULL else ''}{name})"
        if code not in VALTYPES:
            raise r.fail(f"unsupported value type 0x{code:02x}", at)
        return VALTYPES[code]

    def _functype(self, r: Reader) -> FuncType:
        at = r.pos
        form = r.byte("type")
        if form != 0x60:
            raise r.fail(
                f"unsupported type form 0x{form:02x} (only function types are read)", at
            )
        params = tuple(r.vector("parameter", lambda: self._valtype(r)))
        results = tuple(r.vector("result", lambda: self._valtype(r)))
        return FuncType(params, results)

    def _type_index(self, r: Reader, what: str) -> int:
        at = r.pos
        index = r.u32(f"{what} type index")
        if index >= len(self.types):
            raise r.fail(
                f"{what} uses type {index}, but the module declares {len(self.types)} types", at
            )
        return index

    def _limits(self, r: Reader, memory: bool = True) -> MemoryType:
        at = r.pos
        flags = r.byte("limits")
        if flags > 0x07:
            raise r.fail(f"unsupported limits flags 0x{flags:02x}", at)
        bits = 64 if flags & 0x04 else 32
        minimum = r.uleb(bits, "limits minimum")
        maximum = r.uleb(bits, "limits maximum") if flags & 0x01 else None
        if maximum is not None and maximum < minimum:
            raise r.fail(f"limits maximum {maximum} is below the minimum {minimum}", at)
        if memory and bits == 32 and max(minimum, maximum or 0) > MAX_PAGES_32:
            raise r.fail(f"memory of more than {MAX_PAGES_32} pages (4 GiB)", at)
        return MemoryType(minimum, maximum, bool(flags & 0x02), bool(flags & 0x04))

    def _import(self, r: Reader) -> Import:
        at = r.pos
        module = r.name("import module name")
        name = r.name("import name")
        kind_at = r.pos
        kind = r.byte("import kind")
        if kind == 0:
            return Import(module, name, "func", self.types[self._type_index(r, "import")], None, at)
        if kind == 1:
            ref_at = r.pos
            element = self._valtype(r)
            if r.data[ref_at] not in REFTYPES and not element.startswith("(ref"):
                raise r.fail("unsupported table element type", ref_at)
            self._limits(r, memory=False)
            return Import(module, name, "table", offset=at)
        if kind == 2:
            return Import(module, name, "memory", memory=self._limits(r), offset=at)
        if kind == 3:
            self._valtype(r)
            if r.byte("global mutability") > 1:
                raise r.fail("bad global mutability flag", r.pos - 1)
            return Import(module, name, "global", offset=at)
        if kind == 4:
            if r.byte("tag attribute") != 0:
                raise r.fail("bad tag attribute", r.pos - 1)
            tag_type = self.types[self._type_index(r, "tag")]
            return Import(module, name, "tag", tag_type, offset=at)
        raise r.fail(f"unknown import kind 0x{kind:02x}", kind_at)

    def _export(self, r: Reader) -> Export:
        at = r.pos
        name = r.name("export name")
        kind_at = r.pos
        kind = r.byte("export kind")
        if kind not in EXTERNAL_KINDS:
            raise r.fail(f"unknown export kind 0x{kind:02x}", kind_at)
        return Export(name, EXTERNAL_KINDS[kind], r.u32("export index"), at)

    def _check_references(self, r: Reader) -> None:
        """Refuse what every engine refuses and what the report would misread."""
        if self.code_count is not None and self.code_count != len(self.functions):
            raise r.fail(
                f"the function section declares {len(self.functions)} functions "
                f"but the code section has {self.code_count} bodies"
            )
        if self.code_count is None and self.functions:
            raise r.fail(f"{len(self.functions)} functions declared but there is no code section")
        total = {
            "func": len(self.functions) + sum(1 for i in self.imports if i.kind == "func"),
            "memory": len(self.memories) + sum(1 for i in self.imports if i.kind == "memory"),
        }
        seen: set[str] = set()
        for export in self.exports:
            if export.name in seen:
                raise WasmParseError(export.offset, f"export name '{export.name}' is duplicated")
            seen.add(export.name)
            limit = total.get(export.kind)
            if limit is not None and export.index >= limit:
                raise WasmParseError(
                    export.offset,
                    f"export '{export.name}' refers to {export.kind} {export.index}, "
                    f"but the module has only {limit}",
                )
        if self.start is not None:
            if self.start >= total["func"]:
                raise r.fail(f"start function {self.start} does not exist")
            start_type = self._func_type(self.start)
            if start_type is not None and (start_type.params or start_type.results):
                raise r.fail(f"start function has type {start_type}; it must be () -> ()")

    def _func_type(self, index: int) -> FuncType | None:
        imported = [i for i in self.imports if i.kind == "func"]
        if index < len(imported):
            return imported[index].type
        return self.types[self.functions[index - len(imported)]]

    # -- custom sections -------------------------------------------------------
    def _custom(self, r: Reader) -> None:
        start = r.pos
        name = r.name("custom section name")
        self.sections.append(Section(0, name, start, r.end - start))
        try:
            if name == "name":
                self._name_section(r)
            elif name == "producers":
                self._producers(r)
        except WasmParseError as exc:
            # engines ignore custom sections, so a broken one is worth a warning only
            self.custom_problems.append(f"'{name}' section is malformed: {exc}")

    def _name_section(self, r: Reader) -> None:
        names: dict[int, str] = {}
        while r.remaining:
            kind = r.byte("name subsection id")
            size = r.u32("name subsection size")
            sub = r.sub(size, "name subsection")
            if kind == 0:
                self.module_name = sub.name("module name")
            elif kind == 1:
                for _ in range(sub.count("function name", 2)):
                    index = sub.u32("function index")
                    names[index] = sub.name("function name")
        self.function_names = names

    def _producers(self, r: Reader) -> None:
        fields: dict[str, tuple[tuple[str, str], ...]] = {}
        for _ in range(r.count("producers field", 2)):
            field_name = r.name("producers field name")
            values = r.vector(
                "producers value", lambda: (r.name("producer name"), r.name("producer version")), 2
            )
            fields[field_name] = tuple(values)
        if r.remaining:
            raise r.fail("unread bytes at the end of the producers section")
        self.producers = fields
