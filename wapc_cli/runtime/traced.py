"""A session that traces: each step of an exchange reported as a trace event.

A guest built with a tracer gets a :class:`TracedSession` instead of a plain
:class:`~wapc_cli.runtime.session.WapcSession`, so the plain session carries no
tracing code at all: with tracing off, neither this module nor the events are
imported. The traced session hands the engine wrappers of the plain import
methods; each times the plain import and reports it once it has succeeded (an
import that faults reports nothing; the call's ``return`` event says why it
ended). The guest reports its own steps (init, call, return) through it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import TrapFrame
from ..wasm.constants import U32_MASK
from . import events as ev
from .hostcalls import HostCallHandler, HostCallRequest, HostReply
from .session import EventSink, LogSink, WapcSession

Imports = dict[tuple[str, str], Callable[..., Any]]


class _Recorder:
    """The session's handler, remembering the latest request and answer for the event."""

    def __init__(self, handler: Callable[[HostCallRequest], Any]) -> None:
        self.handler = handler
        self.request: HostCallRequest | None = None
        self.answer: Any = None

    def __call__(self, request: HostCallRequest) -> Any:
        self.request, self.answer = request, None
        self.answer = self.handler(request)  # an exception leaves answer None
        return self.answer


class TracedSession(WapcSession):
    """A :class:`WapcSession` that reports every step to ``emit``.

    ``t0``: when the current exchange began (``perf_counter_ns``); event
    timestamps are relative to it.
    """

    def __init__(
        self, handler: HostCallHandler, on_log: LogSink | None, emit: EventSink
    ) -> None:
        self.emit = emit
        self.recorder = _Recorder(handler)
        self.t0 = time.perf_counter_ns()
        super().__init__(self.recorder, on_log)

    def begin(self, operation: bytes, payload: bytes) -> None:
        super().begin(operation, payload)
        self.t0 = time.perf_counter_ns()

    def log(self, message: str, source: str) -> None:
        super().log(message, source)
        self.emit(ev.ConsoleLog(time.perf_counter_ns() - self.t0, 0, message, source))

    # -- the guest's own steps ---------------------------------------------------
    def report_init_step(self, step: str, started: int, duration: int, outcome: str) -> None:
        """An instantiation or init export ran (``started``: perf_counter_ns, 0 if unknown)."""
        t = max(0, started - self.t0) if started else 0
        self.emit(ev.InitStep(t, duration, step, outcome))

    def report_guest_call(self, operation: bytes, payload_len: int) -> None:
        """A guest call is about to start (the exchange has just begun)."""
        self.emit(ev.GuestCall(
            0, 0, operation.decode("utf-8", "replace"), len(operation), payload_len,
            self.memory_bytes(),
        ))

    def memory_bytes(self) -> int | None:
        """The guest's memory size now (None: no memory, or a trapped instance's)."""
        try:
            return None if self.memory is None else self.memory.size()
        except Exception:
            return None

    def report_return(self, start: int, value: int | None, outcome: str, message: object) -> None:
        """The guest call begun at ``start`` (perf_counter_ns) has ended; ``message`` is
        its error's text, or the error itself (a trap: its frames go in the event too)."""
        elapsed = time.perf_counter_ns() - start
        frames: tuple[TrapFrame, ...] = getattr(message, "frames", ())
        text = None if message is None else str(message)
        self.emit(ev.Return(
            elapsed, 0, value, outcome, text, self.warnings, frames, self.memory_bytes()
        ))

    # -- the imports, wrapped ----------------------------------------------------
    def imports(self) -> Imports:
        """The plain imports with the nine waPC ones wrapped to emit their events."""
        plain = super().imports()
        wrapped: Imports = dict(plain)
        clock = time.perf_counter_ns
        emit = self.emit

        def wrap(name: str, report: Callable[..., ev.Event]) -> None:
            """Make ``wapc.name`` run, then emit report(t, duration, result, *args)."""
            inner = plain[("wapc", name)]

            def step(*args: int) -> Any:
                start = clock()
                result = inner(*args)
                emit(report(start - self.t0, clock() - start, result, *args))
                return result

            wrapped[("wapc", name)] = step

        wrap("__guest_request", lambda t, d, _, op_ptr, ptr: ev.GuestRequest(
            t, d, op_ptr & U32_MASK, ptr & U32_MASK, len(self.operation), len(self.payload)))
        wrap("__guest_response", lambda t, d, _, ptr, length: ev.GuestResponse(
            t, d, ptr & U32_MASK, length & U32_MASK, self.response or b""))
        wrap("__guest_error", lambda t, d, _, ptr, length: ev.GuestErrorSet(
            t, d, ptr & U32_MASK, length & U32_MASK,
            (self.error or b"").decode("utf-8", "replace")))
        wrap("__host_response_len", lambda t, d, value: ev.HostResponseLen(t, 0, value))
        wrap("__host_response", lambda t, d, _, ptr: ev.HostResponse(
            t, d, ptr & U32_MASK, len(self.host_body or b"")))
        wrap("__host_error_len", lambda t, d, value: ev.HostErrorLen(t, 0, value))
        wrap("__host_error", lambda t, d, _, ptr: ev.HostError(
            t, d, ptr & U32_MASK, len(self.host_fault or b"")))
        wrap("__host_call", self._host_call_event)
        return wrapped

    def _host_call_event(self, t: int, d: int, result: int, *_: int) -> ev.Event:
        request, answer = self.recorder.request, self.recorder.answer
        assert request is not None  # host_call returned: the handler was asked
        fault = self.host_fault
        return ev.HostCall(
            t, d, request.binding, request.namespace, request.operation, request.payload,
            result, self.host_body or b"",
            None if fault is None else fault.decode("utf-8", "replace"),
            answer.source if isinstance(answer, HostReply) else None,
        )
