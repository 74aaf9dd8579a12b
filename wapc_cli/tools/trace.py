"""What every trace renderer shares: running totals, the run's header and result.

A sink is called with each event as it happens; renderers subclass
:class:`TraceSink` and only decide how an event or the summary looks.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..runtime import events as ev
from ..runtime.hostcalls import HostCallRequest


@dataclass(frozen=True, slots=True)
class AbortedHostCall(ev.HostCall):
    """A host call on which the host stopped the run (a stub table's ``default: fail``):
    the guest never got an answer."""


@dataclass(frozen=True, slots=True)
class FunctionCall(ev.Event):
    """A host call (``tarmac:function:NAME``, a stub's ``reply: {guest: ...}``) begins a
    nested exchange: the callee's steps follow, one level deeper, until the matching
    :class:`FunctionReturn`. ``function`` names it, ``operation`` is the callee's.

    ``span`` identifies the nested exchange: each of its steps names it as
    ``parent``. The sink fills in ``t_ns`` (on the caller's clock)."""

    name: ClassVar[str] = "function_call"
    function: str = ""
    module: str = ""
    payload_len: int = 0
    span: int = 0
    operation: str = "handler"


@dataclass(frozen=True, slots=True)
class FunctionReturn(ev.Event):
    """The nested exchange ``span`` is over (``duration_ns``: all of it, init included)."""

    name: ClassVar[str] = "function_return"
    function: str = ""
    span: int = 0
    outcome: str = "ok"  # "ok" | "error" (the caller's host call failed) | "stopped"
    message: str | None = None
    response_len: int = 0


@dataclass
class Nested:
    """One nested exchange under way, as the sink follows it."""

    span: int
    function: str
    in_call: bool = False
    clock0: int = 0  # perf_counter_ns when its current phase (init, then the call) began
    hidden_before: int = 0  # TraceSink._hidden_ns before its start was drawn
    hidden_start: int = 0  # ... and after
    lag_ns: int = 0  # drawing since its call began (as TraceSink._lag_ns)
    render_ns: int = 0  # ... less drawing its guest_call step (as TraceStats.render_ns)


@dataclass
class KeyStats:
    count: int = 0
    failed: int = 0
    duration_ns: int = 0


@dataclass
class TraceStats:
    """Totals over the events seen: the closing summary is computed from these."""

    total_ns: int = 0  # the exchange, guest_call to return
    host_ns: int = 0  # time spent in host functions during the exchange
    render_ns: int = 0  # time the trace itself spent drawing steps during the exchange
    init_ns: int = 0
    bytes_in: int = 0  # into the guest: request + host answers it read
    bytes_out: int = 0  # out of the guest: host-call payloads + its response/error
    host_calls: dict[str, KeyStats] = field(default_factory=dict)
    logs: int = 0
    in_call: bool = False
    #: Nested exchanges (function calls) by function name; their steps are not
    #: in the figures above (a nested exchange's time is its host call's time).
    functions: dict[str, KeyStats] = field(default_factory=dict)
    nested_host_calls: int = 0

    @property
    def guest_ns(self) -> int:
        return max(0, self.total_ns - self.host_ns - self.render_ns)

    def add(self, event: ev.Event) -> None:
        if isinstance(event, ev.GuestCall):
            self.in_call = True
            return
        if isinstance(event, ev.Return):
            self.total_ns = event.t_ns
            self.in_call = False
            return
        if isinstance(event, ev.InitStep):
            self.init_ns += event.duration_ns
            return
        if self.in_call:
            self.host_ns += event.duration_ns
        if isinstance(event, ev.HostCall):
            key = f"{event.binding}:{event.namespace}:{event.operation}"
            stats = self.host_calls.setdefault(key, KeyStats())
            stats.count += 1
            stats.failed += event.result != 1
            stats.duration_ns += event.duration_ns
            self.bytes_out += len(event.payload)
        elif isinstance(event, ev.GuestRequest):
            self.bytes_in += event.op_len + event.payload_len
        elif isinstance(event, (ev.HostResponse, ev.HostError)):
            self.bytes_in += event.length
        elif isinstance(event, (ev.GuestResponse, ev.GuestErrorSet)):
            self.bytes_out += event.length
        elif isinstance(event, ev.ConsoleLog):
            self.logs += 1


@dataclass(frozen=True)
class RunInfo:
    module: str
    operation: str
    engine: str
    payload: bytes
    host: str  # how host calls are answered (HostSetup.describe)


@dataclass(frozen=True)
class TraceResult:
    exit_code: int
    kind: str  # ok | guest_error | trap | limit | stub_failure | ...
    message: str | None
    response: bytes | None
    warnings: tuple[str, ...] = ()
    error: dict[str, Any] | None = None  # as in `call --json`
    preset: dict[str, Any] | None = None  # the tarmac preset's state at the end


class TraceSink:
    def __init__(self) -> None:
        self.stats = TraceStats()
        self._clock0 = time.perf_counter_ns()
        self._lag_ns = 0
        #: Events come from another process (a supervised run) whose clock does not
        #: wait for this sink: drawing a step then takes nothing off the guest's time.
        self.concurrent = False
        #: The nested exchanges (function calls) under way, outermost first.
        self.nested: list[Nested] = []
        #: Time spent drawing steps that happened inside host calls (nested exchanges).
        self._hidden_ns = 0
        #: Of it, the part inside the host call whose event comes next.
        self._pending_hidden = 0
        #: Of it, the part drawn after the step being shown began.
        self._began_before = 0

    @property
    def depth(self) -> int:
        """How deep the step being shown is: 0 for the run's own exchange."""
        return len(self.nested)

    @property
    def parent(self) -> int | None:
        """The span of the nested exchange the step being shown belongs to (None at depth 0)."""
        return self.nested[-1].span if self.nested else None

    @property
    def in_call(self) -> bool:
        """Whether the step being shown is part of a call (else of an init)."""
        return self.nested[-1].in_call if self.nested else self.stats.in_call

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, (FunctionCall, FunctionReturn)):
            self._function_step(event)
            return
        hidden, self._pending_hidden = self._pending_hidden, 0
        self._began_before = 0
        if hidden and isinstance(event, ev.HostCall):
            # The host call that ran a nested exchange: its time without drawing that,
            # and its start as it was before the drawing (shown_t).
            event = dataclasses.replace(event, duration_ns=max(0, event.duration_ns - hidden))
            self._began_before = hidden
        if self.nested:
            # A callee's step: on its own clock, kept out of the run's own figures.
            frame = self.nested[-1]
            if isinstance(event, ev.GuestCall):
                frame.in_call, frame.clock0 = True, time.perf_counter_ns()
                frame.lag_ns = frame.render_ns = 0
            elif isinstance(event, ev.HostCall):
                self.stats.nested_host_calls += 1
            spent = self._draw_hidden(event)
            if isinstance(event, ev.GuestCall):
                frame.render_ns -= spent  # as at the top: Return's clock starts after it
            if isinstance(event, ev.Return):
                frame.in_call = False
            return
        if isinstance(event, ev.GuestCall):
            self._clock0 = time.perf_counter_ns()  # the core's exchange clock starts here too
        self.stats.add(event)
        started = time.perf_counter_ns()
        self.emit(event)
        spent = time.perf_counter_ns() - started
        if self.concurrent:
            return
        if isinstance(event, ev.GuestCall):
            self._lag_ns = spent  # the core's step clock already runs; Return's does not yet
        elif self.stats.in_call:
            # Drawing a step happens inside the exchange: keep it out of the guest's time.
            self.stats.render_ns += spent
            self._lag_ns += spent

    def _draw_hidden(self, event: ev.Event) -> int:
        """Draw a step that happens inside a host call (a nested exchange's, or its
        start and end): the time it takes is kept out of that host call's duration
        (:attr:`_hidden_ns`), of the guest's, and of every enclosing callee's clock."""
        started = time.perf_counter_ns()
        self.emit(event)
        spent = time.perf_counter_ns() - started
        if self.concurrent:
            return 0
        self._hidden_ns += spent
        for frame in self.nested:
            frame.lag_ns += spent
            frame.render_ns += spent
        if self.stats.in_call:
            self.stats.render_ns += spent
            self._lag_ns += spent
        return spent

    def shown_t(self, event: ev.Event) -> int:
        """``t_ns`` without the time this trace spent drawing earlier steps."""
        if self.nested:  # a callee's own clock, as the run's own below
            frame = self.nested[-1]
            if isinstance(event, ev.Return):
                return max(0, event.t_ns - frame.render_ns)
            return max(0, event.t_ns - frame.lag_ns) if frame.in_call else event.t_ns
        if isinstance(event, ev.Return):
            return max(0, event.t_ns - self.stats.render_ns)
        if self.stats.in_call:
            return max(0, event.t_ns - (self._lag_ns - self._began_before))
        return event.t_ns

    def _function_step(self, event: FunctionCall | FunctionReturn) -> None:
        now = time.perf_counter_ns()
        self._pending_hidden = 0
        if isinstance(event, FunctionCall):
            before = self._hidden_ns
            t = now - (self.nested[-1].clock0 if self.nested else self._clock0)
            self._draw_hidden(dataclasses.replace(event, t_ns=max(0, t)))
            self.nested.append(Nested(event.span, event.function, clock0=now,
                                      hidden_before=before, hidden_start=self._hidden_ns))
            return
        frame = None
        while self.nested:
            frame = self.nested.pop()
            if frame.span == event.span:
                break  # (a callee stopped mid-way leaves no deeper returns)
        inside = self._hidden_ns - frame.hidden_start if frame is not None else 0
        event = dataclasses.replace(event, duration_ns=max(0, event.duration_ns - inside))
        if not self.nested:
            stats = self.stats.functions.setdefault(event.function, KeyStats())
            stats.count += 1
            stats.failed += event.outcome != "ok"
            stats.duration_ns += event.duration_ns
        t = time.perf_counter_ns() - (self.nested[-1].clock0 if self.nested else self._clock0)
        self._draw_hidden(dataclasses.replace(event, t_ns=max(0, t)))
        if frame is not None:
            self._pending_hidden = self._hidden_ns - frame.hidden_before

    def host_abort(self, request: HostCallRequest, message: str, duration_ns: int) -> None:
        """A handler stopped the run inside a host call; the core emits nothing for it."""
        t = max(0, time.perf_counter_ns() - self._clock0 - duration_ns)
        self(
            AbortedHostCall(
                t, duration_ns, request.binding, request.namespace, request.operation,
                request.payload, 0, b"", message, "default: fail",
            )
        )

    # -- what renderers implement -----------------------------------------------------
    def start(self, info: RunInfo) -> None:
        self._clock0 = time.perf_counter_ns()

    def emit(self, event: ev.Event) -> None:
        raise NotImplementedError

    def finish(self, result: TraceResult) -> None:
        raise NotImplementedError
