"""``wapc bench`` as a tool: a benchmark measured in-process or in a supervised child.

The measured loop itself (warm-up, timed calls, the bare-loop comparison) is
:mod:`wapc_cli.runtime.measure`; here it is composed with what a benchmark
run needs around it: a picklable host-call answer (:class:`ConstantAnswer`),
the supervised run for an engine that cannot enforce the limits itself, and
the notes that say how the figures were taken. No printing here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engines.base import Limits
from ..isolation import BenchPlan, SupervisorError, local_handler, run_supervised
from ..runtime.cache import ModuleCache
from ..runtime.guest import Guest, WapcModule
from ..runtime.hostcalls import HostCallHandler
from ..runtime.measure import BenchResult, CallWatch, LoopStats, Progress, measure_calls
from ..runtime.wasi_options import WasiOptions

__all__ = [
    "BenchResult",
    "CallWatch",
    "ConstantAnswer",
    "LoopStats",
    "Progress",
    "run_bench",
    "run_bench_supervised",
]

#: Why a supervised benchmark's figures differ from an in-process one's.
SUPERVISED_NOTE = (
    "measured in a supervised child process (the only way to enforce limits on wasmer)"
)
RELAYED_HOST_CALLS_NOTE = "each host call was answered over a pipe by the parent"


@dataclass(frozen=True)
class ConstantAnswer:
    """A host-call handler answering every call with the same bytes (``bench --reply``);
    a class, not a closure, so it can be sent to a supervised child."""

    answer: bytes

    def __call__(self, request: object) -> bytes:
        return self.answer


def run_bench(
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
) -> BenchResult:
    """Benchmark ``operation`` on a fresh in-process ``guest`` of ``module``.

    ``count`` calls or ``duration`` seconds of them (10000 calls when neither
    is given), after ``warmup`` calls; see
    :func:`~wapc_cli.runtime.measure.measure_calls`.
    """
    return measure_calls(module, guest, operation, payload, count=count, duration=duration,
                         warmup=warmup, compare_bare=compare_bare, progress=progress)


def run_bench_supervised(
    wasm: bytes,
    *,
    operation: str,
    payload: bytes = b"",
    name: str = "<bytes>",
    engine: str,
    limits: Limits,
    wasi: WasiOptions | None = None,
    host_call: HostCallHandler,
    plan: BenchPlan,
    progress: Progress | None = None,
    cache: ModuleCache | None = None,
    profile: str = "wapc",
) -> BenchResult:
    """The whole benchmark in a child process that enforces ``limits`` (wasmer).

    The child measures (warm-up, timed loop, cold path) and sends the result
    back. ``host_call`` answers in the child when it pickles (no round trip per
    host call), else in this process. A guest call that outlives the timeout
    has the child killed, which raises that limit (as does running out of
    memory); so does any other error the run ends with.
    """
    local = local_handler(host_call)
    outcome = run_supervised(
        wasm, operation=operation, payload=payload, name=name, engine=engine, limits=limits,
        wasi=wasi, host_call=local or host_call, local_host_calls=local is not None,
        mode="bench", bench=plan, progress=progress, cache=cache, profile=profile,
    )
    if outcome.error is not None:
        raise outcome.error
    result = outcome.bench
    if result is None:  # pragma: no cover - the child always sends one or an error
        raise SupervisorError(f"the {engine} child process sent no measurements")
    relayed = local is None and result.host_calls_per_call > 0
    result.notes.append(SUPERVISED_NOTE + (f"; {RELAYED_HOST_CALLS_NOTE}" if relayed else ""))
    return result
