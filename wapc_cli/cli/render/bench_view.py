"""What ``wapc bench`` shows: a progress bar while it measures, then the results.

The results are a column per engine, aligned the same for a terminal or a pipe,
or (``--json``) one object, or a list of them with ``--engine all``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..console import terminal
from ..safe_text import one_line

if TYPE_CHECKING:
    from ...tools.bench import BenchResult, Progress


@contextmanager
def progress(
    label: str, count: int | None, duration: float | None, *, wanted: bool
) -> Iterator[Progress | None]:
    """A Rich progress bar on stderr; yields the callback that advances it.

    Yields None (no bar) unless ``wanted`` and stderr takes colour: a bar
    redrawn in place means nothing in a log file or on a dumb terminal.
    """
    if not (wanted and terminal.colour(terminal.stderr)):
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:,} calls"),
        TimeElapsedColumn(),
        console=terminal.rich_console(terminal.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task("bench", total=count if duration is None else None)

        def report(done: int, total: int | None) -> None:
            bar.update(task, completed=done)

        yield report


def label(engine: str, operation: str, suffix: str = "") -> str:
    """The progress bar's label (Rich markup): the operation escaped, as the user typed it."""
    from rich.markup import escape

    return f"[bold]{escape(one_line(engine))}[/] {escape(one_line(operation))}{suffix}"


def write_json(results: list[BenchResult]) -> None:
    out: Any = results[0].as_json() if len(results) == 1 else [r.as_json() for r in results]
    terminal.stdout.write(json.dumps(out) + "\n")


def write_table(results: list[BenchResult]) -> None:
    """One column per engine, aligned for a terminal or a pipe alike; notes on stderr."""
    table = [_rows(r) for r in results]
    labels = [label for label, _ in table[0]]
    width = max(len(label) for label in labels)
    cols = [max(len(v) for _, v in rows) for rows in table]
    for i, label in enumerate(labels):
        cells = "  ".join(rows[i][1].rjust(cols[j]) if len(rows) > i else ""
                          for j, rows in enumerate(table))
        terminal.stdout.write(f"{label.ljust(width)}  {cells}\n")
    for result in results:
        for note in result.notes:
            terminal.warning_line(f"{result.engine}: {note}")


def _rows(result: BenchResult) -> list[tuple[str, str]]:
    rows = [
        ("engine", f"{result.engine} {result.engine_version} ({result.hot_path})"),
        ("payload", f"{result.payload_len} B -> "
                    f"{'error' if result.response_len is None else f'{result.response_len} B'}"),
        ("calls", f"{result.calls:,}" + (f" ({result.errors:,} failed)" if result.errors else "")),
        ("calls/s", f"{result.calls_per_s:,.0f}"),
        ("latency p50", f"{result.p50_us:.2f} µs"),
        ("latency p90", f"{result.p90_us:.2f} µs"),
        ("latency p99", f"{result.p99_us:.2f} µs"),
        ("latency max", f"{result.max_us:.2f} µs"),
        ("host calls/call", f"{result.host_calls_per_call:g}"),
        ("compile", f"{result.compile_ms:.2f} ms" + (" (cache)" if result.cache_hit else "")),
        ("instantiate", f"{result.instantiate_ms:.2f} ms"),
        ("init", f"{result.init_ms:.2f} ms"),
    ]
    if result.bare is not None:
        rows.append(("bare loop calls/s", f"{result.bare.calls_per_s:,.0f}"))
        if result.api_overhead_pct is not None:
            rows.append(("API overhead", f"{result.api_overhead_pct:+.1f} %"))
    return rows
