"""How wasmtime guest code is stopped: epochs, a deadline callback per store, interrupts.

Every wasmtime engine of the adapter compiles with epoch interruption, and one
ticker thread per engine advances its epoch every :data:`EPOCH_TICK_S`. A
store's epoch deadline is at most :data:`SLICE_TICKS` ahead (sooner when its
timeout is due sooner), and reaching it calls back into :class:`StoreGuard`,
which either lets the guest go on for another slice or stops it with an
interrupt trap because

- its call has used up its time budget (reason "timeout"; :class:`TimeBudget`
  keeps the budget as a wall-clock deadline, so no timeout can overflow
  wasmtime's u64 epoch deadline), or
- :meth:`Interrupter.interrupt` was called since the call started (reason
  "interrupted"), or
- a Python signal handler, which gets to run inside that callback while the
  guest computes, raised (e.g. ``KeyboardInterrupt``): the exception is kept
  and re-raised once the call is back in Python (``pending``).

A signal handler landing at a callback's first instruction, before its
``try``, is deferred instead (:mod:`.wasmtime_signals`); the callback then
stops the guest at the next tick and the handler runs once the call is back.

The callback goes through wasmtime's C API (``wasmtime_store_epoch_deadline_callback``),
bound over wasmtime-py's own library as :mod:`.wasmtime_fast` does.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
import threading
import time
import weakref

import wasmtime
from wasmtime import _ffi as ffi

from .wasmtime_signals import DEFERRED, deliver, guard_signal, register

#: How often the epoch ticker advances the engine's epoch: the granularity of a
#: timeout, and the longest a running guest waits before it sees an interrupt
#: or lets a Python signal handler run.
EPOCH_TICK_S = 0.005
#: The most ticks a store runs between two deadline callbacks: how long a guest
#: spinning in pure wasm may go before a Python signal handler can run. Short
#: calls then rarely meet the callback at all (a trap's reported offset can
#: shift by one in a frame where it ran).
SLICE_TICKS = 20

_P = ctypes.c_void_p
# (context, data, *epoch_deadline_delta, *update_kind) -> wasmtime_error_t* or 0.
_DeadlineCallback = ctypes.CFUNCTYPE(ctypes.c_size_t, _P, _P, _P, _P)
_Finalizer = ctypes.CFUNCTYPE(None, _P)
_set_deadline_callback = ctypes.PYFUNCTYPE(None, _P, _DeadlineCallback, _P, _Finalizer)(
    ("wasmtime_store_epoch_deadline_callback", ffi.dll)
)
_trap_new_code = ctypes.PYFUNCTYPE(_P, ctypes.c_uint8)(("wasmtime_trap_new_code", ffi.dll))
_INTERRUPT_CODE: int = wasmtime.TrapCode.INTERRUPT.value
_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
_u64_at = ctypes.c_uint64.from_address
_u8_at = ctypes.c_uint8.from_address


def interrupt_trap() -> int:
    """A new interrupt trap, as the error a deadline callback returns.

    The C API's ``wasm_trap_t`` and ``wasmtime_error_t`` are both one boxed
    error, so a trap handed back as an error keeps its trap code: the call then
    fails with an ordinary ``Trap`` (code INTERRUPT, with its wasm frames).
    """
    return int(_trap_new_code(_INTERRUPT_CODE) or 0)


class EpochTicker:
    """One daemon thread per wasmtime engine advancing its epoch every :data:`EPOCH_TICK_S`.

    Cheaper than a timer thread per call; it starts with the engine's first store.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._engine = engine
        self._started = False
        self._lock = threading.Lock()
        #: Roughly how many times the epoch advanced (only to tell when a deadline is near).
        self.ticks = 0

    def ensure_running(self) -> None:
        with self._lock:
            if not self._started:
                threading.Thread(target=self._run, name="wapc-epoch", daemon=True).start()
                self._started = True

    def _run(self) -> None:
        event = threading.Event()
        while not event.wait(EPOCH_TICK_S):
            self.advance(1)

    def advance(self, ticks: int) -> None:
        """Advance the epoch ``ticks`` times now (an atomic add each, in wasmtime)."""
        for _ in range(ticks):
            self._engine.increment_epoch()
        self.ticks += ticks


class Interrupter:
    """Stops the guest code running in any store of one adapter (:meth:`interrupt`).

    A counter of interrupts: a store notes its value when a call starts and
    traps at its next epoch check once the value has changed, so an interrupt
    reaches the calls running at that moment and no later one.
    """

    __slots__ = ("_tickers", "count")

    def __init__(self) -> None:
        self.count = 0
        self._tickers: list[EpochTicker] = []

    def watch(self, ticker: EpochTicker) -> None:
        """Also reach the stores of ``ticker``'s engine (one of the adapter's)."""
        self._tickers.append(ticker)

    def interrupt(self) -> None:
        """Make every running store trap (reason "interrupted") at its next epoch check.

        Safe from any thread and from a Python signal handler: it bumps a
        counter and advances each engine's epoch past every store's deadline
        (:data:`SLICE_TICKS` atomic adds), so a store notices now.
        """
        self.count += 1
        for ticker in tuple(self._tickers):
            ticker.advance(SLICE_TICKS)


def ticks_for(seconds: float) -> int:
    """Ticks until a deadline ``seconds`` away, within 1..SLICE_TICKS (any float is fine)."""
    if seconds >= SLICE_TICKS * EPOCH_TICK_S:  # also infinity, and far beyond u64 range
        return SLICE_TICKS
    return max(1, math.ceil(seconds / EPOCH_TICK_S))


