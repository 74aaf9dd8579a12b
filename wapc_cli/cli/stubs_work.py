"""What ``wapc stubs check`` and ``stubs schema`` do, without typer (the fast entry runs both)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ExitCode
from .render import stubs_view


def check_command(files: Sequence[Path]) -> int:
    """Check stub tables: every problem as FILE:LINE:COLUMN on stderr; exit 2 if any."""
    from ..tools.stubs import check_stub_file

    failed = False
    for path in files:
        table, source = check_stub_file(path)  # unreadable files raise: one line, exit 2
        if table is None:
            failed = True
            stubs_view.write_problems(source.problems)
        else:
            stubs_view.write_ok(path, table)
    return int(ExitCode.USAGE if failed else ExitCode.OK)


def schema_command() -> int:
    """Print the JSON Schema of the stub table format (for editors)."""
    from importlib import resources

    text = resources.files("wapc_cli").joinpath("schemas/stubs.schema.json").read_text("utf-8")
    stubs_view.write_text(text)
    return int(ExitCode.OK)
