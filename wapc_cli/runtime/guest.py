"""The Python API: load a waPC guest, call operations, get bytes or a typed error.

    >>> module = load_module("echo.wasm")            # read, check, compile
    >>> guest = module.instantiate(host_call=handler) # instantiate + init exports
    >>> guest.call("echo", b"hi")
    b'hi'

A guest that traps is rebuilt from the compiled module before its next call
(waPC's rule: a module may crash and be reloaded; no state carries over).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from .. import abi
from ..engines import CompiledModule, EngineInstance, EngineTrap, Limits, get_engine
from ..engines.base import FuncSig, HostFn
from ..errors import (
    GuestError,
    GuestTrap,
    InputFileError,
    LimitExceeded,
    NotAGuest,
    NotWasmError,
    WapcError,
)
from ..wasm.memories import PAGE, defined_memories
from ..wasm.startfn import defer_start
from .cache import ModuleCache, compile_module
from .hostcalls import HostCallHandler, no_handler
from .limits import format_size
from .session import EventSink, GuestFault, HostAbort, LogSink, WapcSession
from .wasi import ProcExit, WasiHost, WasiOptions

WASM_MAGIC = b"\0asm"


class Timings:
    """Milliseconds spent in each phase (``call``: the latest :meth:`Guest.call_timed`).

    A plain class, not a dataclass: see the note in ``engines/base.py``.
    """

    __slots__ = ("call_ms", "compile_ms", "init_ms", "instantiate_ms")

    def __init__(
        self, compile_ms: float = 0.0, instantiate_ms: float = 0.0, init_ms: float = 0.0,
        call_ms: float = 0.0,
    ) -> None:
        self.compile_ms = compile_ms
        self.instantiate_ms = instantiate_ms
        self.init_ms = init_ms
        self.call_ms = call_ms

    def __repr__(self) -> str:
        return (
            f"Timings(compile_ms={self.compile_ms!r}, instantiate_ms={self.instantiate_ms!r}, "
            f"init_ms={self.init_ms!r}, call_ms={self.call_ms!r})"
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "compile": round(self.compile_ms, 3),
            "instantiate": round(self.instantiate_ms, 3),
            "init": round(self.init_ms, 3),
            "call": round(self.call_ms, 3),
        }


def read_module_file(path: str | os.PathLike[str]) -> bytes:
    """Read a module file, turning every way it can be unusable into one clear error."""
    where = os.fspath(path)
    try:
        if Path(where).is_dir():
            raise InputFileError(f"module '{where}' is a directory, not a file")
        data = Path(where).read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"module '{where}': no such file") from None
    except PermissionError:
        raise InputFileError(f"module '{where}': permission denied") from None
    except OSError as exc:
        raise InputFileError(f"module '{where}': cannot read ({exc.strerror})") from None
    check_wasm_bytes(data, where)
    return data


def check_wasm_bytes(data: bytes, where: str) -> None:
    if not data:
        raise NotWasmError(f"module '{where}' is empty, not a WebAssembly module")
    if data[:4] != WASM_MAGIC:
        hint = " (looks like WebAssembly text: compile it with wat2wasm)" if data.lstrip()[
            :1
        ] == b"(" else ""
        raise NotWasmError(f"module '{where}' is not a WebAssembly module (bad magic){hint}")
    if len(data) < 8:
        raise NotWasmError(f"module '{where}' is truncated (no version after the magic)")
    if data[4:8] != b"\x01\0\0\0":
        raise NotWasmError(
            f"module '{where}' has WebAssembly version {int.from_bytes(data[4:8], 'little')}; "
            "only version 1 (core modules) is supported (components are not waPC guests)"
        )


def load_module(
    path: str | os.PathLike[str],
    *,
    engine: str = "auto",
    limits: Limits | None = None,
    cache: ModuleCache | None = None,
) -> WapcModule:
    return WapcModule.from_bytes(
        read_module_file(path), engine=engine, limits=limits, name=os.fspath(path), cache=cache
    )


class WapcModule:
    """A compiled, checked waPC guest module, ready to instantiate any number of times."""

    def __init__(self, compiled: CompiledModule, name: str, limits: Limits, compile_ms: float):
        self.compiled = compiled
        self.name = name
        self.limits = limits
        self.compile_ms = compile_ms
        self.cache_hit = False  # compile_ms was a cache load (wapc_cli.runtime.cache)
        #: The export that now holds the start function (wapc_cli.wasm.startfn), run
        #: first in init; None when the start section runs while instantiating.
        self.start_export: str | None = None
        self.engine_name = compiled.engine_name
        self.wasi_imports = [
            (d.module, d.name, d.sig)
            for d in compiled.imports
            if d.module in abi.WASI_MODULES and d.sig is not None
        ]
        check_guest_shape(compiled, name)

    @classmethod
    def from_bytes(
        cls,
        wasm: bytes,
        *,
        engine: str = "auto",
        limits: Limits | None = None,
        name: str = "<bytes>",
        cache: ModuleCache | None = None,
    ) -> WapcModule:
        """Check and compile; with ``cache``, reuse a verified compiled artifact."""
        check_wasm_bytes(wasm, name)
        limits = limits or Limits()
        if limits.max_memory_bytes is not None:
            check_initial_memory(wasm, limits.max_memory_bytes, name)
        runtime = get_engine(engine)
        start = time.perf_counter()
        wasm, start_export = defer_start(wasm)
        try:
            result = compile_module(runtime, wasm, limits, cache)
        except ValueError as exc:
            raise NotWasmError(
                f"module '{name}' is not a valid WebAssembly module: {exc}"
            ) from None
        module = cls(result.compiled, name, limits, (time.perf_counter() - start) * 1000)
        module.cache_hit = result.cache_hit
        module.start_export = start_export
        return module

    def instantiate(
        self,
        host_call: HostCallHandler | None = None,
        *,
        on_log: LogSink | None = None,
        tracer: EventSink | None = None,
        wasi: WasiOptions | None = None,
    ) -> Guest:
        return Guest(self, host_call or no_handler, on_log, tracer, wasi or WasiOptions())


def check_initial_memory(wasm: bytes, limit: int, name: str) -> None:
    """Refuse, before any engine reserves it, a module that starts above --max-memory."""
    for memory in defined_memories(wasm):
        size = memory.min_pages * PAGE
        if size > limit:
            raise LimitExceeded(
                "max-memory", format_size(limit),
                f"max-memory: module '{name}' needs {format_size(size)} of memory to start "
                f"({memory.min_pages} pages), more than the --max-memory limit of "
                f"{format_size(limit)}",
                phase="instantiation",
            )


def check_guest_shape(compiled: CompiledModule, name: str) -> None:
    """Refuse, before running anything, a module no waPC host could run."""
    exports = {e.name: e for e in compiled.exports}
    guest_call = exports.get(abi.GUEST_CALL)
    expected = FuncSig(*abi.GUEST_CALL_SIGNATURE)
    if guest_call is None or guest_call.kind != "func":
        raise NotAGuest(f"module '{name}' does not export a function '__guest_call'")
    if guest_call.sig != expected:
        raise NotAGuest(
            f"module '{name}': '__guest_call' has type {guest_call.sig}, expected {expected}"
        )
    memory = exports.get(abi.MEMORY)
    if memory is None or memory.kind != "memory":
        raise NotAGuest(f"module '{name}' does not export its memory as 'memory'")
    for decl in compiled.imports:
        where = f"import '{decl.module}.{decl.name}'"
        if decl.kind != "func":
            raise NotAGuest(f"module '{name}': {where} is a {decl.kind}; no waPC host provides it")
        if decl.module in abi.WASI_MODULES:
            continue
        known = (
            abi.HOST_IMPORTS.get(decl.name)
            if decl.module == abi.WAPC_MODULE
            else abi.ENV_IMPORTS.get((decl.module, decl.name))
        )
        if known is None:
            raise NotAGuest(f"module '{name}': {where} is not provided by any waPC host")
        if decl.sig != FuncSig(*known):
            raise NotAGuest(
                f"module '{name}': {where} has type {decl.sig}, expected {FuncSig(*known)}"
            )


class CallRecord(NamedTuple):
    """What the latest call left behind besides its result."""

    warnings: tuple[str, ...] = ()
    host_calls: int = 0


class Guest:
    """One live instance of a module, with its protocol session."""

    def __init__(
        self,
        module: WapcModule,
        host_call: HostCallHandler,
        on_log: LogSink | None,
        tracer: EventSink | None,
        wasi: WasiOptions,
    ) -> None:
        self.module = module
        self.session = WapcSession(host_call, on_log, tracer)
        self.wasi = WasiHost(self.session, wasi)
        self.timings = Timings(compile_ms=module.compile_ms)
        # The record `last` shows instead of the session's: set only while a
        # rebuild after a trap has failed (init reset the session; the previous
        # call's record is kept here). The hot path never touches it.
        self._last: CallRecord | None = None
        self._wasi_used = bool(module.wasi_imports)
        self._watch_memory = module.limits.max_memory_bytes is not None
        self._tracer = tracer
        self._functions = self._host_functions()
        self._instance: EngineInstance | None = None
        self._hot_call: Callable[[int, int], int] | None = None
        self._memory_before: int | None = None
        self._build()
        self.session.begin(b"", b"")  # init's host calls are not a call's record

    def _host_functions(self) -> Mapping[tuple[str, str], HostFn]:
        functions: dict[tuple[str, str], HostFn] = dict(self.session.imports())
        wanted = [(m, n, s) for m, n, s in self.module.wasi_imports if s is not None]
        functions.update(self.wasi.functions(wanted))
        return functions

    # -- lifecycle ---------------------------------------------------------------
    def _build(self) -> None:
        """Instantiate (running the start section) and run the init exports."""
        self._instance = self._hot_call = None
        self.wasi.reset()
        session = self.session
        session.begin(b"", b"")  # host calls are allowed during init
        start = time.perf_counter()
        try:
            instance = self.module.compiled.instantiate(self._functions, self.module.limits)
        except BaseException as exc:
            raise self._classify(exc, "instantiation (start section)") from None
        self.timings.instantiate_ms = (time.perf_counter() - start) * 1000
        session.attach(instance.memory, unsigned_args=getattr(instance, "unsigned_args", False))
        self._note_memory_size()
        deferred = self.module.start_export
        step = "start" if deferred is None else "instantiate"
        self._trace_step(step, 0, int(self.timings.instantiate_ms * 1e6))
        start = time.perf_counter()
        if deferred is not None:
            self._run_init(instance, deferred, step="start section")
        for name in abi.INIT_EXPORTS:
            if instance.has_func(name):
                self._run_init(instance, name)
        self.wasi.flush()
        self.timings.init_ms = (time.perf_counter() - start) * 1000
        self._instance = instance
        # Nothing to do around the engine's call but the exchange itself: call()
        # takes its hot path (the tracer, --max-memory and WASI need the full one).
        if not (self._tracer or self._watch_memory or self._wasi_used):
            self._hot_call = instance.guest_call

    def _run_init(self, instance: EngineInstance, name: str, step: str | None = None) -> None:
        step = step or name
        started = time.perf_counter_ns()
        outcome = "ok"
        try:
            instance.call(name)
        except BaseException as exc:
            fault = self.session.fault or exc
            if isinstance(fault, ProcExit) and fault.code == 0:
                outcome = "exit(0)"  # a command module's normal end
                self.session.fault = None
            else:
                self.wasi.flush()
                self._trace_step(step, started, time.perf_counter_ns() - started, "trap")
                raise self._classify(exc, step) from None
        self._trace_step(step, started, time.perf_counter_ns() - started, outcome)

    def _trace_step(self, step: str, started: int, duration: int, outcome: str = "ok") -> None:
        if self._tracer:
            from .events import InitStep  # only when tracing: see protocol.py

            t = max(0, started - self.session.t0) if started else 0
            self._tracer(InitStep(t, duration, step, outcome))

    # -- calls -------------------------------------------------------------------
    def call(self, operation: str | bytes, payload: bytes = b"") -> bytes:
        """Run one exchange. Returns the response or raises GuestError/GuestTrap."""
        guest_call = self._hot_call
        if guest_call is None:  # rebuilding, tracing, watching memory, WASI: the full path
            return self._call_full(operation, payload)
        # The hot path: what a bare host loop does, plus the outcome checks.
        op = operation if operation.__class__ is bytes else _op_bytes(operation)
        session = self.session
        # session.begin(op, payload) written out: a Python call is ~2% of a small
        # exchange. (No tracer here, so no timestamp; a test holds the two equal.)
        session.operation, session.payload, session.host_calls = op, payload, 0
        session.response = session.error = session.host_body = session.host_fault = None
        session.warnings, session.fault = (), None
        try:
            result = guest_call(len(op), len(payload))
        except BaseException as exc:
            raise self._trapped(exc, 0) from None
        response = session.response
        if result == 1 and response is not None and session.error is None:
            return response
        return self._settle(result, 0)

    def try_call(self, operation: str | bytes, payload: bytes = b"") -> bytes | GuestError:
        """Like :meth:`call`, but a guest error is returned instead of raised.

        For loops where a failure is an expected answer (raising and catching an
        exception costs about as much as a small exchange). Traps and ABI
        violations still raise GuestTrap: the instance is rebuilt after them.
        """
        # call()'s hot path written out again: a helper shared by the two would
        # cost a Python call per exchange (~2-3% of a small one).
        guest_call = self._hot_call
        if guest_call is None:
            try:
                return self._call_full(operation, payload)
            except GuestError as exc:
                return exc
        op = operation if operation.__class__ is bytes else _op_bytes(operation)
        session = self.session
        session.operation, session.payload, session.host_calls = op, payload, 0  # begin()
        session.response = session.error = session.host_body = session.host_fault = None
        session.warnings, session.fault = (), None
        try:
            result = guest_call(len(op), len(payload))
        except BaseException as exc:
            raise self._trapped(exc, 0) from None
        response = session.response
        error = session.error
        if error is None:
            if result == 1 and response is not None:
                return response
        elif result == 0 and response is None:  # the plain guest error
            return GuestError(error.decode("utf-8", "replace"), error)
        try:
            return self._settle(result, 0)
        except GuestError as exc:
            return exc

    def call_timed(self, operation: str | bytes, payload: bytes = b"") -> bytes:
        """:meth:`call`, also recording its wall time in ``timings.call_ms``.

        ``call`` itself does not time: two clock reads are ~6% of a small exchange.
        """
        start = time.perf_counter_ns()
        try:
            return self.call(operation, payload)
        finally:
            self.timings.call_ms = (time.perf_counter_ns() - start) / 1e6

    def _call_full(self, operation: str | bytes, payload: bytes) -> bytes:
        instance = self._instance
        if instance is None:
            previous = self.last  # init resets the session: keep it if init fails
            try:
                self._build()
            except BaseException:
                self._last = previous
                raise
            self._last = None
            instance = self._instance
            assert instance is not None
            if self._hot_call is not None:
                return self.call(operation, payload)
        op = operation if operation.__class__ is bytes else _op_bytes(operation)
        session = self.session
        session.begin(op, payload)
        if self._watch_memory:
            self._note_memory_size()
        tracer = self._tracer
        if tracer:
            from .events import GuestCall

            tracer(GuestCall(0, 0, op.decode("utf-8", "replace"), len(op), len(payload)))
        start = time.perf_counter_ns()
        try:
            result = instance.guest_call(len(op), len(payload))
        except BaseException as exc:
            raise self._trapped(exc, start) from None
        if self._wasi_used:
            self.wasi.flush()
        return self._settle(result, start)

    def _trapped(self, exc: BaseException, start: int) -> WapcError:
        """The error to raise for a guest call that ended in a trap (or an abort)."""
        self._instance = self._hot_call = None  # rebuilt before the next call
        self.wasi.flush()
        error = self._classify(exc, "call")
        self._finish(start, None, "trap", str(error))
        return error

    def _settle(self, result: int, start: int) -> bytes:
        """The response of a finished exchange, or the error it amounts to."""
        session = self.session
        raw = session.error
        if result == 0 and raw is not None and session.response is None and not (
            self._tracer or self._watch_memory
        ):  # the plain guest error: nothing to record but the error
            return _raise_guest_error(raw)
        try:
            response = self._outcome(result)
        except WapcError as exc:
            error = self._memory_limit_hit(exc)
            self._finish(
                start, result, "error" if isinstance(error, GuestError) else "trap", str(error)
            )
            if error is exc:
                raise
            raise error from None
        self._finish(start, result, "ok", None)
        return response

    @property
    def last(self) -> CallRecord:
        """What the latest call left behind besides its result.

        Read from the session, which keeps the latest exchange's state until the
        next call begins, so no call has to store a record.
        """
        record = self._last
        if record is None:
            session = self.session
            record = CallRecord(session.warnings, session.host_calls)
        return record

    def _finish(self, start: int, value: int | None, outcome: str, message: str | None) -> None:
        """When tracing, report the call's end (``start``: when it began)."""
        session = self.session
        if self._tracer:
            from .events import Return

            elapsed = time.perf_counter_ns() - start
            self._tracer(
                Return(elapsed, 0, value, outcome, message, session.warnings)
            )

    def _outcome(self, result: int) -> bytes:
        session = self.session
        response, error = session.response, session.error
        if result == 1:
            if error is not None:
                session.warnings += (
                    "guest set both a response and an error and returned 1; "
                    "the response is used (some hosts check the error first)",
                )
            if response is None:
                if error is not None:
                    raise GuestError(error.decode("utf-8", "replace"), error)
                raise GuestTrap(
                    "guest returned 1 (success) but set no response with __guest_response"
                )
            return response
        if result == 0:
            if error is None:
                raise GuestError(
                    "guest returned 0 (failure) without setting an error with __guest_error"
                )
            return _raise_guest_error(error)
        raise GuestTrap(f"__guest_call returned {result}; waPC allows only 1 (success) or 0")

    def _classify(self, exc: BaseException, phase: str) -> WapcError:
        """Turn whatever ended guest code early into the one error to report."""
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        return self._memory_limit_hit(self._classify_fault(exc, phase))

    def _note_memory_size(self) -> None:
        self._memory_before = None
        memory = self.session.memory
        if self.module.limits.max_memory_bytes is not None and memory is not None:
            self._memory_before = memory.size()

    def _memory_limit_hit(self, error: WapcError) -> WapcError:
        """Name --max-memory when the guest failed after growing up to the limit.

        No engine tells us that a ``memory.grow`` was refused (it returns -1, as
        WebAssembly says, and the guest goes on). The evidence: memory grew during
        the failed run and ended with less room left than a quarter of the limit
        (or than one page). A guest that reported the failure keeps exit 1, with
        the limit added to its message.
        """
        limit = self.module.limits.max_memory_bytes
        memory = self.session.memory
        before = self._memory_before
        if limit is None or memory is None or before is None:
            return error
        if isinstance(error, LimitExceeded) or not isinstance(error, GuestError | GuestTrap):
            return error
        try:
            size = memory.size()
        except Exception:  # a memory of a torn-down instance: no evidence either way
            return error
        if size <= before or limit - size >= max(PAGE, limit // 4):
            return error
        note = (
            f"guest memory grew to {format_size(size)} of the --max-memory limit of "
            f"{format_size(limit)}; memory.grow beyond the limit fails (returns -1)"
        )
        if isinstance(error, GuestError):
            return GuestError(f"{error.message} ({note})", error.raw)
        return LimitExceeded(
            "max-memory", format_size(limit), f"max-memory: {note}; then {error.message}",
            guest_error=error.guest_error, frames=error.frames, phase=error.phase,
        )

    def _classify_fault(self, exc: BaseException, phase: str) -> WapcError:
        fault = self.session.fault or exc
        guest_error = self.session.error
        before = guest_error.decode("utf-8", "replace") if guest_error is not None else None
        if isinstance(fault, HostAbort):
            if isinstance(fault.error, WapcError):
                return fault.error
            return GuestTrap(str(fault.error), phase=phase)
        if isinstance(fault, GuestFault):
            return GuestTrap(str(fault), guest_error=before, phase=phase)
        if isinstance(fault, ProcExit):
            return GuestTrap(
                f"guest exited with proc_exit({fault.code})", guest_error=before, phase=phase
            )
        if isinstance(fault, EngineTrap):
            info = fault.info
            limits = self.module.limits
            if info.kind == "timeout":
                return LimitExceeded(
                    "timeout", f"{limits.timeout_s:g}s",
                    f"timeout: the guest ran longer than {limits.timeout_s:g}s",
                    guest_error=before, frames=info.frames, phase=phase,
                )
            if info.kind == "fuel":
                return LimitExceeded(
                    "fuel", str(limits.fuel),
                    f"fuel: the guest used up its budget of {limits.fuel} units",
                    guest_error=before, frames=info.frames, phase=phase,
                )
            message = f"guest trapped: {info.message}"
            if info.frames:
                message += f" [at {frames_text(info.frames)}]"
            return GuestTrap(message, guest_error=before, frames=info.frames, phase=phase)
        if isinstance(fault, WapcError):
            return fault
        if isinstance(fault, RecursionError | MemoryError):
            return GuestTrap(f"host ran out of resources: {type(fault).__name__}", phase=phase)
        return GuestTrap(f"guest trapped: {fault}", guest_error=before, phase=phase)


def frames_text(frames: tuple[str, ...], shown: int = 4) -> str:
    """Innermost frames first; a run of one frame (deep recursion) shown once with a count."""
    parts = []
    for frame, run in itertools.groupby(frames):
        count = sum(1 for _ in run)
        parts.append(f"{frame} (x{count})" if count > 1 else frame)
    more = len(parts) - shown
    return " <- ".join(parts[:shown]) + (f" <- ... {more} more" if more > 0 else "")


def _op_bytes(operation: object) -> bytes:
    """An operation name given as anything but bytes, as bytes (str: UTF-8)."""
    if isinstance(operation, str):
        return operation.encode("utf-8")
    if isinstance(operation, bytearray | memoryview):
        return bytes(operation)
    raise TypeError(f"operation must be str or bytes, not {type(operation).__name__}")


def _raise_guest_error(error: bytes) -> bytes:
    raise GuestError(error.decode("utf-8", "replace"), error)


def call_once(
    path: str | os.PathLike[str],
    operation: str,
    payload: bytes = b"",
    *,
    engine: str = "auto",
    host_call: HostCallHandler | None = None,
    on_log: Callable[[str, str], None] | None = None,
) -> bytes:
    """Load, instantiate and call once: the shortest way to run a guest."""
    return load_module(path, engine=engine).instantiate(host_call, on_log=on_log).call(
        operation, payload
    )
