"""The wasmtime adapter (default engine). The only module that imports wasmtime."""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import wasmtime

from .base import (
    EngineInstance,
    EngineTrap,
    EngineTrapInfo,
    ExportDecl,
    FuncSig,
    GuestMemory,
    HostFn,
    ImportDecl,
    Limits,
)

_EPOCH_TICK_S = 0.005


def _sig(ty: Any) -> FuncSig | None:
    if isinstance(ty, wasmtime.FuncType):
        return FuncSig(tuple(str(p) for p in ty.params), tuple(str(r) for r in ty.results))
    return None


def _kind(ty: Any) -> str:
    return {
        wasmtime.FuncType: "func",
        wasmtime.MemoryType: "memory",
        wasmtime.TableType: "table",
        wasmtime.GlobalType: "global",
    }.get(type(ty), "other")


_VALTYPES = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


def _functype(sig: FuncSig) -> wasmtime.FuncType:
    return wasmtime.FuncType(
        [_VALTYPES[p]() for p in sig.params], [_VALTYPES[r]() for r in sig.results]
    )


class _EpochTicker:
    """One daemon thread per engine advancing its epoch; a deadline is a tick count.

    Cheaper than a timer thread per call, and it only starts when a timeout is used.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._engine = engine
        self._started = False
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        with self._lock:
            if not self._started:
                threading.Thread(target=self._run, name="wapc-epoch", daemon=True).start()
                self._started = True

    def _run(self) -> None:
        event = threading.Event()
        while not event.wait(_EPOCH_TICK_S):
            self._engine.increment_epoch()


class WasmtimeMemory:
    __slots__ = ("_memory", "_store")

    def __init__(self, memory: wasmtime.Memory, store: wasmtime.Store) -> None:
        self._memory = memory
        self._store = store

    def size(self) -> int:
        return int(self._memory.data_len(self._store))

    def _base(self) -> int:
        # Memory may move when it grows: fetch the base each time.
        address = ctypes.cast(self._memory.data_ptr(self._store), ctypes.c_void_p).value
        return int(address or 0)

    def read(self, ptr: int, length: int) -> bytes:
        return ctypes.string_at(self._base() + ptr, length)

    def write(self, ptr: int, data: bytes) -> None:
        ctypes.memmove(self._base() + ptr, data, len(data))


def _trap_info(exc: BaseException) -> EngineTrapInfo:
    message = _reason(getattr(exc, "message", None) or str(exc)) or type(exc).__name__
    frames: list[str] = []
    for frame in getattr(exc, "frames", None) or ():
        name = frame.func_name or f"func[{frame.func_index}]"
        offset = frame.module_offset
        # A frame outside any instruction (e.g. the stack check at entry) has none.
        frames.append(f"{name} @ {offset:#x}" if 0 <= offset < 1 << 32 else name)
    kind = "trap"
    code = getattr(exc, "trap_code", None)
    if code == wasmtime.TrapCode.INTERRUPT:
        kind = "timeout"
    elif code == wasmtime.TrapCode.OUT_OF_FUEL:
        kind = "fuel"
    elif code == wasmtime.TrapCode.STACK_OVERFLOW:
        kind = "stack"
    return EngineTrapInfo(message, tuple(frames), kind)


def _reason(text: str) -> str:
    """The cause of a wasmtime error, without its backtrace (frames are reported apart).

    wasmtime formats errors as "context\n<backtrace>\n\nCaused by:\n    reason".
    """
    lines = [line.strip() for line in text.strip().splitlines()]
    if "Caused by:" in lines:
        causes = [line for line in lines[lines.index("Caused by:") + 1 :] if line]
        if causes:
            return "; ".join(causes)
    return lines[0] if lines else ""


def new_store(compiled: WasmtimeModule, limits: Limits) -> wasmtime.Store:
    """A store with the limits applied (shared by the public-API and C-API paths)."""
    store = wasmtime.Store(compiled.wasm_engine)
    if limits.max_memory_bytes is not None:
        store.set_limits(memory_size=limits.max_memory_bytes)
    if limits.fuel is not None:
        store.set_fuel(limits.fuel)
    if limits.timeout_s is not None:
        compiled.ticker.ensure_running()
    return store


class TimeBudget:
    """``--timeout`` for one instance, as epoch deadlines.

    Instantiation (the start section) and the init exports draw on the budget of
    the first guest call after them, so a slow init cannot stretch that call past
    the limit; every later guest call gets a whole budget. Only time spent inside
    the engine counts: an idle Python caller between calls is not charged.
    """

    __slots__ = ("_spent", "_store", "fresh", "timeout_s")

    def __init__(self, store: wasmtime.Store, timeout_s: float | None) -> None:
        self._store = store
        self.timeout_s = timeout_s
        self._spent = 0.0
        self.fresh = True

    def _set(self, seconds: float) -> None:
        self._store.set_epoch_deadline(max(1, int(seconds / _EPOCH_TICK_S + 0.999)))

    def arm_init(self) -> float:
        """Arm for instantiation or an init export; pass the result to :meth:`spend`."""
        if self.timeout_s is not None:
            self._set(self.timeout_s - self._spent)
        return time.perf_counter()

    def spend(self, started: float) -> None:
        if self.fresh:
            self._spent += time.perf_counter() - started

    def arm_call(self) -> None:
        if self.timeout_s is not None:
            self._set(self.timeout_s - self._spent if self.fresh else self.timeout_s)
        self.fresh = False


class WasmtimeInstance:
    def __init__(
        self,
        compiled: WasmtimeModule,
        host_functions: Mapping[tuple[str, str], HostFn],
        limits: Limits,
    ) -> None:
        engine = compiled.wasm_engine
        self._limits = limits
        self._store = store = new_store(compiled, limits)
        self._budget = TimeBudget(store, limits.timeout_s)
        started = self._budget.arm_init()
        linker = wasmtime.Linker(engine)
        for decl in compiled.imports:
            fn = host_functions.get((decl.module, decl.name))
            if fn is not None and decl.sig is not None:
                linker.define_func(decl.module, decl.name, _functype(decl.sig), fn)
        try:
            self._instance = linker.instantiate(store, compiled.module)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise EngineTrap(_trap_info(exc)) from None
        self._budget.spend(started)
        exports = self._instance.exports(store)
        self._funcs: dict[str, wasmtime.Func] = {}
        memory = None
        for export in compiled.exports:
            item = exports[export.name]
            if isinstance(item, wasmtime.Func):
                self._funcs[export.name] = item
            elif export.name == "memory" and isinstance(item, wasmtime.Memory):
                memory = WasmtimeMemory(item, store)
        self.memory: GuestMemory | None = memory
        self._guest_call = self._funcs.get("__guest_call")

    def has_func(self, name: str) -> bool:
        return name in self._funcs

    def call(self, name: str, *args: int) -> int | None:
        started = self._budget.arm_init()
        try:
            result = self._funcs[name](self._store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise EngineTrap(_trap_info(exc)) from None
        finally:
            self._budget.spend(started)
        return result if isinstance(result, int) else None

    def guest_call(self, op_len: int, msg_len: int) -> int:
        self._budget.arm_call()
        try:
            return int(self._guest_call(self._store, op_len, msg_len))  # type: ignore[misc]
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise EngineTrap(_trap_info(exc)) from None


class WasmtimeModule:
    engine_name = "wasmtime"

    def __init__(self, owner: WasmtimeEngine, module: wasmtime.Module, wasm_engine: Any) -> None:
        self.module = module
        self.wasm_engine = wasm_engine
        self.ticker = owner.ticker_for(wasm_engine)
        self.fast = owner.fast
        self.imports: Sequence[ImportDecl] = [
            ImportDecl(i.module, i.name or "", _kind(i.type), _sig(i.type)) for i in module.imports
        ]
        self.exports: Sequence[ExportDecl] = [
            ExportDecl(e.name, _kind(e.type), _sig(e.type)) for e in module.exports
        ]

    def instantiate(
        self, host_functions: Mapping[tuple[str, str], HostFn], limits: Limits
    ) -> EngineInstance:
        if self.fast:
            from .wasmtime_fast import FastInstance

            return FastInstance(self, host_functions, limits)
        return WasmtimeInstance(self, host_functions, limits)


class WasmtimeEngine:
    name = "wasmtime"

    def __init__(self) -> None:
        self.version = _version()
        self.fast = _fast_path(self.version)
        self._engines: dict[tuple[bool, bool], wasmtime.Engine] = {}
        self._tickers: dict[int, _EpochTicker] = {}

    def wasm_engine(self, limits: Limits) -> wasmtime.Engine:
        # Fuel and epoch checks change generated code: one engine per combination.
        key = (limits.fuel is not None, limits.timeout_s is not None)
        engine = self._engines.get(key)
        if engine is None:
            config = wasmtime.Config()
            config.consume_fuel = key[0]
            config.epoch_interruption = key[1]
            # Linear memory stays where it was first mapped (a 32-bit memory fits the
            # default 4 GiB reservation, so growing never needs to move it): the
            # fast path's memoryview then stays valid as memory grows (ViewMemory).
            config.memory_may_move = False
            engine = self._engines[key] = wasmtime.Engine(config)
        return engine

    def ticker_for(self, engine: wasmtime.Engine) -> _EpochTicker:
        return self._tickers.setdefault(id(engine), _EpochTicker(engine))

    def compile(self, wasm: bytes, limits: Limits) -> WasmtimeModule:
        engine = self.wasm_engine(limits)
        try:
            module = wasmtime.Module(engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise ValueError(str(exc).strip().splitlines()[0]) from None
        return WasmtimeModule(self, module, engine)

    # -- compiled-module cache (wapc_cli.runtime.cache) ------------------------------------
    def code_config(self, limits: Limits) -> str:
        fuel, epoch = limits.fuel is not None, limits.timeout_s is not None
        return f"consume_fuel={int(fuel)};epoch_interruption={int(epoch)};memory_may_move=0"

    def serialize(self, compiled: Any) -> bytes:
        return bytes(compiled.module.serialize())

    def deserialize(self, artifact: bytes, limits: Limits) -> WasmtimeModule:
        # Only reached with a checksum-verified artifact this cache wrote itself.
        engine = self.wasm_engine(limits)
        return WasmtimeModule(self, wasmtime.Module.deserialize(engine, artifact), engine)


def _version() -> str:
    # The wheel's dist-info sits next to the package: reading its name avoids
    # importing importlib.metadata (~15 ms) on every cold start.
    import os

    site = os.path.dirname(os.path.dirname(wasmtime.__file__))
    for entry in os.listdir(site):
        if entry.startswith("wasmtime-") and entry.endswith(".dist-info"):
            return entry[len("wasmtime-") : -len(".dist-info")]
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


def _fast_path(version: str) -> bool:
    """Use the C-API hot path (wasmtime_fast) unless told not to or untested.

    ``WAPC_WASMTIME_PATH=public`` forces wasmtime-py's public API (the fallback,
    kept tested); ``fast`` forces the C-API path even on an untested version.
    """
    import os

    choice = os.environ.get("WAPC_WASMTIME_PATH", "auto").strip().lower()
    if choice == "public":
        return False
    try:
        from . import wasmtime_fast
    except Exception:  # pragma: no cover - a wheel without the C symbols
        return False
    if not wasmtime_fast.pins_memory():
        return False
    return choice == "fast" or wasmtime_fast.supported(version)
