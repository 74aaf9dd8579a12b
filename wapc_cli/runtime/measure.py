"""Throughput and latency of guest calls: the measured loop of a benchmark.

:func:`measure_calls` warms a fresh guest up, times its calls and returns a
:class:`BenchResult`; it prints nothing and reports progress through an
optional callback. Two loops can be measured on the same instance: the public
API (``Guest.try_call``) and a *bare* host loop (protocol session + engine hot
path, nothing else), so the API's own cost shows as a percentage. It runs
in-process or inside a supervised child alike (``wapc_cli.isolation``), which
passes a :class:`CallWatch` to time each call; ``wapc_cli.tools.bench``
composes the two.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..engines import get_engine
from ..errors import GuestError, GuestTrap, LimitExceeded, WapcError
from .guest import Guest, WapcModule

#: progress(done, total): total is None for a duration-bound run.
Progress = Callable[[int, "int | None"], None]
_PROGRESS_EVERY = 2048


class CallWatch(Protocol):
    """Told before each guest call and when no call is under way (a supervised run
    enforces a per-call timeout from it where the engine cannot stop a guest)."""

    def tick(self) -> None: ...

    def idle(self) -> None: ...


def _watched(fn: Callable[..., Any], watch: CallWatch | None) -> Callable[..., Any]:
    if watch is None:
        return fn
    tick = watch.tick

    def call(*args: Any) -> Any:
        tick()
        return fn(*args)

    return call


@dataclass
class LoopStats:
    """The figures of one timed loop (the bare loop's, when it is compared)."""

    calls: int
    elapsed_s: float
    calls_per_s: float
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float
    mean_us: float


@dataclass
class BenchResult:
    """What one benchmark measured: the API loop, the cold path, and notes for the reader.

    Plain data, so it pickles across a supervised child's pipe and dumps as JSON.
    """

    engine: str
    engine_version: str
    hot_path: str  # "c-api" | "public-api" | engine-specific
    module: str
    operation: str
    payload_len: int
    response_len: int | None
    calls: int
    errors: int
    calls_per_s: float
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float
    mean_us: float
    host_calls_per_call: float
    compile_ms: float
    cache_hit: bool
    instantiate_ms: float
    init_ms: float
    bare: LoopStats | None = None
    api_overhead_pct: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in data.items()}


