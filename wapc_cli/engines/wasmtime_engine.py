"""The wasmtime adapter (default engine): the engine, and instances on wasmtime-py's public API.

The C-API hot path (:mod:`.wasmtime_fast`) replaces those instances where it is
supported; what both kinds share is in :mod:`.wasmtime_common`.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from collections.abc import Mapping
from typing import Any

import wasmtime

from .base import Capabilities, GuestMemory, HostFn, Limits
from .wasmtime_common import (
    Exports,
    InstanceFactory,
    WasmtimeModule,
    engine_trap,
    functype,
    new_store,
    unique_func_imports,
)
from .wasmtime_epoch import EpochTicker, Interrupter, TimeBudget
from .wasmtime_signals import DEFERRED, deliver


class WasmtimeMemory:
    """Linear memory through wasmtime-py's public API: every access asks for the base.

    It holds its store weakly: wasmtime-py keeps every ``define_func`` callable in a
    global table until the store goes, and those callables (the session's imports)
    reach this memory, so a strong reference would keep every store alive for good.
    The instance holds the store; once it is gone, so is this memory.
    """

    __slots__ = ("_memory", "_store")
    lends_views = False
    native_handle: tuple[int, int, int, int, object] | None = None

    def __init__(self, memory: wasmtime.Memory, store: wasmtime.Store) -> None:
        self._memory = memory
        self._store = weakref.ref(store)

    def _live_store(self) -> wasmtime.Store:
        store = self._store()
        if store is None:
            raise RuntimeError("this memory's instance is gone")
        return store

    def size(self) -> int:
        return int(self._memory.data_len(self._live_store()))

    def _base(self) -> int:
        # Memory may move when it grows: fetch the base each time.
        address = ctypes.cast(self._memory.data_ptr(self._live_store()), ctypes.c_void_p).value
        return int(address or 0)

    def read(self, ptr: int, length: int) -> bytes:
        return ctypes.string_at(self._base() + ptr, length)

    def write(self, ptr: int, data: bytes) -> None:
        ctypes.memmove(self._base() + ptr, data, len(data))


class WasmtimeInstance:
    """An instance on wasmtime-py's public API (the fallback of :mod:`.wasmtime_fast`)."""

    unsigned_args = False
    hot_path = "public-api"

    def __init__(
        self,
        compiled: WasmtimeModule,
        host_functions: Mapping[tuple[str, str], HostFn],
        limits: Limits,
    ) -> None:
        engine = compiled.wasm_engine
        self._store, self._guard = store, guard = new_store(compiled, limits)
        self._budget = TimeBudget(guard, limits.timeout_s)
        started = self._budget.arm_init()
        linker = wasmtime.Linker(engine)
        for decl in unique_func_imports(compiled.imports):
            fn = host_functions.get((decl.module, decl.name))
            if fn is not None and decl.sig is not None:
                linker.define_func(decl.module, decl.name, functype(decl.sig), fn)
        try:
            self._instance = linker.instantiate(store, compiled.module)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise engine_trap(exc, guard) from None
        self._budget.spend(started)
        self._exports = Exports(engine, store, self._instance)
        memory = self._exports.memory()
        self.memory: GuestMemory | None = None if memory is None else WasmtimeMemory(memory, store)

    def has_func(self, name: str) -> bool:
        return isinstance(self._exports.get(name), wasmtime.Func)

    def call(self, name: str, *args: int) -> int | None:
        func = self._exports.func(name)
        started = self._budget.arm_init()
        try:
            result = func(self._store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise engine_trap(exc, self._guard) from None
        finally:
            self._budget.spend(started)
        if DEFERRED:
            deliver()
        return result if isinstance(result, int) else None

    def guest_call(self, op_len: int, msg_len: int) -> int:
        func = self._exports.func("__guest_call")
        self._budget.arm_call()
        try:
            result = func(self._store, op_len, msg_len)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise engine_trap(exc, self._guard) from None
        if DEFERRED:
            deliver()
        return int(result)  # type: ignore[arg-type]


class WasmtimeEngine:
    name = "wasmtime"
    capabilities = Capabilities(interrupts=True, limits_memory=True, meters_fuel=True)

    def __init__(self) -> None:
        self.version = _version()
        fast_instance = _fast_instance(self.version)
        #: Whether instances use the C-API hot path (:mod:`.wasmtime_fast`).
        self.fast = fast_instance is not None
        self._new_instance: InstanceFactory = fast_instance or WasmtimeInstance
        self._engines: dict[bool, wasmtime.Engine] = {}
        self._tickers: dict[int, EpochTicker] = {}
        self._interrupter = Interrupter()

    def interrupt(self) -> bool:
        """Stop every running call of this adapter's instances (see the engine contract)."""
        self._interrupter.interrupt()
        return True

    def wasm_engine(self, limits: Limits) -> wasmtime.Engine:
        # Fuel checks change generated code: one engine with them, one without.
        # Epoch checks are always compiled in: every store can then be stopped
        # (a timeout, an interrupt) and lets signal handlers run (wasmtime_epoch).
        metered = limits.fuel is not None
        engine = self._engines.get(metered)
        if engine is None:
            config = wasmtime.Config()
            config.consume_fuel = metered
            config.epoch_interruption = True
            # Linear memory stays where it was first mapped (a 32-bit memory fits the
            # default 4 GiB reservation, so growing never needs to move it): the
            # fast path's memoryview then stays valid as memory grows (ViewMemory).
            config.memory_may_move = False
            engine = self._engines[metered] = wasmtime.Engine(config)
            self._tickers[id(engine)] = ticker = EpochTicker(engine)
            self._interrupter.watch(ticker)
        return engine

    def _module(self, module: wasmtime.Module, engine: wasmtime.Engine) -> WasmtimeModule:
        ticker = self._tickers[id(engine)]
        return WasmtimeModule(
            module, engine, ticker, self._interrupter, self._new_instance, native_imports=self.fast
        )

    def compile(self, wasm: bytes, limits: Limits) -> WasmtimeModule:
        engine = self.wasm_engine(limits)
        try:
            module = wasmtime.Module(engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise ValueError(str(exc).strip().splitlines()[0]) from None
        return self._module(module, engine)

    # -- compiled-module cache (wapc_cli.runtime.cache) ------------------------------------
    def code_config(self, limits: Limits) -> str:
        fuel = limits.fuel is not None
        return f"consume_fuel={int(fuel)};epoch_interruption=1;memory_may_move=0"

    def serialize(self, compiled: Any) -> bytes:
        return bytes(compiled.module.serialize())

    def deserialize(self, artifact: bytes, limits: Limits) -> WasmtimeModule:
        # Only reached with a checksum-verified artifact this cache wrote itself.
        engine = self.wasm_engine(limits)
        return self._module(wasmtime.Module.deserialize(engine, artifact), engine)


def _version() -> str:
    # The wheel's dist-info sits next to the package: reading its name avoids
    # importing importlib.metadata on every cold start.
    site = os.path.dirname(os.path.dirname(wasmtime.__file__))
    for entry in os.listdir(site):
        if entry.startswith("wasmtime-") and entry.endswith(".dist-info"):
            return entry[len("wasmtime-") : -len(".dist-info")]
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


def _fast_instance(version: str) -> InstanceFactory | None:
    """The C-API hot path's instance (wasmtime_fast), unless told not to or untested.

    ``WAPC_WASMTIME_PATH=public`` forces wasmtime-py's public API (the fallback,
    kept tested); ``fast`` forces the C-API path even on an untested version.
    """
    choice = os.environ.get("WAPC_WASMTIME_PATH", "auto").strip().lower()
    if choice == "public":
        return None
    try:
        from . import wasmtime_fast
    except Exception:  # pragma: no cover - a wheel without the C symbols
        return None
    if not wasmtime_fast.pins_memory():
        return None
    if choice == "fast" or wasmtime_fast.supported(version):
        return wasmtime_fast.FastInstance
    return None
