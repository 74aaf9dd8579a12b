"""What every trace renderer shares: running totals, the run's header and result.

A sink is called with each event as it happens; renderers subclass
:class:`TraceSink` and only decide how an event or the summary looks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..runtime import events as ev
from ..runtime.hostcalls import HostCallRequest


@dataclass(frozen=True, slots=True)
class AbortedHostCall(ev.HostCall):
    """A host call on which the host stopped the run (a stub table's ``default: fail``):
    the guest never got an answer."""


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

    def __call__(self, event: ev.Event) -> None:
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

    def shown_t(self, event: ev.Event) -> int:
        """``t_ns`` without the time this trace spent drawing earlier steps."""
        if isinstance(event, ev.Return):
            return max(0, event.t_ns - self.stats.render_ns)
        if self.stats.in_call:
            return max(0, event.t_ns - self._lag_ns)
        return event.t_ns

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
