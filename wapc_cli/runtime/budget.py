"""The wall-clock budget of the exchange under way, as host code running inside it sees it.

A time limit covers the whole exchange, host calls included: the deadline
(``time.monotonic()``) is set when the call starts, and whatever a host-call
handler spends comes out of it. While a handler runs, :func:`remaining` says
how much is left; a handler that waits (a stub's ``delay_ms``, an ``exec:``
reply) waits no longer than that and raises :class:`OutOfTime` when the wait
would outlast it (:func:`sleep`, :func:`limited`). The session ends the
exchange with the timeout limit then, and also when a handler returns after
the deadline (``WapcSession.host_call``); a supervisor answering a child's
host calls does the same with its own deadline.

Waits also end early when the user asked the run to stop (:mod:`.interrupts`):
a signal handler cannot break into ``time.sleep`` without raising, so waits
go in short slices and look between them.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from . import interrupts

#: The longest one slice of a wait: how late a wait notices a stop request.
WAIT_SLICE_S = 0.05


class OutOfTime(Exception):
    """Raised inside a host call when the exchange's time budget ran out there.

    Like ``HostAbort`` it unwinds the guest; it is reported as the timeout limit.
    ``detail`` says what the host call was doing (``"a delay of 5s"``); the
    session fills in ``key``, the host call's binding:namespace:operation.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.key = ""

    @property
    def where(self) -> str:
        """Where the time ran out, for the timeout message."""
        return f"host call {self.key}: {self.detail}" if self.key else self.detail


class Current:
    """The deadline host code sees now (one per process: host calls run on the caller's thread).

    Set around each timed host call by the session, directly (a context manager
    costs more than the rest of the bookkeeping of a host call); elsewhere use
    :func:`running_until`.
    """

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = math.inf


CURRENT = Current()


@contextlib.contextmanager
def running_until(deadline: float) -> Iterator[None]:
    """Host code run inside the block sees ``deadline`` (``time.monotonic()``) as the end."""
    previous, CURRENT.deadline = CURRENT.deadline, deadline
    try:
        yield
    finally:
        CURRENT.deadline = previous


def deadline() -> float:
    """The end of the current exchange's budget (``time.monotonic()``; infinite: none)."""
    return CURRENT.deadline


def remaining() -> float:
    """Seconds left in the current exchange's budget (infinite without a limit; never < 0)."""
    end = CURRENT.deadline
    if end == math.inf:
        return math.inf
    return max(0.0, end - time.monotonic())


def limited(seconds: float) -> tuple[float, bool]:
    """``seconds`` cut to the budget, and whether the budget was what cut it."""
    left = remaining()
    return (left, True) if left < seconds else (seconds, False)


def sleep(seconds: float) -> None:
    """Sleep ``seconds``, but no longer than the budget (then raise :class:`OutOfTime`).

    A stop request ends the sleep early with ``KeyboardInterrupt``.
    """
    length, cut = limited(max(0.0, seconds))
    end = time.monotonic() + length
    while True:
        interrupts.check()
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(left, WAIT_SLICE_S))
    if cut:
        raise OutOfTime(f"a delay of {seconds:g}s")


class _Exchange(Protocol):
    """Where a call's deadline goes (a ``WapcSession``)."""

    deadline: float | None


class CallBudget:
    """One guest's time limit as the deadline of each exchange, set on its session.

    Instantiation and init run under a deadline of their own, and the first
    call after them gets what they left (so a slow init cannot stretch that
    call past the limit); every later call gets the whole limit. Time between
    calls (an idle caller) is not charged.
    """

    __slots__ = ("_exchange", "_init_started", "_next", "timeout_s")

    def __init__(self, exchange: _Exchange, timeout_s: float) -> None:
        self._exchange = exchange
        self.timeout_s = timeout_s
        self._next = timeout_s
        self._init_started = 0.0

    def start_init(self) -> None:
        self._init_started = now = time.monotonic()
        self._exchange.deadline = now + self.timeout_s

    def end_init(self) -> None:
        self._next = self.timeout_s - (time.monotonic() - self._init_started)

    def start_call(self) -> None:
        budget, self._next = self._next, self.timeout_s
        self._exchange.deadline = time.monotonic() + budget

    def timed(self, guest_call: Callable[[int, int], int]) -> Callable[[int, int], int]:
        """``guest_call`` (an engine's hot path) with each exchange's deadline set first
        (:meth:`start_call` written out: it runs once per exchange)."""
        exchange, clock, timeout = self._exchange, time.monotonic, self.timeout_s

        def timed_call(op_len: int, msg_len: int) -> int:
            exchange.deadline = clock() + self._next
            self._next = timeout
            return guest_call(op_len, msg_len)

        return timed_call
