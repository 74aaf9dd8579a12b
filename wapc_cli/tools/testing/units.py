"""What one run of suites is asked to do, cut into units: one case on one engine each.

Plain, picklable values: a worker process of :mod:`.parallel` is handed units
and the options, and runs each with :func:`run_unit` as this process would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .model import CaseOutcome, Suite
from .runner import ModulePool, run_case


@dataclass(frozen=True)
class TestOptions:
    """How to run: ``update`` snapshots, ``record_dir`` for host calls, ``jobs`` processes,
    ``core_dir`` for crash bundles."""

    __test__ = False  # not a pytest test class, whatever its name

    update: bool = False
    record_dir: Path | None = None
    force: bool = False  # overwrite existing recordings and crash bundles
    jobs: int = 1
    #: Run every case on these engines instead of the suites' own lists.
    engines: tuple[str, ...] = ()
    use_cache: bool = True
    #: Write a crash bundle for each case that fails with a trap, under this folder.
    core_dir: Path | None = None


@dataclass(frozen=True)
class Unit:
    """One case on one engine: what a worker process is handed (it pickles)."""

    suite: int
    path: Path
    case: int
    engine: str
    record: bool


def run_unit(suite: Suite, unit: Unit, pool: ModulePool, options: TestOptions) -> CaseOutcome:
    case = suite.cases[unit.case]
    return run_case(suite, case, unit.engine, pool,
                    record_dir=options.record_dir if unit.record else None, force=options.force,
                    core_dir=options.core_dir)
