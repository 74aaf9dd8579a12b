"""What both wasmtime instance kinds share: types, traps, stores, exports, modules.

:mod:`.wasmtime_engine` (the public-API path and the engine) and
:mod:`.wasmtime_fast` (the C-API hot path) both build on this module and on
:mod:`.wasmtime_epoch` (how guest code is stopped); it imports neither of the
first two, so imports between them flow one way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import wasmtime

from ..errors import TrapFrame, UsageError
from .base import (
    MAX_FUEL,
    EngineInstance,
    EngineTrap,
    EngineTrapInfo,
    ExportDecl,
    FuncSig,
    HostFn,
    ImportDecl,
    Limits,
)
from .wasmtime_epoch import EpochTicker, Interrupter, StoreGuard

_VALTYPES = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


def signature(ty: Any) -> FuncSig | None:
    """The :class:`FuncSig` of a wasmtime extern type, or None when it is not a function."""
    if isinstance(ty, wasmtime.FuncType):
        return FuncSig(tuple(str(p) for p in ty.params), tuple(str(r) for r in ty.results))
    return None


def extern_kind(ty: Any) -> str:
    return {
        wasmtime.FuncType: "func",
        wasmtime.MemoryType: "memory",
        wasmtime.TableType: "table",
        wasmtime.GlobalType: "global",
    }.get(type(ty), "other")


def functype(sig: FuncSig) -> wasmtime.FuncType:
    """The wasmtime function type of ``sig`` (numeric value types only)."""
    return wasmtime.FuncType(
        [_VALTYPES[p]() for p in sig.params], [_VALTYPES[r]() for r in sig.results]
    )


def trap_info(exc: BaseException) -> EngineTrapInfo:
    """A wasmtime trap or error, normalised: its cause, its frames and what kind it is."""
    message = error_reason(getattr(exc, "message", None) or str(exc)) or type(exc).__name__
    frames: list[TrapFrame] = []
    for frame in getattr(exc, "frames", None) or ():
        name = frame.func_name or f"func[{frame.func_index}]"
        offset = frame.module_offset
        # A frame outside any instruction (e.g. the stack check at entry) has none.
        frames.append(TrapFrame(name, offset if 0 <= offset < 1 << 32 else None))
    kind = "trap"
    code = getattr(exc, "trap_code", None)
    if code == wasmtime.TrapCode.INTERRUPT:
        kind = "timeout"
    elif code == wasmtime.TrapCode.OUT_OF_FUEL:
        kind = "fuel"
    elif code == wasmtime.TrapCode.STACK_OVERFLOW:
        kind = "stack"
    return EngineTrapInfo(message, tuple(frames), kind)


def error_reason(text: str) -> str:
    """The cause of a wasmtime error, without its backtrace (frames are reported apart).

    wasmtime formats errors as "context\n<backtrace>\n\nCaused by:\n    reason".
    """
    lines = [line.strip() for line in text.strip().splitlines()]
    if "Caused by:" in lines:
        causes = [line for line in lines[lines.index("Caused by:") + 1 :] if line]
        if causes:
            return "; ".join(causes)
    return lines[0] if lines else ""


#: Builds one instance of a module: the public-API or the C-API kind.
InstanceFactory = Callable[
    ["WasmtimeModule", Mapping[tuple[str, str], HostFn], Limits], EngineInstance
]


class WasmtimeModule:
    """A compiled module, instantiated by whichever instance kind the engine chose."""

    engine_name = "wasmtime"

    def __init__(
        self,
        module: wasmtime.Module,
        wasm_engine: wasmtime.Engine,
        ticker: EpochTicker,
        interrupter: Interrupter,
        new_instance: InstanceFactory,
        native_imports: bool = False,
    ) -> None:
        #: Whether instantiate takes NativeHostFn values (the C-API path defines them).
        self.native_imports = native_imports
        self.module = module
        self.wasm_engine = wasm_engine
        self.ticker = ticker
        self.interrupter = interrupter
        self._new_instance = new_instance
        self.imports: Sequence[ImportDecl] = [
            ImportDecl(i.module, i.name or "", extern_kind(i.type), signature(i.type))
            for i in module.imports
        ]
        self.exports: Sequence[ExportDecl] = [_export_decl(e) for e in module.exports]

    def instantiate(
        self, host_functions: Mapping[tuple[str, str], HostFn], limits: Limits
    ) -> EngineInstance:
        return self._new_instance(self, host_functions, limits)


def unique_func_imports(imports: Sequence[ImportDecl]) -> list[ImportDecl]:
    """The function imports to define in a linker: each (module, name) once.

    A valid module may import the same function more than once (some TinyGo
    builds import ``wasi_snapshot_preview1.fd_write`` under two import
    entries); one definition serves every such entry, and a linker refuses a
    second one ("defined twice"). The first entry's signature is defined: a
    later entry of another type then fails to link, as it would on any host.
    """
    seen: set[tuple[str, str]] = set()
    unique: list[ImportDecl] = []
    for decl in imports:
        key = (decl.module, decl.name)
        if decl.kind == "func" and key not in seen:
            seen.add(key)
            unique.append(decl)
    return unique


def check_limits(limits: Limits) -> None:
    """Refuse limits wasmtime would misread: ctypes wraps an out-of-range u64 silently."""
    fuel, timeout = limits.fuel, limits.timeout_s
    if fuel is not None and not 0 <= fuel <= MAX_FUEL:
        raise UsageError(f"the fuel limit must be between 0 and {MAX_FUEL}, not {fuel}")
    if timeout is not None and not timeout >= 0:  # NaN fails this too
        raise UsageError(f"the timeout limit must be a number of seconds >= 0, not {timeout}")


def _export_decl(export: Any) -> ExportDecl:
    ty = export.type  # each read builds new wasmtime objects: read it once
    return ExportDecl(export.name, extern_kind(ty), signature(ty))


def new_store(compiled: WasmtimeModule, limits: Limits) -> tuple[wasmtime.Store, StoreGuard]:
    """A store with the limits applied, and its guard (shared by both instance kinds)."""
    check_limits(limits)
    store = wasmtime.Store(compiled.wasm_engine)
    if limits.max_memory_bytes is not None:
        store.set_limits(memory_size=limits.max_memory_bytes)
    if limits.fuel is not None:
        store.set_fuel(limits.fuel)
    guard = StoreGuard(store, compiled.ticker, compiled.interrupter)
    compiled.ticker.ensure_running()
    return store, guard


def engine_trap(exc: BaseException, guard: StoreGuard) -> EngineTrap:
    """The EngineTrap for a failed call, or the exception the guard kept for it (raised).

    A trap the guard caused carries its reason ("timeout", "interrupted") as its kind.
    """
    reason = guard.take()
    info = trap_info(exc)
    if reason == "interrupted":
        info = info._replace(message="interrupted", kind=reason)
    elif reason is not None:
        info = info._replace(kind=reason)
    return EngineTrap(info)


class Exports:
    """An instance's exports, looked up by name on demand and remembered.

    Never enumerated: wasmtime's export-by-index walks the export list, so
    listing a module with many exports that way takes quadratic time. A
    private linker holding the instance answers each name from a hash map.
    """

    __slots__ = ("_found", "_linker", "_store")

    def __init__(self, engine: wasmtime.Engine, store: wasmtime.Store, instance: Any) -> None:
        self._store = store
        self._linker = wasmtime.Linker(engine)
        self._linker.define_instance(store, "guest", instance)
        self._found: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        """The export ``name`` (a wasmtime Func, Memory, ...), or None."""
        try:
            return self._found[name]
        except KeyError:
            pass
        try:
            item = self._linker.get(self._store, "guest", name)
        except wasmtime.WasmtimeError:
            item = None
        self._found[name] = item
        return item

    def func(self, name: str) -> wasmtime.Func:
        """The exported function ``name``; KeyError when there is none by that name."""
        item = self.get(name)
        if not isinstance(item, wasmtime.Func):
            raise KeyError(name)
        return item

    def memory(self) -> wasmtime.Memory | None:
        item = self.get("memory")
        return item if isinstance(item, wasmtime.Memory) else None
