"""wasmtime's hot path through its C API, bound with ctypes over the wheel's own library.

Why: wasmtime-py's public ``Func.__call__`` and ``Linker.define_func`` box every
argument and result in ``Val`` objects and look up the function type on each
call, which dominates a ``__guest_call`` and each import. The ``*_unchecked`` entry
points take a flat array of ``wasmtime_val_raw_t`` instead, which ctypes can fill
and read as plain integers.

What stays public: ``Store``, ``Engine``, ``Module``, ``Linker`` and
``Instance`` come from wasmtime-py, so ``store.set_limits``, fuel and the epoch
deadline callback set by :mod:`.wasmtime_common` apply unchanged. Only three
things go through the C API: defining imports
(``wasmtime_linker_define_func_unchecked``), calling ``__guest_call``
(``wasmtime_func_call_unchecked``) and reading the memory's base and length.

No exception may cross from a callback into C (it would be lost, and the guest
would go on with a garbage result): every trampoline catches BaseException --
``KeyboardInterrupt`` from a signal handler included --, keeps it in the store's
:class:`~.wasmtime_epoch.StoreGuard`, returns a trap, and the exception is
re-raised once the call is back in Python.

The layout of ``wasmtime_val_raw_t`` (16 bytes, i32 at offset 0) and these
signatures are checked against :data:`TESTED_VERSIONS`; any other wasmtime
version uses the public-API path, which stays tested (``WAPC_WASMTIME_PATH``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
from collections.abc import Callable, Mapping
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from .base import FuncSig, GuestMemory, HostFn, Limits, NativeHostFn
from .wasmtime_common import (
    Exports,
    WasmtimeModule,
    engine_trap,
    functype,
    new_store,
    unique_func_imports,
)
from .wasmtime_epoch import StoreGuard, TimeBudget
from .wasmtime_memory import FastMemory
from .wasmtime_signals import DEFERRED, deliver, register

# The __guest_call crossing in C (wasmtime_calls.c), when the extension was built
# and not turned off (WAPC_NATIVE=0: the ctypes crossing below, kept tested).
GuestCall: Any = None
CallFailed: Any = None
if os.environ.get("WAPC_NATIVE", "1").strip() != "0":
    with contextlib.suppress(ImportError):  # built without a C compiler: the ctypes crossing
        from . import wasmtime_calls

        GuestCall, CallFailed = wasmtime_calls.GuestCall, wasmtime_calls.CallFailed

#: Major versions of the wasmtime wheel this module was tested against.
TESTED_VERSIONS = range(50, 51)

_VAL_RAW_SIZE = 16
_P = ctypes.c_void_p

# Private prototypes over the same loaded library: every argument an address
# (a Python int), so ctypes does no per-call type conversion. PYFUNCTYPE keeps
# the GIL for the short calls; __guest_call releases it, so that the epoch
# ticker and a thread calling Engine.interrupt() can run while the guest does.
_dll = ffi.dll
# wasmtime_func_call_unchecked(context, func, args_and_results, len, trap_out): called
# with ready-made ctypes arguments and no argtypes, which skips ctypes' per-call
# conversion of each Python int.
_call_nogil = ctypes.CFUNCTYPE(_P)(("wasmtime_func_call_unchecked", _dll))
_call_nogil.argtypes = None  # type: ignore[assignment]
_trap_new = ctypes.PYFUNCTYPE(_P, ctypes.c_char_p, ctypes.c_size_t)(("wasmtime_trap_new", _dll))
_define_unchecked = ctypes.PYFUNCTYPE(
    _P, _P, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, _P, _P, _P, _P
)(("wasmtime_linker_define_func_unchecked", _dll))
# (env, caller, args_and_results, len) -> wasm_trap_t* or 0; all plain ints.
_Callback = ctypes.CFUNCTYPE(ctypes.c_size_t, _P, _P, _P, ctypes.c_size_t)

_TRAP_NEW_ADDRESS = int(ctypes.cast(_dll.wasmtime_trap_new, _P).value or 0)
_CALL_ADDRESS = int(ctypes.cast(_dll.wasmtime_func_call_unchecked, _P).value or 0)
_i32_at = ctypes.c_int32.from_address
_i64_at = ctypes.c_int64.from_address
_string_at = ctypes.string_at
_TRAP_MESSAGE = b"host function raised"


def pins_memory() -> bool:
    """Whether this wheel can keep linear memory from moving (``Config.memory_may_move``).

    FastMemory's cached views are only sound if it can: without it the fast path
    is never used, not even when forced.
    """
    return isinstance(getattr(wasmtime.Config, "memory_may_move", None), property)


def supported(version: str) -> bool:
    """Whether the fast path may be used with this wasmtime wheel version."""
    try:
        major = int(version.split(".", 1)[0])
    except ValueError:
        return False
    return major in TESTED_VERSIONS and ctypes.sizeof(ffi.wasmtime_val_raw_t) == _VAL_RAW_SIZE


def _trampoline(fn: HostFn, sig: FuncSig, guard: StoreGuard) -> Callable[..., int]:
    """A C callback calling ``fn`` with the raw arguments as ints, no ``Val``s."""
    params = sig.params
    result = sig.results[0] if sig.results else None
    if any(p not in ("i32", "i64") for p in params) or result not in (None, "i32", "i64"):
        raise TypeError(f"fast path supports only i32/i64 host functions, not {sig}")
    if all(p == "i32" for p in params) and result in (None, "i32"):
        return _i32_trampoline(fn, len(params), result is not None, guard)
    # Mixed i64 signatures (a few WASI functions): not hot, decoded with struct.
    write = (_i64_at if result == "i64" else _i32_at) if result else None
    unpack = struct.Struct("<" + "".join("i12x" if p == "i32" else "q8x" for p in params)).unpack
    span = _VAL_RAW_SIZE * len(params)

    def callback(env: int | None, caller: int | None, args: int, nargs: int) -> int:
        try:
            value = fn(*unpack(_string_at(args, span)))
            if write is not None:
                write(args).value = value  # type: ignore[assignment]
            return 0
        except BaseException as exc:
            return _kept(guard, exc)

    return callback


def _i32_trampoline(
    fn: HostFn, arity: int, has_result: bool, guard: StoreGuard
) -> Callable[..., int]:
    """The waPC imports (all i32): arguments read through a view of the val_raw array.

    The array lives on the native stack of wasmtime's host-call trampoline, so its
    address repeats from call to call; the ctypes view over it is rebuilt only
    when the address changes. The view is unsigned: pointers and lengths arrive
    as the u32 the ABI means, so the core's sign check never takes its slow
    branch here. The shapes of the hot imports get a callback each (no branching
    on the arity per call).
    """
    view_type = ctypes.c_uint32 * (4 * max(arity, 1))  # 16-byte slots, i32 at offset 0
    last_addr = 0
    view = view_type()
    # More than two arguments (``__host_call`` has eight): one struct unpack of the
    # view is cheaper than indexing or slicing the ctypes array.
    unpack = struct.Struct("<" + "I12x" * arity).unpack_from

    if arity == 2 and not has_result:  # __guest_request, __guest_response, __console_log

        def two_args(env: int | None, caller: int | None, args: int, nargs: int) -> int:
            nonlocal last_addr, view
            try:
                if args != last_addr:
                    view, last_addr = view_type.from_address(args), args
                fn(view[0], view[4])
                return 0
            except BaseException as exc:
                return _kept(guard, exc)

        return two_args
    if arity == 1 and not has_result:  # __host_response, __host_error

        def one_arg(env: int | None, caller: int | None, args: int, nargs: int) -> int:
            nonlocal last_addr, view
            try:
                if args != last_addr:
                    view, last_addr = view_type.from_address(args), args
                fn(view[0])
                return 0
            except BaseException as exc:
                return _kept(guard, exc)

        return one_arg
    if arity == 0 and has_result:  # __host_response_len, __host_error_len

        def no_args(env: int | None, caller: int | None, args: int, nargs: int) -> int:
            nonlocal last_addr, view
            try:
                if args != last_addr:
                    view, last_addr = view_type.from_address(args), args
                view[0] = fn()  # type: ignore[assignment]  # None fails here, as it should
                return 0
            except BaseException as exc:
                return _kept(guard, exc)

        return no_args

    def any_args(env: int | None, caller: int | None, args: int, nargs: int) -> int:
        nonlocal last_addr, view
        try:
            if args != last_addr:
                view, last_addr = view_type.from_address(args), args
            value = fn(*unpack(view))
            if has_result:
                view[0] = value  # type: ignore[assignment]  # None fails here, as it should
            return 0
        except BaseException as exc:
            return _kept(guard, exc)

    return any_args


def _raise_trap() -> int:
    return int(_trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE)) or 0)


def _kept(guard: StoreGuard, exc: BaseException) -> int:
    """Keep ``exc`` to re-raise after the call, and return a trap: nothing may escape into C.

    ``finally`` so that even a second signal arriving here cannot make it escape.
    """
    try:
        guard.keep(exc)
    finally:
        return _raise_trap()  # noqa: B012


register(_trampoline, _i32_trampoline, _kept, _raise_trap)


class FastInstance:
    """Same contract as :class:`~.wasmtime_engine.WasmtimeInstance`, on the C API."""

    #: All-i32 imports (every waPC import: the guest check rejects other
    #: signatures) read their arguments through an unsigned view (_i32_trampoline).
    unsigned_args = True
    #: "native" where the waPC imports and __guest_call cross in C (the extensions
    #: were built), else "c-api" (ctypes).
    hot_path = "c-api"

    def __init__(
        self,
        compiled: WasmtimeModule,
        host_functions: Mapping[tuple[str, str], HostFn],
        limits: Limits,
    ) -> None:
        self._store, self._guard = store, guard = new_store(compiled, limits)
        self._budget = TimeBudget(guard, limits.timeout_s)
        started = self._budget.arm_init()
        linker = wasmtime.Linker(compiled.wasm_engine)
        # The callbacks and function types must outlive every instance made here.
        self._keep: list[Any] = []
        linker_ptr = ctypes.cast(linker.ptr(), _P).value
        prepared: set[int] = set()
        for decl in unique_func_imports(compiled.imports):
            fn = host_functions.get((decl.module, decl.name))
            if fn is None or decl.sig is None:
                continue
            func_type = functype(decl.sig)
            callback_address: int | None
            env: int | None = None
            if isinstance(fn, NativeHostFn):  # a C function: defined as it is
                if id(fn.owner) not in prepared:
                    prepared.add(id(fn.owner))
                    fn.prepare(_TRAP_NEW_ADDRESS, guard.keep)
                callback_address, env = fn.callback, fn.env
                self._keep += (fn.owner, func_type)
                if GuestCall is not None:  # both crossings in C
                    self.hot_path = "native"
            else:
                callback = _Callback(_trampoline(fn, decl.sig, guard))
                callback_address = ctypes.cast(callback, _P).value
                self._keep += (callback, func_type)
            module, name = decl.module.encode(), decl.name.encode()
            error = _define_unchecked(
                linker_ptr, module, len(module), name, len(name),
                ctypes.cast(func_type.ptr(), _P).value, callback_address, env, None,
            )
            if error:
                raise wasmtime.WasmtimeError._from_ptr(
                    ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
                )
        try:
            instance = linker.instantiate(store, compiled.module)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise engine_trap(exc, guard) from None
        self._budget.spend(started)
        self._linker = linker
        self._instance = instance
        self._ctx = ctx = int(ctypes.cast(store._context(), _P).value or 0)
        self._exports = exports = Exports(compiled.wasm_engine, store, instance)
        memory: FastMemory | None = None
        self._memory_extern = exports.memory()
        if self._memory_extern is not None:
            memory = FastMemory(ctx, self._memory_extern, store)
        self.memory: GuestMemory | None = memory
        self._trap = _P()
        guest_call = exports.get("__guest_call")
        self.guest_call = self._hot_path(
            guest_call if isinstance(guest_call, wasmtime.Func) else None
        )

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

    def _hot_path(self, func: wasmtime.Func | None) -> Callable[[int, int], int]:
        """``guest_call`` as a closure: everything it needs is a local, looked up once."""
        if func is None:
            def missing(op_len: int, msg_len: int) -> int:
                raise KeyError("__guest_call")

            return missing
        if GuestCall is not None:
            return self._native_hot_path(func)
        call = _call_nogil
        arm = self._budget.arm_call
        raw = (ctypes.c_int32 * (2 * _VAL_RAW_SIZE // 4))()  # two val_raw slots
        # Item access through memoryviews is cheaper than through the ctypes array;
        # arguments go in as u32 (a length may exceed 2**31), the result comes out
        # as the i32 the guest returned.
        params = memoryview(raw).cast("B").cast("I")
        results = memoryview(raw).cast("B").cast("i")
        trap = self._trap
        # The arguments as ready-made ctypes values: a call then converts nothing.
        args = (
            _P(self._ctx), _P(ctypes.addressof(func._func)), _P(ctypes.addressof(raw)),
            ctypes.c_size_t(2), _P(ctypes.addressof(trap)),
        )
        failed, interrupted = self._failed, self._interrupted
        deferred = DEFERRED
        self._keep += (func, raw)

        def guest_call(op_len: int, msg_len: int) -> int:
            arm()
            params[0] = op_len
            params[4] = msg_len  # the i32 of the second 16-byte slot
            try:
                error = call(*args)
                result = results[0]
                # The result overwrites op_len only when the call returned: a slot that
                # changed proves there was no trap, so trap_out is read only when the
                # slot still reads as op_len (as i32: equal, or negative past 2**31).
                if error or ((result == op_len or result < 0) and trap.value):
                    failed(error)
                if deferred:  # a signal handler that landed in a callback
                    deliver()
            except BaseException:
                interrupted()
                raise
            return result

        return guest_call

    def _native_hot_path(self, func: wasmtime.Func) -> Callable[[int, int], int]:
        """``guest_call`` through wasmtime_calls.c: the crossing without ctypes."""
        invoke = GuestCall(_CALL_ADDRESS, self._ctx, ctypes.addressof(func._func), func).invoke
        arm = self._budget.arm_call
        failed_with, interrupted = self._failed_with, self._interrupted
        deferred = DEFERRED
        failure = CallFailed

        def guest_call(op_len: int, msg_len: int) -> int:
            arm()
            try:
                result: int = invoke(op_len, msg_len)
                if deferred:  # a signal handler that landed in a callback
                    deliver()
            except failure as exc:
                failed_with(*exc.args)
            except BaseException:
                interrupted()
                raise
            return result

        return guest_call

    def _failed_with(self, error: int, trap: int) -> None:
        """Raise what a failed call amounts to (wasmtime's objects own the pointers)."""
        exc: Exception
        if error:
            exc = wasmtime.WasmtimeError._from_ptr(
                ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
            )
        else:
            exc = wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t)))
        raise engine_trap(exc, self._guard) from None

    def _interrupted(self) -> None:
        """Tidy up after an exception left the hot path, wherever it came from.

        A signal handler may raise right after the call returned, before its
        trap was read: free that trap so that no later call takes it for its own.
        """
        trap_addr, self._trap.value = self._trap.value, None
        if trap_addr:
            wasmtime.Trap._from_ptr(ctypes.cast(trap_addr, ctypes.POINTER(ffi.wasm_trap_t)))
        self._guard.pending = self._guard.reason = None

    def _failed(self, error: int | None) -> None:
        trap_addr, self._trap.value = self._trap.value, None
        self._failed_with(error or 0, trap_addr or 0)
