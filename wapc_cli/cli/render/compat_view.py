"""What ``wapc compat`` shows: a table of host x engine outcomes, then each divergence explained."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text

from ...tools.compat import CompatReport, summary
from ..console import terminal
from ..messages import for_user
from ..safe_text import one_line


def write_table(report: CompatReport) -> None:
    console = terminal.rich_console(terminal.stdout, markup=False)
    console.print(Text.assemble(("wapc compat ", "bold"), (one_line(report.module), "bold"),
                                " ", (one_line(report.operation), "bold cyan")))
    table = Table(show_edge=False, pad_edge=False)
    for column in ("host", "engine", "outcome", "response / error"):
        table.add_column(column, overflow="fold")
    for run in report.runs:
        if run.response is not None:
            detail = Text(f"{len(run.response)} B · sha256 {run.digest}")
        else:
            detail = Text(one_line(for_user(run.error or "")), style="red")
        style = "green" if run.response is not None else "red"
        table.add_row(one_line(run.label), run.engine, Text(run.outcome, style=style), detail)
    console.print(table)
    if report.agree:
        console.print(Text(f"all {len(report.runs)} runs agree", style="bold green"))
        return
    console.print(Text("hosts diverge:", style="bold yellow"))
    for divergence in report.divergences:
        console.print(Text("  - " + one_line(for_user(divergence.line()))))


def write_json(report: CompatReport) -> None:
    data = report.to_json()
    for run in data["results"]:
        if run["error"] is not None:
            run["error"] = for_user(run["error"])
    terminal.stdout.write(json.dumps(data) + "\n")


__all__ = ["summary", "write_json", "write_table"]
