"""The Python API: load a waPC guest, call operations, get bytes or a typed error.

    >>> module = load_module("echo.wasm")            # read, check, compile
    >>> guest = module.instantiate(host_call=handler) # instantiate + init exports
    >>> guest.call("echo", b"hi")
    b'hi'

A guest that traps is rebuilt from the compiled module before its next call
(waPC's rule: a module may crash and be reloaded; no state carries over).

A time limit (``Limits.timeout_s``) is one wall-clock budget per exchange that
host calls count against (:mod:`.budget`); instantiation and init draw on the
first call's. A stop request (:func:`wapc_cli.runtime.interrupts.request`, the
CLI's Ctrl-C) ends a running call, or the next one, with ``KeyboardInterrupt``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .. import abi
from ..engines import CompiledModule, EngineInstance, Limits, get_engine
from ..engines.base import HostFn
from ..errors import GuestError, WapcError
from . import interrupts
from .budget import CallBudget
from .cache import ModuleCache
from .hostcalls import HostCallHandler, no_handler
from .init_steps import InitSteps
from .loading import check_guest_shape, check_wasm_bytes, compile_guest, read_module_file
from .outcome import classify_fault, exchange_result, memory_limit_hit, raise_guest_error
from .records import CallRecord, Timings
from .session import EventSink, LogSink, WapcSession
from .wasi_choice import wasi_host_for
from .wasi_options import WasiOptions

if TYPE_CHECKING:
    from .profile_rules import ProfileRules
    from .profiles import HostProfile
    from .traced import TracedSession

# Re-exported: the loading checks were first importable from here.
__all__ = ["CallRecord", "Guest", "Timings", "WapcModule", "call_once", "check_wasm_bytes",
           "load_module", "read_module_file"]


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
        self.wasm: bytes | None = None  # as given: trap frames point into it (source lines)
        self.engine_name = compiled.engine_name
        self.wasi_imports = [
            (d.module, d.name, d.sig)
            for d in compiled.imports
            if d.module in abi.WASI_MODULES and d.sig is not None
        ]
        #: Whether the guest imports ``__host_call`` (so host time can count against a limit).
        self.makes_host_calls = any(
            d.module == abi.WAPC_MODULE and d.name == "__host_call" for d in compiled.imports
        )
        #: Whether it can sleep in host code (WASI poll_oneoff, which reads the deadline).
        self.sleeps = any(d.name == "poll_oneoff" for d in compiled.imports if d.sig)
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
        limits = limits or Limits()
        built = compile_guest(wasm, engine=engine, limits=limits, name=name, cache=cache)
        module = cls(built.compiled, name, limits, built.compile_ms)
        module.cache_hit = built.cache_hit
        module.start_export = built.start_export
        module.wasm = wasm
        return module

    def instantiate(
        self,
        host_call: HostCallHandler | None = None,
        *,
        on_log: LogSink | None = None,
        tracer: EventSink | None = None,
        wasi: WasiOptions | None = None,
        profile: HostProfile | str | None = None,
    ) -> Guest:
        """A live instance; ``profile``: run it as that host would (:mod:`.profiles`)."""
        return Guest(self, host_call or no_handler, on_log, tracer, wasi or WasiOptions(),
                     profile)


class Guest:
    """One live instance of a module, with its protocol session."""

    def __init__(
        self,
        module: WapcModule,
        host_call: HostCallHandler,
        on_log: LogSink | None,
        tracer: EventSink | None,
        wasi: WasiOptions,
        profile: HostProfile | str | None = None,
    ) -> None:
        self.module = module
        self._rules: ProfileRules | None = None
        if profile is not None and profile != "wapc":
            from .profile_rules import rules_for  # the default loads (and applies) none of it

            self._rules = rules_for(profile)
            if self._rules is not None:
                host_call, tracer = self._rules.wrap(host_call, tracer)
        # A tracer gets a session that reports every step; the plain one carries
        # no tracing code, and with it neither the tracing module nor the events load.
        self._traced: TracedSession | None = None
        if tracer is None:
            self.session = WapcSession(host_call, on_log)
        else:
            from .traced import TracedSession

            self.session = self._traced = TracedSession(host_call, on_log, tracer)
        if self._rules is not None:
            self._rules.bind(self.session)
        self.wasi = wasi_host_for(self.session, wasi, imports_wasi=bool(module.wasi_imports))
        self._init = InitSteps(self.session, self.wasi.flush, self._trace_step, self._classify,
                               self._rules)
        self.wasi.close_with(self)  # its host fds go with us (wasmer keeps the WASI host alive)
        self.timings = Timings(compile_ms=module.compile_ms)
        # The record `last` shows instead of the session's: set only while a
        # rebuild after a trap has failed (init reset the session; the previous
        # call's record is kept here). The hot path never touches it.
        self._last: CallRecord | None = None
        self._wasi_used = bool(module.wasi_imports)
        self._watch_memory = module.limits.max_memory_bytes is not None
        self._functions = self._host_functions()
        self._instance: EngineInstance | None = None
        self._hot_call: Callable[[int, int], int] | None = None
        self._memory_before: int | None = None
        # Only host calls and WASI sleeps read the exchange's deadline: without them the
        # engine alone enforces the time limit (no clock read per call).
        timeout = module.limits.timeout_s
        self._budget = (
            CallBudget(self.session, timeout)
            if timeout is not None and (module.makes_host_calls or module.sleeps) else None
        )
        interrupts.watch(self)
        self._build()
        self.session.begin(b"", b"")  # init's host calls are not a call's record

    def _host_functions(self) -> Mapping[tuple[str, str], HostFn]:
        functions: dict[tuple[str, str], HostFn] = dict(self.session.imports())
        if self._traced is None and self._rules is None and self.module.compiled.native_imports:
            functions.update(self.session.native_imports())  # the waPC ones in C, where built
        wanted = [(m, n, s) for m, n, s in self.module.wasi_imports if s is not None]
        rules, full = self._rules, self.wasi.functions
        functions.update(full(wanted) if rules is None else rules.wasi_functions(wanted, full))
        return functions

    # -- lifecycle ---------------------------------------------------------------
    def _build(self) -> None:
        """Instantiate (running the start section) and run the init exports."""
        interrupts.check()
        self._instance = self._hot_call = None
        self.wasi.reset()
        session = self.session
        session.attach(None)  # a trapped instance's memory is gone with it
        session.begin(b"", b"")  # host calls are allowed during init
        if self._budget is not None:
            self._budget.start_init()
        if self._rules is not None:  # this host's linker: what it does not provide fails here
            self._rules.check_links(self.module.compiled.imports, self._trace_step)
        start = time.perf_counter()
        try:
            instance = self.module.compiled.instantiate(self._functions, self.module.limits)
        except BaseException as exc:
            raise self._classify(exc, "instantiation (start section)") from None
        self.timings.instantiate_ms = (time.perf_counter() - start) * 1000
        session.attach(instance.memory, unsigned_args=instance.unsigned_args)
        self._note_memory_size()
        deferred = self.module.start_export
        step = "start" if deferred is None else "instantiate"
        self._trace_step(step, 0, int(self.timings.instantiate_ms * 1e6))
        start = time.perf_counter()
        self._init.run(instance, deferred)
        self.wasi.flush()
        self.timings.init_ms = (time.perf_counter() - start) * 1000
        self._instance = instance
        if self._budget is not None:
            self._budget.end_init()
        # Nothing to do around the engine's call but the exchange itself: call()
        # takes its hot path (tracing, the max-memory limit and WASI need the full one).
        if not (self._traced or self._watch_memory or self._wasi_used or self._rules):
            budget = self._budget
            self._hot_call = (
                instance.guest_call if budget is None else budget.timed(instance.guest_call)
            )
            if interrupts.requested():  # asked to stop while this was being set up
                self._hot_call = None

    def stop_running(self) -> None:
        """Stop the running call and every later one (see :mod:`.interrupts`): called from
        a signal handler, the next call takes the full path, which raises
        ``KeyboardInterrupt`` while the stop request stands; a running call is
        interrupted by the engine when it can (wasmtime)."""
        self._hot_call = None
        get_engine(self.module.engine_name).interrupt()

    def _trace_step(self, step: str, started: int, duration: int, outcome: str = "ok") -> None:
        if self._traced:
            self._traced.report_init_step(step, started, duration, outcome)

    # -- calls -------------------------------------------------------------------
    def call(self, operation: str | bytes, payload: bytes = b"") -> bytes:
        """Run one exchange. Returns the response or raises GuestError/GuestTrap."""
        guest_call = self._hot_call
        if guest_call is None:  # rebuilding, tracing, watching memory, WASI: the full path
            return self._call_full(operation, payload)
        # The hot path: what a bare host loop does, plus the outcome checks.
        op = operation if operation.__class__ is bytes else _op_bytes(operation)
        session = self.session
        # session.begin(op, payload) written out: a Python call is a measurable part
        # of a small exchange. (A test holds the two equal, field for field.)
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
        # cost a Python call per exchange.
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
        """:meth:`call`, also recording its wall time in ``timings.call_ms`` (``call``
        itself does not time: two clock reads are a noticeable part of a small exchange)."""
        start = time.perf_counter_ns()
        try:
            return self.call(operation, payload)
        finally:
            self.timings.call_ms = (time.perf_counter_ns() - start) / 1e6

    def _call_full(self, operation: str | bytes, payload: bytes) -> bytes:
        interrupts.check()
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
        session, rules = self.session, self._rules
        if rules is None:
            session.begin(op, payload)
        else:
            rules.begin(op, payload)  # a host's own reset, or a closed module's error
        if self._watch_memory:
            self._note_memory_size()
        if self._traced:
            self._traced.report_guest_call(op, len(payload))
        if self._budget is not None:
            self._budget.start_call()
        start = time.perf_counter_ns()
        try:
            result = instance.guest_call(len(op), len(payload))
        except BaseException as exc:
            raise self._trapped(exc, start) from None
        if self._wasi_used:
            self.wasi.flush()
        if rules is not None and rules.profile.fresh_instance_per_call:
            self._instance = None  # the platform builds a new one per request
        return self._settle(result, start)

    def _trapped(self, exc: BaseException, start: int) -> WapcError:
        """The error to raise for a guest call that ended in a trap (or an abort)."""
        instance, self._instance, self._hot_call = self._instance, None, None  # rebuilt later
        self.wasi.flush()
        error = self._classify(exc, "call")
        if self._rules is not None:  # in a host's own words; most hosts reuse the instance
            error, self._instance = self._rules.after_trap(error, instance)
        self._finish(start, None, "trap", error)  # the error: its text and frames
        return error

    def _settle(self, result: int, start: int) -> bytes:
        """The response of a finished exchange, or the error it amounts to."""
        session = self.session
        raw = session.error
        if result == 0 and raw is not None and session.response is None and not (
            self._traced or self._watch_memory or self._rules
        ):  # the plain guest error: nothing to record but the error
            return raise_guest_error(raw)
        try:
            rules = self._rules
            response = exchange_result(session, result) if rules is None else rules.result(result)
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
    def instance(self) -> EngineInstance | None:
        """The engine instance calls run on; None after a trap, until the next call rebuilds it."""
        return self._instance

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

    def _finish(self, start: int, value: int | None, outcome: str, message: object) -> None:
        """When tracing, report the call's end (``start``: when it began)."""
        if self._traced:
            self._traced.report_return(start, value, outcome, message)

    def _classify(self, exc: BaseException, phase: str) -> WapcError:
        """Turn whatever ended guest code early into the one error to report.

        A stop request (or a ``KeyboardInterrupt`` the caller's own signal
        handler raised while the guest ran) is not the guest's doing: it is
        raised as ``KeyboardInterrupt``.
        """
        if isinstance(exc, KeyboardInterrupt) or interrupts.requested():
            raise KeyboardInterrupt from None
        return self._memory_limit_hit(
            classify_fault(exc, self.session, self.module.limits, phase, self.module.wasm)
        )

    def _note_memory_size(self) -> None:
        self._memory_before = None
        memory = self.session.memory
        if self.module.limits.max_memory_bytes is not None and memory is not None:
            self._memory_before = memory.size()

    def _memory_limit_hit(self, error: WapcError) -> WapcError:
        """``error``, naming the max-memory limit if the guest grew memory up to it."""
        session = self.session
        return memory_limit_hit(
            error, self.module.limits.max_memory_bytes, session.memory, self._memory_before,
            (len(session.operation), len(session.payload)),
        )


def _op_bytes(operation: object) -> bytes:
    """An operation name given as anything but bytes, as bytes (str: UTF-8)."""
    if isinstance(operation, str):
        return operation.encode("utf-8")
    if isinstance(operation, bytearray | memoryview):
        return bytes(operation)
    raise TypeError(f"operation must be str or bytes, not {type(operation).__name__}")


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
    guest = load_module(path, engine=engine).instantiate(host_call, on_log=on_log)
    return guest.call(operation, payload)
