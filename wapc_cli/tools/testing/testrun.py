"""``wapc test`` as a tool: load every suite, run every case on every engine, give verdicts.

Suites are all loaded (and checked) before anything runs, so a bad suite is
reported alone, with every problem. Cases then run in this process, or with
``jobs`` > 1 in that many worker processes (:mod:`.parallel`); either way the
verdicts come back in the order the suites, cases and engines were given, and
snapshots are compared (and updated) here, in that order, so the output never
depends on which worker finished first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .expectations import evaluate
from .model import CaseOutcome, CaseResult, Suite, TestReport
from .runner import ModulePool
from .snapshots import Snapshots
from .suite_loader import SuiteError, check_suite, find_suites
from .units import TestOptions, Unit, run_unit


def load_suites(paths: list[Path]) -> list[Suite]:
    """Every suite the paths name, checked; a bad one raises :class:`SuiteError` (all problems)."""
    suites: list[Suite] = []
    problems = []
    for path in find_suites(paths):
        suite, found = check_suite(path)
        problems.extend(found)
        if suite is not None:
            suites.append(suite)
    if problems:
        raise SuiteError(problems)
    return suites


def plan(suites: list[Suite], options: TestOptions) -> list[Unit]:
    """The units to run, in report order: suite by suite, case by case, engine by engine."""
    units = []
    for number, suite in enumerate(suites):
        engines = options.engines or suite.engines
        for case in suite.cases:
            for position, engine in enumerate(engines):
                # One recording per case: from its first engine (the others would repeat it).
                record = options.record_dir is not None and position == 0
                units.append(Unit(number, suite.path, case.index, engine, record))
    return units


def run_suites(
    paths: list[Path], options: TestOptions | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> TestReport:
    """Load and run; ``on_result`` hears each verdict as soon as it is known, in order."""
    options = options or TestOptions()
    suites = load_suites(paths)
    units = plan(suites, options)
    if options.core_dir is not None:
        from .core_bundles import check_free

        check_free(options.core_dir,
                   [(suites[u.suite], suites[u.suite].cases[u.case], u.engine) for u in units],
                   force=options.force)
    report = TestReport(suites=[s.display for s in suites])
    snapshots = Snapshots(update=options.update)

    def verdict(unit: Unit, outcome: CaseOutcome) -> None:
        suite = suites[unit.suite]
        result = evaluate(suite, suite.cases[unit.case], outcome, snapshots)
        report.results.append(result)
        if on_result is not None:
            on_result(result)

    if options.jobs > 1 and len(units) > 1:
        from .parallel import run_parallel

        for unit, outcome in zip(units, run_parallel(units, options), strict=True):
            verdict(unit, outcome)
    else:
        pool = ModulePool(options.use_cache)
        for unit in units:
            verdict(unit, run_unit(suites[unit.suite], unit, pool, options))
    return report
