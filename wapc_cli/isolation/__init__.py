"""Run a guest in a supervised child process: limits for an engine that cannot stop a guest.

wasmer 1.1 cannot interrupt running guest code, so a guest that loops forever
would hang the host. Here the whole load + instantiate + init + call runs in a
child Python process (:mod:`.child`); so do an init-only run, a benchmark
(warm-up and timed loops, measured in the child) and a WASI command
(``wapc run``: its output relayed to the parent as it is written). The parent (:mod:`.parent`)
enforces the timeout and reports how the child ended; :mod:`.messages` types
everything the two send each other, :mod:`.beats` is the shared call counter a
benchmark's per-call timeout is read from.

Importing this package starts no process and loads no engine, nor the parent's
machinery until a name of it is asked for: the child (``python -m
wapc_cli.isolation.child``) imports this package first, and the parent's imports
(subprocess, dataclasses, the trace events, the benchmark loop) were ~20 ms of
every supervised run's start.
"""

from typing import TYPE_CHECKING, Any

from .messages import BenchPlan, Job

if TYPE_CHECKING:
    from .parent import (
        OutputSink,
        SupervisedOutcome,
        SupervisorError,
        local_handler,
        run_supervised,
    )

_FROM_PARENT = frozenset(
    ("OutputSink", "SupervisedOutcome", "SupervisorError", "local_handler", "run_supervised")
)


def __getattr__(name: str) -> Any:
    if name in _FROM_PARENT:
        from . import parent

        return getattr(parent, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BenchPlan",
    "Job",
    "OutputSink",
    "SupervisedOutcome",
    "SupervisorError",
    "local_handler",
    "run_supervised",
]
