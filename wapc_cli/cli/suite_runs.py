"""What ``wapc test`` does once its options are checked, without typer (the fast entry runs it)."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import ExitCode, UsageError


def run_test_command(
    suites: list[Path], *, json_out: bool = False, junit: Path | None = None,
    update: bool = False, record: Path | None = None, force: bool = False, jobs: int = 1,
    engines: tuple[str, ...] = (), use_cache: bool = True, core: Path | None = None,
) -> int:
    """Load, run, show; the exit code."""
    from ..engines import ENGINE_NAMES
    from ..tools.testing import SuiteError, TestOptions, run_suites
    from .render import test_view

    for name in engines:
        if name not in ENGINE_NAMES or name == "auto":
            choices = ", ".join(n for n in ENGINE_NAMES if n != "auto")
            raise UsageError(f"--engine: unknown engine '{name}' (choose from: {choices})")
    options = TestOptions(update=update, record_dir=record, force=force, jobs=jobs,
                          engines=engines, use_cache=use_cache, core_dir=core)
    view = None if json_out else test_view.LiveView()
    started = time.perf_counter()
    try:
        report = run_suites(suites, options, on_result=view.result if view else None)
    except SuiteError as exc:
        if json_out:
            test_view.write_json({"error": "bad test suite", "exit_code": int(ExitCode.USAGE),
                                  "problems": [str(p) for p in exc.problems]})
        test_view.write_problems(exc.problems)
        return int(ExitCode.USAGE)
    code = int(ExitCode.TESTS_FAILED if report.failed else ExitCode.OK)
    if junit is not None:
        from ..tools.testing.junit import write_junit

        try:
            write_junit(report, junit)
        except OSError as exc:
            raise UsageError(f"--junit: cannot write '{junit}': {exc.strerror or exc}") from None
    if view is not None:
        view.summary(report, time.perf_counter() - started)
    else:
        test_view.write_json(test_view.report_json(report, code))
    return code
