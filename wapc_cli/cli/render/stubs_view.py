"""What ``wapc stubs`` prints: a verdict line per checked table, its problems on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..console import terminal
from ..safe_text import one_line

if TYPE_CHECKING:
    from ...tools.stubs import Problem, StubTable


def write_ok(path: Path, table: StubTable) -> None:
    rules = len(table.rules)
    extra = f", preset {table.preset}" if table.preset else ""
    if table.kvstore is not None:
        extra += f", {len(table.kvstore)} kvstore key(s)"
    default = table.default or "error"
    terminal.stdout.write(one_line(
        f"{path}: ok ({rules} rule{'s' if rules != 1 else ''}, default {default}{extra})"
    ) + "\n")


def write_problems(problems: list[Problem]) -> None:
    for problem in problems:
        terminal.error_line(problem)  # FILE:LINE:COLUMN: what is wrong


def write_text(text: str) -> None:
    terminal.stdout.write(text if text.endswith("\n") else text + "\n")
