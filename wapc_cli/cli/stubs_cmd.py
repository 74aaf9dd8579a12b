"""``wapc stubs check FILE...`` and ``wapc stubs schema``: work on stub tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitCode
from .render import stubs_view

stubs_app = typer.Typer(
    no_args_is_help=True,
    help="Check stub tables (YAML answering host calls); print their JSON Schema.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(stubs_app, name="stubs")


@stubs_app.command("check")
def check(
    files: Annotated[
        list[Path], typer.Argument(help="Stub tables to check.", show_default=False)
    ],
) -> None:
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
    raise typer.Exit(ExitCode.USAGE if failed else ExitCode.OK)


@stubs_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the stub table format (for editors)."""
    from importlib import resources

    text = resources.files("wapc_cli").joinpath("schemas/stubs.schema.json").read_text("utf-8")
    stubs_view.write_text(text)
