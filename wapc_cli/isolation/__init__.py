"""Run a guest in a supervised child process: limits for an engine that cannot stop a guest.

wasmer 1.1 cannot interrupt running guest code, so a guest that loops forever
would hang the host. Here the whole load + instantiate + init + call runs in a
child Python process (:mod:`.child`); so do an init-only run, a benchmark
(warm-up and timed loops, measured in the child) and a WASI command
(``wapc run``: its output relayed to the parent as it is written). The parent (:mod:`.parent`)
enforces the timeout and reports how the child ended; :mod:`.messages` types
everything the two send each other, :mod:`.beats` is the shared call counter a
benchmark's per-call timeout is read from.

Importing this package starts no process and loads no engine.
"""

from .messages import BenchPlan, Job
from .parent import (
    OutputSink,
    SupervisedOutcome,
    SupervisorError,
    local_handler,
    run_supervised,
)

__all__ = [
    "BenchPlan",
    "Job",
    "OutputSink",
    "SupervisedOutcome",
    "SupervisorError",
    "local_handler",
    "run_supervised",
]
