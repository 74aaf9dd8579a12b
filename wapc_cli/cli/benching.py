"""What ``wapc bench`` does, without typer: both the typer command and the fast entry run it.

How long it may measure is bounded: every call's latency is kept (for the
percentiles), so ``--count`` and ``--warmup`` are at most :data:`MAX_CALLS`,
``--duration`` at most :data:`MAX_DURATION_S` and finite (``nan`` would never
end), ``--size`` at most :data:`MAX_SIZE`; beyond is exit 2 with one line.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..runtime.hostcalls import HostCallHandler
from ..runtime.limits import needs_supervision
from .console import terminal
from .render import bench_view
from .run_options import RunOptions
from .runspec import RunSpec, build_runspec

if TYPE_CHECKING:
    from ..tools.bench import BenchResult

#: The most calls ``--count`` (or ``--warmup``) asks for: a latency is kept per call.
MAX_CALLS = 100_000_000
#: The longest ``--duration``: one hour.
MAX_DURATION_S = 3600.0
#: The largest ``--size`` payload: 1 GiB, the payload limit of every other option.
MAX_SIZE = 1024**3

def bench_command(
    options: RunOptions, size: int | None = None, reply: str | None = None,
    count: int | None = None, duration: float | None = None, warmup: int = 1000,
    bare: bool = False,
) -> int:
    """Measure calls/s and latency of OPERATION on MODULE; the exit code (errors raise)."""
    _check_plan(count, duration, warmup)
    given = (options.payload, options.payload_hex, options.payload_json)
    if size is not None and (size < 0 or any(v is not None for v in given)):
        raise UsageError("--size: give a size >= 0 and no other payload option")
    if size is not None and size > MAX_SIZE:
        raise UsageError(f"--size: {size} is more than the maximum of {MAX_SIZE} bytes (1 GiB)")
    tarmac = (options.sql, options.kvstore, options.allow_http, options.function,
              options.tarmac_config)
    if reply is not None and (options.stubs or options.preset or any(tarmac)):
        raise UsageError("give only one of --reply, --stubs/--preset (or a Tarmac flag)")
    results: list[BenchResult] = []
    for name in _engines(options.engine):
        spec = build_runspec(options._replace(engine=name), default_timeout=None)
        if size is not None:
            spec.payload = bytes(i & 0xFF for i in range(size))
        if reply is not None:
            spec.host.handler = _constant_answer(reply.encode("utf-8"))
        results.append(_measure(spec, count, duration, warmup, bare, show=not options.json_out))
    if options.json_out:
        bench_view.write_json(results)
    else:
        bench_view.write_table(results)
    return 0


def _check_plan(count: int | None, duration: float | None, warmup: int) -> None:
    """Refuse a measurement that would not end, or not in any useful time."""
    if count is not None and count <= 0:
        raise UsageError("--count: must be a positive number of calls")
    if count is not None and count > MAX_CALLS:
        raise UsageError(f"--count: {count} is more than the maximum of {MAX_CALLS:_} calls")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise UsageError(f"--duration: {duration:g} is not a positive number of seconds")
    if duration is not None and duration > MAX_DURATION_S:
        raise UsageError(
            f"--duration: {duration:g} is more than the maximum of {MAX_DURATION_S:g} seconds"
        )
    if count is not None and duration is not None:
        raise UsageError("give only one of --count, --duration")
    if warmup < 0:
        raise UsageError("--warmup: must be zero or more")
    if warmup > MAX_CALLS:
        raise UsageError(f"--warmup: {warmup} is more than the maximum of {MAX_CALLS:_} calls")


def _constant_answer(answer: bytes) -> HostCallHandler:
    from ..tools.bench import ConstantAnswer

    return ConstantAnswer(answer)  # picklable: a supervised child answers by itself


def _engines(engine: str) -> list[str]:
    if engine != "all":
        return [engine]
    from ..engines import ENGINE_NAMES, available_engines, get_engine
    from ..errors import EngineUnavailable

    names = available_engines()
    if not names:
        raise UsageError("--engine all: no engine can be loaded in this Python")
    for name in ENGINE_NAMES:
        if name != "auto" and name not in names:
            try:
                get_engine(name)
            except EngineUnavailable as exc:  # say why it is left out, not just leave it out
                terminal.warning_line(f"--engine all: leaving out {name}: {exc}")
    return names


def _measure(spec: RunSpec, count: int | None, duration: float | None, warmup: int,
             bare: bool, show: bool) -> BenchResult:
    from ..tools.bench import run_bench

    if needs_supervision(spec.engine, spec.limits):
        return _measure_supervised(spec, count, duration, warmup, bare, show)
    module = spec.load()
    guest = spec.instantiate(module, on_log=None)
    label = bench_view.label(module.engine_name, spec.operation)
    with bench_view.progress(label, count, duration, wanted=show) as report:
        return run_bench(module, guest, spec.operation, spec.payload, count=count,
                         duration=duration, warmup=warmup, compare_bare=bare, progress=report)


def _measure_supervised(spec: RunSpec, count: int | None, duration: float | None, warmup: int,
                        bare: bool, show: bool) -> BenchResult:
    """The whole benchmark in a child process that enforces the limits (wasmer).

    The child measures (warm-up, timed loop, cold path) and sends the result
    back; a guest call that outlives ``--timeout`` has the child killed, which
    ends the benchmark with that limit (exit 3), as does running out of memory.
    """
    from ..isolation import BenchPlan
    from ..runtime.guest import read_module_file
    from ..tools.bench import run_bench_supervised
    from .runspec import module_cache

    wasm = read_module_file(spec.module)
    label = bench_view.label(spec.engine, spec.operation, " (supervised)")
    with bench_view.progress(label, count, duration, wanted=show) as report:
        return run_bench_supervised(
            wasm, operation=spec.operation, payload=spec.payload, name=str(spec.module),
            engine=spec.engine, limits=spec.limits, wasi=spec.wasi,
            host_call=spec.host.handler, plan=BenchPlan(count, duration, warmup, bare),
            progress=report, cache=module_cache(spec.cache), profile=spec.profile_name,
        )
