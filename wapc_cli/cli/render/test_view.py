"""What ``wapc test`` shows: a line per case as it finishes, failures in full, then totals.

On a terminal the lines are coloured (Rich); piped, the same text is plain.
``--json`` prints one document instead. The closing line is ``N passed, M
failed`` alone, the form CI log readers recognise.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..console import terminal
from ..safe_text import json_safe, lines, one_line

if TYPE_CHECKING:
    from rich.console import Console

    from ...tools.stubs.source import Problem
    from ...tools.testing import CaseResult, TestReport

_MARKS = {"passed": ("PASS", "green"), "failed": ("FAIL", "red"), "error": ("ERROR", "red")}


class LiveView:
    """Prints each verdict as it arrives (in order), then the totals."""

    def __init__(self) -> None:
        self.stream = terminal.stdout
        self.console: Console | None = None
        if terminal.colour(self.stream):
            self.console = terminal.rich_console(self.stream, markup=False)

    def result(self, result: CaseResult) -> None:
        word, colour = _MARKS.get(result.status, ("?", "red"))
        name = one_line(f"{result.suite} > {result.case}")
        timing = f"({result.duration_ms:.0f} ms)"
        notes = []
        if result.snapshot:
            notes.append(f"snapshot {result.snapshot}")
        if result.recorded:
            notes.append(f"host calls recorded to {one_line(result.recorded)}")
        extra = f"  [{'; '.join(notes)}]" if notes else ""
        failure = lines(result.failure) if result.failure else ""
        if self.console is None:
            self.stream.write(f"{word:<5} {name} [{result.engine}] {timing}{extra}\n")
            if failure:
                self.stream.write("".join(f"      {line}\n" for line in failure.splitlines()))
            self.stream.flush()
            return
        from rich.text import Text

        line = Text()
        line.append(f"{word:<5}", style=f"bold {colour}")
        line.append(f" {name} ")
        line.append(f"[{result.engine}]", style="cyan")
        line.append(f" {timing}{extra}", style="dim")
        self.console.print(line, soft_wrap=True)
        for row in failure.splitlines():
            style = ""
            stripped = row.lstrip()
            if stripped.startswith(("+", "actual")) and not stripped.startswith("+++"):
                style = "green"
            elif stripped.startswith(("-", "expected")) and not stripped.startswith("---"):
                style = "red"
            elif stripped.startswith("!"):
                style = "yellow"
            self.console.print(Text("      " + row, style=style), soft_wrap=True)

    def summary(self, report: TestReport, seconds: float) -> None:
        engines = sorted({r.engine for r in report.results})
        suites = len(report.suites)
        head = (f"ran {len(report.results)} case run(s) from {suites} suite"
                f"{'s' if suites != 1 else ''} on {', '.join(engines) or 'no engine'} "
                f"in {seconds:.2f}s")
        changed = [r for r in report.results if r.snapshot]
        tail = f"{report.passed} passed, {report.failed} failed"
        if self.console is None:
            self.stream.write(f"\n{head}\n")
            for result in changed:
                self.stream.write(f"snapshot {result.snapshot}: {one_line(result.title)}\n")
            self.stream.write(f"{tail}\n")
            self.stream.flush()
            return
        from rich.text import Text

        self.console.print()
        self.console.print(Text(head, style="dim"), soft_wrap=True)
        for result in changed:
            self.console.print(Text(f"snapshot {result.snapshot}: {one_line(result.title)}",
                                    style="yellow"), soft_wrap=True)
        self.console.print(Text(tail, style="bold red" if report.failed else "bold green"))


def report_json(report: TestReport, exit_code: int) -> dict[str, Any]:
    return {
        "suites": report.suites,
        "results": [
            {"suite": r.suite, "case": r.case, "engine": r.engine, "status": r.status,
             "failure": r.failure or None, "duration_ms": round(r.duration_ms, 3),
             "snapshot": r.snapshot, "recorded": r.recorded, "core": r.core}
            for r in report.results
        ],
        "passed": report.passed,
        "failed": report.failed,
        "warnings": report.warnings,
        "exit_code": exit_code,
    }


def write_json(document: dict[str, Any]) -> None:
    terminal.stdout.write(json_safe(json.dumps(document, ensure_ascii=False, indent=2)) + "\n")
    terminal.stdout.flush()


def write_problems(problems: list[Problem]) -> None:
    for problem in problems:
        terminal.error_line(problem)  # FILE:LINE:COLUMN: what is wrong


def write_text(text: str) -> None:
    terminal.stdout.write(text if text.endswith("\n") else text + "\n")
