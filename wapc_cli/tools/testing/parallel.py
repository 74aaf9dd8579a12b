"""``-j N``: cases spread over N worker processes, verdicts still in the given order.

Workers are started with ``spawn`` (a fresh interpreter: no engine state or
threads inherited from this process). Each loads the suites it is handed
itself (a loaded suite holds compiled patterns, which do not pickle) and keeps
one :class:`~.runner.ModulePool`, so the cases of one module on one engine
that reach the same worker compile it once (and the compiled-module cache
serves the others). Units go out in contiguous chunks of one suite.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .model import CaseOutcome, Suite
from .runner import ModulePool
from .suite_loader import load_suite
from .units import TestOptions, Unit, run_unit

# One worker process's state: its suites by path, and its compiled modules.
_WORKER_SUITES: dict[Path, Suite] = {}
_WORKER_POOL: list[ModulePool] = []


def run_parallel(units: list[Unit], options: TestOptions) -> Iterator[CaseOutcome]:
    """Every unit's outcome, in the order of ``units``, computed in ``options.jobs`` workers."""
    chunks = _chunks(units, options.jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=options.jobs, mp_context=context) as executor:
        for outcomes in executor.map(run_chunk, chunks, [options] * len(chunks)):
            yield from outcomes


def _chunks(units: list[Unit], jobs: int) -> list[list[Unit]]:
    """Runs of units of one suite, small enough to keep every worker busy."""
    size = max(1, len(units) // (jobs * 4))
    chunks: list[list[Unit]] = []
    for unit in units:
        last = chunks[-1] if chunks else None
        if last is not None and len(last) < size and last[0].path == unit.path:
            last.append(unit)
        else:
            chunks.append([unit])
    return chunks


def run_chunk(units: list[Unit], options: TestOptions) -> list[CaseOutcome]:
    """In a worker: run each unit (loading its suite once per process)."""
    if not _WORKER_POOL:
        _WORKER_POOL.append(ModulePool(options.use_cache))
    outcomes = []
    for unit in units:
        suite = _WORKER_SUITES.get(unit.path)
        if suite is None:
            suite = _WORKER_SUITES[unit.path] = load_suite(unit.path)
        outcomes.append(run_unit(suite, unit, _WORKER_POOL[0], options))
    return outcomes