#: The guard of each live store, by the key wasmtime hands back to the callback.
_GUARDS: dict[int, StoreGuard] = {}
_keys = itertools.count(1)


class StoreGuard:
    """The deadline callback's state for one store: when to stop, and why it stopped.

    ``deadline`` (a ``time.perf_counter()`` value; infinite without a timeout)
    and ``seen`` (the interrupt count when the current call started) are set by
    :meth:`arm` before each call. ``reason`` says why the guard stopped the
    guest ("timeout" or "interrupted"), ``pending`` holds an exception that
    must not cross into C (raised by a signal handler here, or by a host
    function of the fast path); :meth:`take` hands both over once.
    """

    __slots__ = (
        "_interrupter", "_store", "_ticker", "_until", "deadline", "pending", "reason", "seen",
    )

    def __init__(
        self, store: wasmtime.Store, ticker: EpochTicker, interrupter: Interrupter
    ) -> None:
        self._interrupter = interrupter
        # Weakly: _GUARDS holds this guard until wasmtime drops the store, so a strong
        # reference would keep every store (and its instance's memory) alive for good.
        self._store = weakref.ref(store)
        self._ticker = ticker
        self._until = 0  # the tick the store's epoch deadline is at, roughly
        self.deadline = math.inf
        self.seen = interrupter.count
        self.reason: str | None = None
        self.pending: BaseException | None = None
        guard_signal()
        key = next(_keys)
        _GUARDS[key] = self
        # The finalizer forgets this guard when wasmtime drops the store.
        _set_deadline_callback(ctypes.cast(store.ptr(), _P).value, _on_deadline, key, _forget)
        self._extend(SLICE_TICKS)

    def _extend(self, ticks: int) -> None:
        store = self._store()
        if store is not None:  # else no call can run on it any more
            store.set_epoch_deadline(ticks)
        self._until = self._ticker.ticks + ticks

    def arm(self, seconds: float | None) -> None:
        """Start a call that may run ``seconds`` (None: no time limit)."""
        self.seen = self._interrupter.count
        if seconds is None:
            self.deadline = math.inf
            # Moving the deadline costs a call into wasmtime: only when it is near.
            if self._until - self._ticker.ticks < SLICE_TICKS // 2:
                self._extend(SLICE_TICKS)
        else:
            self.deadline = time.perf_counter() + seconds
            self._extend(ticks_for(seconds))

    def check(self, delta: int, kind: int) -> int:
        """The callback's answer: 0 to go on for one more tick, else the trap to stop with."""
        if DEFERRED:  # a signal handler to run: take() runs it once the call has failed
            return interrupt_trap()
        if self._interrupter.count != self.seen:
            self.reason = "interrupted"
            return interrupt_trap()
        left = self.deadline - time.perf_counter()
        if left <= 0:
            self.reason = "timeout"
            return interrupt_trap()
        ticks = ticks_for(left)
        self._until = self._ticker.ticks + ticks
        _u64_at(delta).value = ticks
        _u8_at(kind).value = _CONTINUE
        return 0

    def keep(self, exc: BaseException) -> None:
        """Keep ``exc`` to re-raise after the call (the first one wins)."""
        if self.pending is None:
            self.pending = exc

    def take(self) -> str | None:
        """After a failed call: re-raise a kept exception, else return (and clear) ``reason``."""
        pending, self.pending = self.pending, None
        reason, self.reason = self.reason, None
        if DEFERRED:  # first: a signal handler's exception is the user's wish
            deliver()
        if pending is not None:
            raise pending
        return reason


def _deadline_reached(context: int | None, key: int | None, delta: int, kind: int) -> int:
    guard = None
    try:
        guard = _GUARDS[key or 0]
        return guard.check(delta, kind)
    except BaseException as exc:  # must not cross into C: a signal handler raised here
        try:
            if guard is not None:
                guard.keep(exc)
        finally:
            return interrupt_trap()  # noqa: B012 - returning is the point: nothing may escape


def _forgotten(key: int | None) -> None:
    # At interpreter exit the registry may be gone; a signal may land here: ignore both.
    with contextlib.suppress(BaseException):
        _GUARDS.pop(key or 0, None)


register(_deadline_reached, _forgotten, interrupt_trap, StoreGuard.keep)
# Module-level C callbacks: they outlive every store.
_on_deadline = _DeadlineCallback(_deadline_reached)
_forget = _Finalizer(_forgotten)


class TimeBudget:
    """The timeout limit of one instance, as wall-clock deadlines of its :class:`StoreGuard`.

    Instantiation (the start section) and the init exports draw on the budget of
    the first guest call after them, so a slow init cannot stretch that call past
    the limit; every later guest call gets a whole budget. Only time spent inside
    the engine counts: an idle Python caller between calls is not charged.
    Without a timeout it still arms the guard, which marks where an interrupt
    starts to count.
    """

    __slots__ = ("_guard", "_spent", "fresh", "timeout_s")

    def __init__(self, guard: StoreGuard, timeout_s: float | None) -> None:
        self._guard = guard
        self.timeout_s = timeout_s
        self._spent = 0.0
        self.fresh = True

    def arm_init(self) -> float:
        """Arm for instantiation or an init export; pass the result to :meth:`spend`."""
        timeout = self.timeout_s
        self._guard.arm(None if timeout is None else timeout - self._spent)
        return time.perf_counter()

    def spend(self, started: float) -> None:
        if self.fresh:
            self._spent += time.perf_counter() - started

    def arm_call(self) -> None:
        timeout = self.timeout_s
        if timeout is not None and self.fresh:
            timeout -= self._spent
        self._guard.arm(timeout)
        self.fresh = False
