"""The static checks: read the module (never run it) and say what will go wrong."""

from __future__ import annotations

import difflib

from ... import abi
from ...errors import NotWasmError
from ...runtime.guest import check_wasm_bytes
from ...wasm.parse import FuncType, Import, Module, WasmParseError, display_name, parse_module
from ..debuginfo.summary import debug_info
from ..fingerprint import guess_sdk
from .claims import actor_claims, kubewarden_metadata
from .report import Counts, ExportInfo, Finding, ImportInfo, InitInfo, MemoryInfo, Report

#: A memory capped below this many pages cannot hold a modest payload twice over.
SMALL_MAX_PAGES = 16


def inspect_module(data: bytes, name: str) -> Report:
    """Report on ``data`` without running it; raise ``NotWasmError`` when it is not wasm."""
    check_wasm_bytes(data, name)
    try:
        module = parse_module(data)
    except WasmParseError as exc:
        raise NotWasmError(f"module '{name}' is not a valid WebAssembly module: {exc}") from None
    return Inspector(module, data, name).report()


def _sig(t: FuncType | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (t.params, t.results) if t is not None else ((), ())


def _show(sig: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


class Inspector:
    """Collects the findings about one parsed module into a :class:`Report`."""

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
            debug_info=debug_info(
                self.data, name_section=any(s.name == "name" for s in m.customs)
            ),
            wasmcloud=actor_claims(m, self.data),
            kubewarden=kubewarden_metadata(m, self.data),
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
            expected = _wasi_type(imp.module, imp.name)
            if expected is None:
                self.notes.append(
                    f"{where}: not implemented by wapc's WASI; it returns ENOSYS (52)"
                )
            elif (params, results) != expected:
                self.notes.append(
                    f"{where}: has type {_show((params, results))}, but WASI defines "
                    f"{_show(expected)}; calling it traps"
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


def _wasi_type(module: str, name: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The type the WASI host gives ``module.name``, or None when it answers ENOSYS."""
    # The WASI host's own table, by module and name, is the one source of truth
    # (wasi_unstable has no sock_accept; a WASI name of another type traps).
    from ...runtime.wasi import WASI_TABLE

    entry = WASI_TABLE.get((module, name))
    return None if entry is None else (entry.sig.params, entry.sig.results)