def _percentile(ordered: list[int], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def _stats(latencies_ns: list[int], elapsed_s: float) -> LoopStats:
    ordered = sorted(latencies_ns)
    calls = len(ordered)
    return LoopStats(
        calls=calls,
        elapsed_s=elapsed_s,
        calls_per_s=calls / elapsed_s if elapsed_s > 0 else 0.0,
        p50_us=_percentile(ordered, 0.50),
        p90_us=_percentile(ordered, 0.90),
        p99_us=_percentile(ordered, 0.99),
        max_us=ordered[-1] / 1000.0 if ordered else 0.0,
        mean_us=(sum(ordered) / calls / 1000.0) if calls else 0.0,
    )


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """No cyclic GC pauses inside the timed loops (as timeit does); one collection after."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


def _deadline(count: int | None, duration: float | None) -> tuple[int, float]:
    if count is None and duration is None:
        count = 10_000
    limit = count if count is not None else 1 << 62
    end = time.perf_counter() + duration if duration is not None else float("inf")
    return limit, end


def _unless_timed_out(exc: BaseException) -> None:
    """Re-raise a call that outlived the timeout: it ends the benchmark (exit 3).

    Other traps and errors are counted, but a call per --timeout would make a
    benchmark of a hanging guest last calls x timeout; a supervised (wasmer)
    benchmark is killed at the first such call, and this one ends there too.
    """
    if isinstance(exc, LimitExceeded) and exc.limit == "timeout":
        raise exc


def _api_loop(
    guest: Guest, op: bytes, payload: bytes, count: int | None, duration: float | None,
    progress: Progress | None, watch: CallWatch | None = None,
) -> tuple[list[int], float, int, int]:
    """Guest.try_call in a loop; returns latencies, elapsed, errors and host calls.

    ``try_call`` is ``call`` returning guest errors instead of raising them (the
    same hot path): a failing operation is measured without the cost of Python
    exceptions, as a loop expecting failures would run it.
    """
    limit, end = _deadline(count, duration)
    latencies: list[int] = []
    append = latencies.append
    clock = time.perf_counter_ns
    call = _watched(guest.try_call, watch)
    session = guest.session
    errors = host_calls = done = 0
    started = time.perf_counter()
    while done < limit:
        t0 = clock()
        try:
            result: bytes | GuestError | None = call(op, payload)
        except GuestTrap as exc:
            _unless_timed_out(exc)
            result = None
        append(clock() - t0)
        # Counting is the benchmark's bookkeeping, outside the timed span (the
        # bare loop has none): try_call has already told success from failure.
        if result.__class__ is not bytes:
            errors += 1
        # Let go of the response before the next call, as the bare loop does (the
        # session drops it when the next exchange begins): holding a 1 MiB
        # response while the next is allocated costs a fresh mmap per call.
        result = None
        host_calls += session.host_calls
        done += 1
        if not done % _PROGRESS_EVERY:
            if errors:
                gc.collect(0)  # failed calls leave traceback cycles behind
            if progress is not None:
                progress(done, count)
            if time.perf_counter() >= end:
                break
    return latencies, time.perf_counter() - started, errors, host_calls


def _bare_loop(
    guest: Guest, op: bytes, payload: bytes, count: int | None, duration: float | None,
    watch: CallWatch | None = None,
) -> tuple[list[int], float]:
    """The least a correct host does per exchange: reset state, call with the lengths
    of this call's operation and payload, check the result, read the error text."""
    instance = guest.instance
    if instance is None:
        raise WapcError("the guest is not instantiated (an earlier call trapped)")
    session = guest.session
    begin = session.begin
    guest_call = _watched(instance.guest_call, watch)
    limit, end = _deadline(count, duration)
    latencies: list[int] = []
    append = latencies.append
    clock = time.perf_counter_ns
    done = 0
    started = time.perf_counter()
    while done < limit:
        t0 = clock()
        begin(op, payload)
        if guest_call(len(op), len(payload)) != 1 or session.response is None:
            error = session.error  # an error outcome is still a finished exchange
            if error is not None:
                error.decode("utf-8", "replace")
        append(clock() - t0)
        done += 1
        if not done % _PROGRESS_EVERY and time.perf_counter() >= end:
            break
    return latencies, time.perf_counter() - started


#: Rounds of the paired API/bare comparison (each loop runs calls/_PAIRED_ROUNDS per round).
_PAIRED_ROUNDS = 10


def _paired_bare(
    guest: Guest, op: bytes, payload: bytes, calls: int, watch: CallWatch | None
) -> tuple[LoopStats, float | None]:
    """The bare loop's figures (``calls`` calls), and the API's cost over it in percent.

    The two loops take turns, in rounds, swapping which goes first: a machine
    that speeds up or slows down during the measurement then moves both alike.
    The cost is the median of the rounds' ratios of mean latency.
    """
    rounds = max(1, min(_PAIRED_ROUNDS, calls))
    bare_all: list[int] = []
    bare_elapsed = 0.0
    ratios: list[float] = []
    with _quiet_gc():
        for index in range(rounds):
            per_round = calls // rounds + (1 if index < calls % rounds else 0)
            if guest.instance is None:  # a trap in the API loop: no bare loop to compare
                break
            runs: dict[str, tuple[list[int], float]] = {}
            for which in (("api", "bare") if index % 2 == 0 else ("bare", "api")):
                if which == "api":
                    lat, elapsed, _, _ = _api_loop(guest, op, payload, per_round, None, None, watch)
                else:
                    lat, elapsed = _bare_loop(guest, op, payload, per_round, None, watch)
                runs[which] = (lat, elapsed)
            bare_lat, elapsed = runs["bare"]
            bare_all += bare_lat
            bare_elapsed += elapsed
            if bare_lat and sum(bare_lat):
                ratios.append(sum(runs["api"][0]) / len(runs["api"][0])
                              / (sum(bare_lat) / len(bare_lat)))
        if watch is not None:
            watch.idle()
    overhead = (statistics.median(ratios) - 1.0) * 100.0 if ratios else None
    return _stats(bare_all, bare_elapsed), overhead


def hot_path_name(guest: Guest) -> str:
    """The engine's name for the path a call takes ("unknown" while no instance is live)."""
    instance = guest.instance
    return instance.hot_path if instance is not None else "unknown"


def measure_calls(
    module: WapcModule,
    guest: Guest,
    operation: str,
    payload: bytes,
    *,
    count: int | None = None,
    duration: float | None = None,
    warmup: int = 1000,
    compare_bare: bool = False,
    progress: Progress | None = None,
    watch: CallWatch | None = None,
) -> BenchResult:
    """Warm up, then measure ``count`` calls or ``duration`` seconds of them.

    ``module`` and ``guest`` are fresh (the cold-path figures come from their
    timings). Guest errors and traps are counted, not raised: measuring a
    failing operation is legitimate. ``watch`` (when given) hears of every guest
    call; it costs a Python call per guest call, so only a supervised run uses it.
    """
    op = operation.encode("utf-8")
    cold = (guest.timings.instantiate_ms, guest.timings.init_ms)  # before any rebuild
    response: bytes | None = None
    notes: list[str] = []
    call = _watched(guest.call, watch)
    try:
        response = call(op, payload)
    except (GuestError, GuestTrap) as exc:
        _unless_timed_out(exc)
        notes.append(f"first call failed: {exc}")
    warm = guest.try_call
    for _ in range(max(0, warmup - 1)):
        try:
            warm(op, payload)
        except GuestTrap as exc:
            _unless_timed_out(exc)
    if watch is not None:
        watch.idle()
    with _quiet_gc():
        latencies, elapsed, errors, host_calls = _api_loop(
            guest, op, payload, count, duration, progress, watch
        )
        if watch is not None:
            watch.idle()  # collecting garbage and sorting latencies is not a guest call
    api = _stats(latencies, elapsed)
    bare = None
    overhead = None
    if compare_bare and guest.instance is not None:
        bare, overhead = _paired_bare(guest, op, payload, api.calls, watch)
    return BenchResult(
        engine=module.engine_name,
        engine_version=get_engine(module.engine_name).version,
        hot_path=hot_path_name(guest),
        module=module.name,
        operation=operation,
        payload_len=len(payload),
        response_len=len(response) if response is not None else None,
        calls=api.calls,
        errors=errors,
        calls_per_s=api.calls_per_s,
        p50_us=api.p50_us,
        p90_us=api.p90_us,
        p99_us=api.p99_us,
        max_us=api.max_us,
        mean_us=api.mean_us,
        host_calls_per_call=host_calls / api.calls if api.calls else 0.0,
        compile_ms=module.compile_ms,
        cache_hit=module.cache_hit,
        instantiate_ms=cold[0],
        init_ms=cold[1],
        bare=bare,
        api_overhead_pct=overhead,
        notes=notes,
    )
