"""What ``wapc inspect`` does, without typer: both the typer command and the fast entry run it.

The report goes to stdout (text, or one JSON object with ``--json``: see
:mod:`.render.inspect_view`); the verdict is the exit code: 0 conformant, 4 not
a waPC guest (or warnings with ``--strict``), 3 when ``--run`` saw
initialisation trap, 2 when the file is not a readable WebAssembly module
(with ``--json``, a document with ``error`` and ``exit_code`` then).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ExitCode, WapcError
from ..runtime.guest import read_module_file
from ..runtime.limits import DEFAULT_TIMEOUT_S
from .console import terminal
from .limits import build_limits

if TYPE_CHECKING:  # the inspector loads when a report is made, not with the CLI
    from ..tools.inspect import Report, RunResult


def inspect_command(
    module: Path, json_out: bool, strict: bool, run: bool, engine: str, timeout: str | None
) -> int:
    """Check MODULE against the waPC ABI; the exit code (errors a user made raise)."""
    from ..tools.inspect import inspect_module, run_init_enforced
    from .render import inspect_view

    where = os.fspath(module)
    try:
        limits = build_limits(timeout, None, None, DEFAULT_TIMEOUT_S) if run else None
        data = read_module_file(module)  # missing, empty, text, a directory: exit 2
        report = inspect_module(data, where)
    except WapcError as exc:
        if json_out:  # no report to print: the document says why, with the exit code
            inspect_view.write_json_failure(where, exc)
        raise
    result: RunResult | None = None
    if limits is not None and report.conformant:
        # The same default on every engine: wasmer, which cannot stop a guest
        # in-process, runs init in a supervised child process.
        result = run_init_enforced(data, where, report.init, engine=engine, limits=limits)
    code = exit_code(report, result, strict=strict)
    if json_out:
        inspect_view.write_json(report, result, strict=strict, exit_code=code)
    else:
        inspect_view.render(report, result, run_requested=run)
    if code:
        terminal.error_line(_verdict(report, result, strict))
    return code


def exit_code(report: Report, result: RunResult | None, *, strict: bool) -> int:
    if not report.conformant:
        return int(ExitCode.NOT_A_GUEST)
    if result is not None and result.error is not None:
        return int(result.error.exit_code)
    if strict and report.warnings:
        return int(ExitCode.NOT_A_GUEST)
    return int(ExitCode.OK)


def _verdict(report: Report, result: RunResult | None, strict: bool) -> str:
    name = f"module '{report.module}'"
    if not report.conformant:
        first = report.errors[0].message
        more = f" (and {len(report.errors) - 1} more error(s))" if len(report.errors) > 1 else ""
        return f"{name} is not a waPC guest: {first}{more}"
    if result is not None and result.error is not None:
        return f"{name}: initialisation failed: {result.error}"
    return f"{name}: {len(report.warnings)} warning(s) with --strict: {report.warnings[0].message}"
