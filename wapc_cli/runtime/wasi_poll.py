"""WASI clocks and ``poll_oneoff``: sleeps that really sleep, and still end with the budget

A clock subscription sleeps in short slices (:data:`~.budget.WAIT_SLICE_S`),
looking between them for a stop request (Ctrl-C, :mod:`.interrupts`) and at
the exchange's deadline (the session's ``deadline``, the time limit's): a
sleep that would outlast it sleeps until the deadline, then ends the guest
with the timeout limit (:class:`~.budget.OutOfTime`). fd subscriptions are
answered at once: the standard streams and files are always ready (stdin
reports the bytes it has). At most :data:`MAX_SUBSCRIPTIONS` per call.
"""

from __future__ import annotations

import math
import os
import struct
import time

from . import interrupts
from .budget import WAIT_SLICE_S, OutOfTime
from .wasi_errno import EBADF, EINVAL, ENOTCAPABLE, ESUCCESS, Errno
from .wasi_state import WasiState
from .wasi_types import (
    CLOCK_MONOTONIC,
    CLOCK_PROCESS_CPUTIME,
    CLOCK_REALTIME,
    CLOCK_THREAD_CPUTIME,
    EVENT,
    EVENTTYPE_CLOCK,
    EVENTTYPE_FD_READ,
    EVENTTYPE_FD_WRITE,
    RIGHT_POLL_FD_READWRITE,
    SUBCLOCK_ABSTIME,
    SUBSCRIPTION_SIZE,
    u32,
)

#: The most subscriptions one poll_oneoff call may pass (more: EINVAL).
MAX_SUBSCRIPTIONS = 4096

_CLOCKS = {
    CLOCK_REALTIME: time.CLOCK_REALTIME,
    CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
    CLOCK_PROCESS_CPUTIME: time.CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_THREAD_CPUTIME: time.CLOCK_THREAD_CPUTIME_ID,
}


def _clock(clock_id: int) -> int:
    host = _CLOCKS.get(u32(clock_id))
    if host is None:
        raise Errno(EINVAL)
    return host


def clock_res_get(state: WasiState, clock_id: int, result_ptr: int) -> int:
    resolution = time.clock_getres(_clock(clock_id))
    state.memory.store_u64("clock_res_get", result_ptr, max(1, round(resolution * 1e9)))
    return ESUCCESS


def clock_time_get(state: WasiState, clock_id: int, precision: int, result_ptr: int) -> int:
    now = time.clock_gettime_ns(_clock(clock_id))
    state.memory.store_u64("clock_time_get", result_ptr, now)
    return ESUCCESS


def sched_yield(state: WasiState) -> int:
    os.sched_yield()
    return ESUCCESS


def _poll(state: WasiState, in_ptr: int, out_ptr: int, count: int, nevents_ptr: int,
          module: str) -> int:
    count = u32(count)
    if count == 0 or count > MAX_SUBSCRIPTIONS:
        raise Errno(EINVAL)
    size = SUBSCRIPTION_SIZE[module]
    raw = state.memory.read("poll_oneoff (subscriptions)", in_ptr, size * count)
    state.memory.span("poll_oneoff (events)", out_ptr, EVENT.size * count)
    events: list[bytes] = []
    timers: list[tuple[float, int]] = []  # (monotonic deadline, userdata)
    asked = time.monotonic()  # what every timer counts from (its length, exactly, when relative)
    for index in range(count):
        record = raw[size * index: size * (index + 1)]
        userdata, tag = struct.unpack_from("<QB", record, 0)
        if tag == EVENTTYPE_CLOCK:
            if module == "wasi_unstable":  # an extra u64 identifier first
                clock_id, timeout, _, flags = struct.unpack_from("<IxxxxQQH", record, 24)
            else:
                clock_id, timeout, _, flags = struct.unpack_from("<IxxxxQQH", record, 16)
            try:
                timers.append((_deadline(clock_id, timeout, flags, asked), userdata))
            except Errno as exc:
                events.append(EVENT.pack(userdata, exc.code, tag, 0, 0))
        elif tag in (EVENTTYPE_FD_READ, EVENTTYPE_FD_WRITE):
            (fd,) = struct.unpack_from("<I", record, 16)
            events.append(_fd_event(state, userdata, tag, fd))
        else:
            events.append(EVENT.pack(userdata, EINVAL, tag, 0, 0))
    if not events and timers:
        first = min(deadline for deadline, _ in timers)
        _sleep_until(state, first, first - asked)
    now = time.monotonic()
    events += [EVENT.pack(userdata, ESUCCESS, EVENTTYPE_CLOCK, 0, 0)
               for deadline, userdata in timers if deadline <= now]
    state.memory.write("poll_oneoff (events)", out_ptr, b"".join(events))
    state.memory.store_u32("poll_oneoff", nevents_ptr, len(events))
    return ESUCCESS


def poll_oneoff(state: WasiState, in_ptr: int, out_ptr: int, count: int,
                nevents_ptr: int) -> int:
    return _poll(state, in_ptr, out_ptr, count, nevents_ptr, "wasi_snapshot_preview1")


def unstable_poll_oneoff(state: WasiState, in_ptr: int, out_ptr: int, count: int,
                         nevents_ptr: int) -> int:
    return _poll(state, in_ptr, out_ptr, count, nevents_ptr, "wasi_unstable")


def _deadline(clock_id: int, timeout: int, flags: int, now: float) -> float:
    """A clock subscription's end, on the monotonic clock (seconds), ``now`` being the poll's."""
    host = _clock(clock_id)
    left_ns = timeout - time.clock_gettime_ns(host) if flags & SUBCLOCK_ABSTIME else timeout
    return now + max(0, left_ns) / 1e9


def _fd_event(state: WasiState, userdata: int, tag: int, fd: int) -> bytes:
    descriptor = state.fds.fds.get(u32(fd))
    if descriptor is None:
        return EVENT.pack(userdata, EBADF, tag, 0, 0)
    if not descriptor.rights & RIGHT_POLL_FD_READWRITE:
        return EVENT.pack(userdata, ENOTCAPABLE, tag, 0, 0)
    wanted = descriptor.readable if tag == EVENTTYPE_FD_READ else descriptor.writable
    if not wanted or descriptor.is_dir:
        return EVENT.pack(userdata, EBADF, tag, 0, 0)
    ready = 0
    if tag == EVENTTYPE_FD_READ:
        if descriptor.stream is not None:
            ready = state.stdin.available()
        else:
            try:
                info = os.fstat(descriptor.host_fd)
                ready = max(0, info.st_size - os.lseek(descriptor.host_fd, 0, os.SEEK_CUR))
            except OSError:
                ready = 0
    return EVENT.pack(userdata, ESUCCESS, tag, ready, 0)


def _sleep_until(state: WasiState, end: float, requested: float) -> None:
    """Sleep until ``end`` (monotonic), in slices; the budget's deadline ends it first.

    ``requested``: the sleep's length as the guest asked for it (for the timeout's error).
    """
    budget = state.exchange.deadline
    limit = math.inf if budget is None else budget
    while True:
        interrupts.check()
        now = time.monotonic()
        if now >= limit and end > limit:
            fault = OutOfTime(f"poll_oneoff: a sleep of {requested:g}s")
            state.exchange.fault = fault  # not every engine hands the exception back unchanged
            raise fault
        if now >= end:
            return
        time.sleep(min(WAIT_SLICE_S, end - now, max(0.0, limit - now)))
