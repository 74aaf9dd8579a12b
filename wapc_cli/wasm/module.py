"""What the parser reads out of a module: plain, immutable values (see :mod:`.parse`)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The abstract heap types of the reference-types, GC and exception proposals, by code.
HEAP_TYPES = {
    0x73: "nofunc", 0x72: "noextern", 0x71: "none", 0x70: "func", 0x6F: "extern",
    0x6E: "any", 0x6D: "eq", 0x6C: "i31", 0x6B: "struct", 0x6A: "array", 0x69: "exn",
    0x74: "noexn",
}
#: Reference types by their one-byte abbreviation (``funcref`` is ``(ref null func)``).
REFTYPES = {code: f"{name}ref" for code, name in HEAP_TYPES.items()} | {
    0x73: "nullfuncref", 0x72: "nullexternref", 0x71: "nullref", 0x74: "nullexnref",
}
VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"} | REFTYPES
EXTERNAL_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


@dataclass(frozen=True, slots=True)
class FuncType:
    params: tuple[str, ...]
    results: tuple[str, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass(frozen=True, slots=True)
class MemoryType:
    minimum: int  # pages of 64 KiB
    maximum: int | None
    shared: bool = False
    memory64: bool = False


@dataclass(frozen=True, slots=True)
class Import:
    module: str
    name: str
    kind: str  # "func" | "table" | "memory" | "global" | "tag"
    type: FuncType | None = None  # functions (and tags)
    memory: MemoryType | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Export:
    name: str
    kind: str
    index: int
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Section:
    id: int
    name: str  # the custom section's own name for id 0, else the section kind
    offset: int  # of the section's contents
    size: int


@dataclass(frozen=True, slots=True)
class Module:
    size: int
    sections: tuple[Section, ...]
    types: tuple[FuncType, ...]
    imports: tuple[Import, ...]
    functions: tuple[int, ...]  # type index of each function defined in the module
    memories: tuple[MemoryType, ...]  # defined (not imported) memories
    exports: tuple[Export, ...]
    start: int | None
    code_count: int | None
    module_name: str | None = None
    function_names: dict[int, str] = field(default_factory=dict)
    #: ``producers`` section: field ("language", "processed-by", "sdk") -> (name, version)s
    producers: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    custom_problems: tuple[str, ...] = ()
    # Index spaces put imports first; kept once here so lookups stay O(1).
    imported_functions: tuple[Import, ...] = ()
    imported_memories: tuple[Import, ...] = ()

    @property
    def customs(self) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if s.id == 0)

    def section(self, section_id: int) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)

    def func_type(self, index: int) -> FuncType | None:
        """The type of function ``index`` in the function index space (imports first)."""
        imported = self.imported_functions
        if 0 <= index < len(imported):
            return imported[index].type
        local = index - len(imported)
        if 0 <= local < len(self.functions):
            type_index = self.functions[local]
            return self.types[type_index] if type_index < len(self.types) else None
        return None

    def memory_type(self, index: int) -> tuple[MemoryType | None, Import | None]:
        """Memory ``index`` (imports first) and, when imported, its import."""
        imported = self.imported_memories
        if 0 <= index < len(imported):
            return imported[index].memory, imported[index]
        local = index - len(imported)
        if 0 <= local < len(self.memories):
            return self.memories[local], None
        return None, None

    def function_name(self, index: int) -> str | None:
        name = self.function_names.get(index)
        if name is None:
            imported = self.imported_functions
            if 0 <= index < len(imported):
                return f"{imported[index].module}.{imported[index].name}"
        return name


def display_name(text: str, limit: int = 100) -> str:
    """An (untrusted) name from a module, safe to print: control characters escaped, capped."""
    shown = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[:limit]
    )
    return shown + ("..." if len(text) > limit else "")
