"""Static conformance report of a waPC guest: read the module, never run it.

``inspect_module(data, name)`` parses the binary (``wasmparse``), checks it
against the ABI in ``abi`` and returns a frozen ``Report``: what the module
imports and exports, how it initialises, which toolchain probably built it
(with the evidence), and every error and warning with what will go wrong at
run time and how to fix it. A module that is not WebAssembly at all raises
``NotWasmError``; a non-conformant one is a report with ``conformant=False``.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass
from typing import Any

from .. import abi
from ..engines.base import Limits
from ..errors import EngineUnavailable, NotWasmError, WapcError
from ..runtime.guest import check_wasm_bytes
from ..wasm.parse import FuncType, Import, Module, WasmParseError, display_name, parse_module
from .fingerprint import SdkGuess, guess_sdk

__all__ = [
    "Counts",
    "ExportInfo",
    "Finding",
    "ImportInfo",
    "InitInfo",
    "InitRun",
    "MemoryInfo",
    "Report",
    "RunResult",
    "SdkGuess",
    "display_name",
    "inspect_module",
    "run_init",
]

REPORT_FORMAT = 1
PAGE = 65536
#: A memory capped below this many pages cannot hold a modest payload twice over.
SMALL_MAX_PAGES = 16


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
        }


def inspect_module(data: bytes, name: str) -> Report:
    """Report on ``data`` without running it; raise ``NotWasmError`` when it is not wasm."""
    check_wasm_bytes(data, name)
    try:
        module = parse_module(data)
    except WasmParseError as exc:
        raise NotWasmError(f"module '{name}' is not a valid WebAssembly module: {exc}") from None
    return _Inspector(module, data, name).report()


def _sig(t: FuncType | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (t.params, t.results) if t is not None else ((), ())


def _show(sig: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


class _Inspector:
    def __init__(self, module: Module, data: bytes, name: str) -> None:
        self.m = module
        self.data = data
        self.name = name
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []
        self.notes: list[str] = []

    def error(self, code: str, message: str, impact: str, fix: str) -> None:
        self.errors.append(Finding(code, message, impact, fix))

    def warn(self, code: str, message: str, impact: str, fix: str) -> None:
        self.warnings.append(Finding(code, message, impact, fix))

    def report(self) -> Report:
        m = self.m
        exports = self._exports()
        memory = self._memory()
        imports = tuple(self._import(i) for i in m.imports)
        init = self._init()
        self._request_reply(imports)
        for problem in m.custom_problems:
            self.warn(
                "malformed-custom-section", problem,
                "engines ignore it, but debuggers and this report lose function names or "
                "producer information",
                "rebuild, or strip the section (wasm-strip / wasm-opt --strip-debug)",
            )
        wasi_modules = tuple(sorted({i.module for i in imports if i.role == "wasi"}))
        sdk = guess_sdk(m, self.data, init.exports, wasi_modules)
        return Report(
            module=self.name,
            size=m.size,
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
            notes=tuple(self.notes),
            imports=imports,
            exports=exports,
            memory=memory,
            init=init,
            wasi_modules=wasi_modules,
            sdk=sdk,
            custom_sections=tuple((s.name, s.size) for s in m.customs),
            producers=m.producers,
            counts=Counts(
                types=len(m.types), imports=len(m.imports),
                imported_functions=len(m.imported_functions), functions=len(m.functions),
                exports=len(m.exports), custom_sections=len(m.customs),
            ),
        )

    # -- exports ---------------------------------------------------------------
    def _exports(self) -> tuple[ExportInfo, ...]:
        m = self.m
        infos = []
        for e in m.exports:
            params = results = None
            if e.kind == "func":
                params, results = _sig(m.func_type(e.index))
            role = (
                "guest_call" if e.name == abi.GUEST_CALL
                else "memory" if e.name == abi.MEMORY
                else "init" if e.name in abi.INIT_EXPORTS
                else "other"
            )
            infos.append(ExportInfo(e.name, e.kind, params, results, role))
        by_name = {e.name: e for e in infos}
        guest_call = by_name.get(abi.GUEST_CALL)
        expected = _show(abi.GUEST_CALL_SIGNATURE)
        fix = (
            f"export a function __guest_call{expected} (the SDKs do: Rust wapc-guest, "
            "AssemblyScript entry file, TinyGo //export, C __attribute__((export_name)))"
        )
        if guest_call is None:
            near = difflib.get_close_matches(abi.GUEST_CALL, list(by_name), 1, 0.75)
            hint = f" (there is an export '{display_name(near[0])}')" if near else ""
            self.error(
                "missing-guest-call", f"does not export '__guest_call'{hint}",
                "no host can call it: every call fails before any guest code runs", fix,
            )
        elif guest_call.kind != "func":
            self.error(
                "guest-call-not-function", f"'__guest_call' is exported as a {guest_call.kind}",
                "no host can call it: every call fails before any guest code runs", fix,
            )
        elif (guest_call.params, guest_call.results) != abi.GUEST_CALL_SIGNATURE:
            actual = _show((guest_call.params or (), guest_call.results or ()))
            self.error(
                "guest-call-signature",
                f"'__guest_call' has type {actual}, expected {expected}",
                "hosts pass (op_len, msg_len) as two i32 and read an i32 result: "
                "every call fails with a type mismatch",
                f"declare it as __guest_call{expected}: both lengths and the result are i32",
            )
        return tuple(infos)

    def _memory(self) -> MemoryInfo | None:
        m = self.m
        export = next((e for e in m.exports if e.name == abi.MEMORY), None)
        fix = "export the module's memory under the name 'memory' (linkers do by default)"
        if export is None or export.kind != "memory":
            others = [e.name for e in m.exports if e.kind == "memory"]
            if export is not None:
                detail = f"'memory' is exported as a {export.kind}, not a memory"
            elif others:
                detail = f"its memory is exported as '{display_name(others[0])}', not 'memory'"
            elif any(i.kind == "memory" for i in m.imports) or m.memories:
                detail = "does not export its memory"
            else:
                detail = "has no memory at all"
            self.error(
                "missing-memory", detail,
                "hosts find the guest's buffers through the export 'memory': the first "
                "__guest_request or __guest_response fails",
                fix,
            )
            return None
        mem, imported = m.memory_type(export.index)
        if mem is None:
            return None
        info = MemoryInfo(
            mem.minimum, mem.maximum, mem.shared, mem.memory64,
            f"{imported.module}.{imported.name}" if imported else None,
        )
        if mem.memory64:
            self.error(
                "memory64", "memory 'memory' is a 64-bit memory (memory64)",
                "waPC passes pointers and lengths as i32: hosts cannot address it",
                "build for wasm32, not wasm64",
            )
        if mem.shared:
            self.warn(
                "shared-memory", "memory 'memory' is shared (threads proposal)",
                "waPC hosts run one call at a time and some engines refuse shared memory",
                "build without threads (-pthread / +atomics,+bulk-memory)",
            )
        if mem.maximum is not None and mem.maximum < SMALL_MAX_PAGES:
            self.warn(
                "small-memory-max",
                f"memory is capped at {mem.maximum} page(s) ({mem.maximum * 64} KiB)",
                "the guest cannot grow its memory past that: larger payloads or "
                "responses make allocation fail and the call trap",
                "raise or remove the maximum (e.g. wasm-ld --max-memory=...)",
            )
        return info

    # -- imports ---------------------------------------------------------------
    def _import(self, imp: Import) -> ImportInfo:
        params, results = _sig(imp.type) if imp.kind == "func" else ((), ())
        where = f"import '{display_name(imp.module + '.' + imp.name)}'"
        role, ok = "unsupported", False
        if imp.module == abi.WAPC_MODULE:
            role = "wapc"
            ok = self._known_import(imp, where, abi.HOST_IMPORTS.get(imp.name))
        elif imp.module in abi.WASI_MODULES and imp.kind == "func":
            role, ok = "wasi", True
            if not _wasi_provided(imp.name):
                self.notes.append(
                    f"{where}: not implemented by wapc's WASI; it returns ENOSYS (52)"
                )
        elif (imp.module, imp.name) in abi.ENV_IMPORTS and imp.kind == "func":
            role = "env"
            ok = self._known_import(imp, where, abi.ENV_IMPORTS[(imp.module, imp.name)])
        else:
            self._unsupported(imp, where)
        return ImportInfo(imp.module, imp.name, imp.kind, params, results, role, ok)

    def _known_import(
        self, imp: Import, where: str, known: tuple[tuple[str, ...], tuple[str, ...]] | None
    ) -> bool:
        if known is None or imp.kind != "func":
            near = difflib.get_close_matches(imp.name, list(abi.HOST_IMPORTS), 1, 0.75)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            what = "not one of the nine waPC host functions" if imp.kind == "func" else (
                f"a {imp.kind}; waPC hosts provide only functions"
            )
            self.error(
                "unknown-wapc-import", f"{where} is {what}{hint}",
                "instantiation fails: no waPC host provides it",
                "import only __guest_request, __guest_response, __guest_error, __host_call, "
                "__host_response(_len), __host_error(_len) and __console_log from 'wapc'",
            )
            return False
        actual = _sig(imp.type)
        if actual != known:
            self.error(
                "import-signature", f"{where} has type {_show(actual)}, expected {_show(known)}",
                "instantiation fails with an incompatible import type",
                f"declare it as {imp.name}{_show(known)} (all waPC parameters are i32)",
            )
            return False
        return True

    def _unsupported(self, imp: Import, where: str) -> None:
        impact = f"instantiation fails: no waPC host provides module '{display_name(imp.module)}'"
        if imp.kind == "memory":
            message = f"{where}: the module imports its memory"
            impact = "waPC hosts do not supply memory: instantiation fails"
            fix = "let the module define and export its memory (drop --import-memory)"
        elif imp.module in abi.WASI_MODULES or imp.module == abi.WAPC_MODULE:
            message = f"{where} is a {imp.kind}; hosts provide only functions there"
            fix = "remove the import"
        elif imp.module in ("__wbindgen_placeholder__", "wbg", "__wbindgen_externref_xform__"):
            message = f"{where} comes from wasm-bindgen"
            fix = "wasm-bindgen targets JavaScript hosts; build the guest without it"
        elif imp.module == "env":
            message = f"{where} ({imp.kind}) is an undefined symbol the linker left as an import"
            fix = "link in its definition or stop calling it (wasm-ld --allow-undefined hides this)"
        elif imp.module.startswith("wasi:") or imp.module.startswith("wasi_snapshot_preview2"):
            message = f"{where} is a WASI 0.2 (component) import"
            fix = "build a core module for WASI preview1 (wasm32-wasip1), not a component"
        else:
            message = f"{where} ({imp.kind}) cannot be satisfied by a waPC host"
            fix = f"remove the dependency on module '{display_name(imp.module)}'"
        self.error("unsupported-import", message, impact, fix)

    def _request_reply(self, imports: tuple[ImportInfo, ...]) -> None:
        wapc = {i.name for i in imports if i.role == "wapc" and i.ok}
        if "__guest_request" not in wapc:
            self.warn(
                "no-guest-request", "does not import wapc.__guest_request",
                "the guest cannot read the operation name or the payload of any call",
                "call __guest_request(op_ptr, ptr) at the start of __guest_call",
            )
        if not wapc & {"__guest_response", "__guest_error"}:
            self.warn(
                "no-reply", "imports neither wapc.__guest_response nor wapc.__guest_error",
                "the guest cannot answer: a call that returns 1 has no response, 0 no error",
                "report results with __guest_response(ptr, len) / __guest_error(ptr, len)",
            )
        if "__host_call" in wapc and "__host_response" not in wapc:
            self.notes.append(
                "imports __host_call but not __host_response: host answers are never read"
            )

    # -- initialisation ----------------------------------------------------------
    def _init(self) -> InitInfo:
        m = self.m
        present = []
        for e in m.exports:
            if e.name not in abi.INIT_EXPORTS:
                continue
            if e.kind != "func":
                self.warn(
                    "init-not-function", f"'{e.name}' is exported as a {e.kind}",
                    "hosts look for a function by that name and skip it",
                    f"export '{e.name}' as a function, or rename the {e.kind}",
                )
                continue
            sig = _sig(m.func_type(e.index))
            if sig != ((), ()):
                self.error(
                    "init-signature", f"init export '{e.name}' has type {_show(sig)}",
                    "hosts call it with no arguments and no result: initialisation fails",
                    f"declare {e.name} as () -> ()",
                )
                continue
            present.append(e.name)
        ordered = tuple(n for n in abi.INIT_EXPORTS if n in present)
        if "_start" in ordered and "_initialize" in ordered:
            self.warn(
                "command-and-reactor", "exports both '_start' and '_initialize'",
                "WASI defines a module as a command OR a reactor; hosts differ in which "
                "they call, so constructors may run twice or not at all",
                "build as a reactor (-mexec-model=reactor) or as a command, not both",
            )
        start_name = None
        if m.start is not None:
            found = m.function_name(m.start)
            start_name = display_name(found) if found else f"function {m.start}"
        if "_start" in ordered:
            style = "command"
        elif "_initialize" in ordered:
            style = "reactor"
        elif "wapc_init" in ordered:
            style = "wapc_init"
        elif m.start is not None:
            style = "start_section"
        else:
            style = "none"
        return InitInfo(m.start is not None, start_name, ordered, style)


def _wasi_provided(name: str) -> bool:
    # The WASI host's own (private) list is the one source of truth; without it,
    # assume provided rather than raise false alarms.
    from ..runtime import wasi

    implemented = getattr(wasi, "_IMPLEMENTED", None)
    return implemented is None or name in implemented


# -- --run: the one part that executes the module (a smoke test for CI) -------------


@dataclass(frozen=True, slots=True)
class InitRun:
    step: str  # "compile", "start" (instantiation incl. the start section), "_start", ...
    outcome: str  # "ok" | "exit(0)" | "trap" | "error" (compile)
    ms: float

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "outcome": self.outcome, "ms": round(self.ms, 3)}


@dataclass(frozen=True, slots=True)
class RunResult:
    """What instantiating the module and running its init exports did."""

    engine: str
    steps: tuple[InitRun, ...]
    logs: tuple[tuple[str, str], ...]  # (source, line)
    error: WapcError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "ok": self.ok,
            "steps": [s.as_json() for s in self.steps],
            "logs": [{"source": s, "message": m} for s, m in self.logs],
            "error": str(self.error) if self.error is not None else None,
            "exit_code": int(self.error.exit_code) if self.error is not None else 0,
        }


def run_init(
    data: bytes, name: str, *, engine: str = "auto", limits: Limits | None = None
) -> RunResult:
    """Compile, instantiate (start section) and run the init exports, once.

    Failures (the engine refusing the module, a trap) are kept in the result;
    only an engine that cannot load here raises (``EngineUnavailable``).
    """
    from ..engines import get_engine
    from ..runtime.events import InitStep
    from ..runtime.guest import WapcModule

    started = time.perf_counter()
    try:
        module = WapcModule.from_bytes(data, engine=engine, limits=limits, name=name)
    except EngineUnavailable:
        raise
    except WapcError as exc:  # the engine validates code this reader skips
        ms = (time.perf_counter() - started) * 1000
        return RunResult(get_engine(engine).name, (InitRun("compile", "error", ms),), (), exc)
    steps: list[InitRun] = [InitRun("compile", "ok", module.compile_ms)]
    logs: list[tuple[str, str]] = []

    def tracer(event: object) -> None:
        if isinstance(event, InitStep):
            steps.append(InitRun(event.step, event.outcome, event.duration_ns / 1e6))

    error: WapcError | None = None
    started = time.perf_counter()
    try:
        module.instantiate(on_log=lambda line, source: logs.append((source, line)), tracer=tracer)
    except WapcError as exc:
        error = exc
        if len(steps) == 1:  # the start section trapped: the tracer never heard of it
            steps.append(InitRun("start", "trap", (time.perf_counter() - started) * 1000))
    return RunResult(module.engine_name, tuple(steps), tuple(logs), error)
