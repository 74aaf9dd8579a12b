"""The waPC imports of a tracing session: each step reported as a trace event.

A session that traces hands the engine these wrappers instead of its plain
import methods, so the plain ones carry no tracing code at all: with tracing
off, nothing here is imported or run. Each wrapper times the plain import and
reports it once it has succeeded (an import that faults reports nothing; the
call's ``return`` event says why it ended).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import events as ev
from .hostcalls import HostCallRequest, HostReply

if TYPE_CHECKING:
    from .session import EventSink, WapcSession

_U32 = 0xFFFFFFFF
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


def traced_imports(session: WapcSession, emit: EventSink, plain: Imports) -> Imports:
    """``plain`` with the nine waPC imports wrapped to emit their events."""
    clock = time.perf_counter_ns
    if not isinstance(session.handler, _Recorder):
        session.handler = _Recorder(session.handler)
    recorder: _Recorder = session.handler  # type: ignore[assignment]
    wrapped = dict(plain)

    def wrap(name: str, report: Callable[..., ev.Event]) -> None:
        """Make ``wapc.name`` run, then emit report(t, duration, result, *args)."""
        inner = plain[("wapc", name)]

        def step(*args: int) -> Any:
            start = clock()
            result = inner(*args)
            emit(report(start - session.t0, clock() - start, result, *args))
            return result

        wrapped[("wapc", name)] = step

    wrap("__guest_request", lambda t, d, _, op_ptr, ptr: ev.GuestRequest(
        t, d, op_ptr & _U32, ptr & _U32, len(session.operation), len(session.payload)))
    wrap("__guest_response", lambda t, d, _, ptr, length: ev.GuestResponse(
        t, d, ptr & _U32, length & _U32, session.response or b""))
    wrap("__guest_error", lambda t, d, _, ptr, length: ev.GuestErrorSet(
        t, d, ptr & _U32, length & _U32, (session.error or b"").decode("utf-8", "replace")))
    wrap("__host_response_len", lambda t, d, value: ev.HostResponseLen(t, 0, value))
    wrap("__host_response", lambda t, d, _, ptr: ev.HostResponse(
        t, d, ptr & _U32, len(session.host_body or b"")))
    wrap("__host_error_len", lambda t, d, value: ev.HostErrorLen(t, 0, value))
    wrap("__host_error", lambda t, d, _, ptr: ev.HostError(
        t, d, ptr & _U32, len(session.host_fault or b"")))

    def host_call_event(t: int, d: int, result: int, *_: int) -> ev.Event:
        request, answer = recorder.request, recorder.answer
        assert request is not None  # host_call returned: the handler was asked
        fault = session.host_fault
        return ev.HostCall(
            t, d, request.binding, request.namespace, request.operation, request.payload,
            result, session.host_body or b"",
            None if fault is None else fault.decode("utf-8", "replace"),
            answer.source if isinstance(answer, HostReply) else None,
        )

    wrap("__host_call", host_call_event)
    return wrapped
