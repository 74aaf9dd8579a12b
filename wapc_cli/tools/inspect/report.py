"""The inspect report: what a module imports, exports and needs, as frozen data.

Every class has ``as_json()``, the ``wapc inspect --json`` shape (docs/inspect.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...wasm.constants import PAGE
from ..debuginfo.summary import DebugInfo
from ..fingerprint import SdkGuess
from .claims import ActorClaims

REPORT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Finding:
    """One error or warning: what is wrong, what it breaks at run time, how to fix it."""

    code: str
    message: str
    impact: str
    fix: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "impact": self.impact, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class ImportInfo:
    module: str
    name: str
    kind: str
    params: tuple[str, ...]
    results: tuple[str, ...]
    role: str  # "wapc" | "wasi" | "env" | "unsupported"
    ok: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "module": self.module, "name": self.name, "kind": self.kind,
            "params": list(self.params), "results": list(self.results),
            "role": self.role, "ok": self.ok,
        }


@dataclass(frozen=True, slots=True)
class ExportInfo:
    name: str
    kind: str
    params: tuple[str, ...] | None  # functions only
    results: tuple[str, ...] | None
    role: str  # "guest_call" | "memory" | "init" | "other"

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "role": self.role}
        if self.params is not None and self.results is not None:
            data["params"], data["results"] = list(self.params), list(self.results)
        return data


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    """The memory exported as ``memory``."""

    min_pages: int
    max_pages: int | None
    shared: bool
    memory64: bool
    imported_from: str | None  # "module.name" when the module imports it

    def as_json(self) -> dict[str, Any]:
        return {
            "min_pages": self.min_pages, "max_pages": self.max_pages,
            "min_bytes": self.min_pages * PAGE,
            "max_bytes": self.max_pages * PAGE if self.max_pages is not None else None,
            "shared": self.shared, "memory64": self.memory64,
            "imported_from": self.imported_from,
        }


@dataclass(frozen=True, slots=True)
class InitInfo:
    start_section: bool
    start_function: str | None
    exports: tuple[str, ...]  # init exports present, in the order a host runs them
    style: str  # "command" | "reactor" | "wapc_init" | "start_section" | "none"

    def as_json(self) -> dict[str, Any]:
        return {
            "start_section": self.start_section, "start_function": self.start_function,
            "exports": list(self.exports), "style": self.style,
        }


@dataclass(frozen=True, slots=True)
class Counts:
    types: int
    imports: int
    imported_functions: int
    functions: int  # defined in the module
    exports: int
    custom_sections: int

    def as_json(self) -> dict[str, int]:
        return {
            "types": self.types, "imports": self.imports,
            "imported_functions": self.imported_functions, "functions": self.functions,
            "exports": self.exports, "custom_sections": self.custom_sections,
        }


@dataclass(frozen=True, slots=True)
class Report:
    module: str
    size: int
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    notes: tuple[str, ...]
    imports: tuple[ImportInfo, ...]
    exports: tuple[ExportInfo, ...]
    memory: MemoryInfo | None
    init: InitInfo
    wasi_modules: tuple[str, ...]
    sdk: SdkGuess
    custom_sections: tuple[tuple[str, int], ...]
    producers: dict[str, tuple[tuple[str, str], ...]]
    counts: Counts
    debug_info: DebugInfo | None = None  # DWARF and names (wapc_cli.tools.debuginfo)
    #: wasmCloud actor claims (a ``jwt`` / ``wasmcloud_jwt`` section), when signed.
    wasmcloud: ActorClaims | None = None
    #: Kubewarden policy metadata (``io.kubewarden.metadata``), when annotated.
    kubewarden: dict[str, Any] | None = None

    @property
    def conformant(self) -> bool:
        return not self.errors

    @property
    def wasi(self) -> bool:
        return bool(self.wasi_modules)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "module": self.module,
            "size": self.size,
            "conformant": self.conformant,
            "errors": [f.as_json() for f in self.errors],
            "warnings": [f.as_json() for f in self.warnings],
            "notes": list(self.notes),
            "imports": [i.as_json() for i in self.imports],
            "exports": [e.as_json() for e in self.exports],
            "memory": self.memory.as_json() if self.memory else None,
            "init": self.init.as_json(),
            "wasi": self.wasi,
            "wasi_modules": list(self.wasi_modules),
            "sdk": self.sdk.as_json(),
            "custom_sections": [{"name": n, "size": s} for n, s in self.custom_sections],
            "producers": {
                k: [{"name": n, "version": v} for n, v in vals]
                for k, vals in self.producers.items()
            },
            "counts": self.counts.as_json(),
            "debug_info": None if self.debug_info is None else self.debug_info.as_json(),
            "wasmcloud": None if self.wasmcloud is None else self.wasmcloud.as_json(),
            "kubewarden": self.kubewarden,
        }
