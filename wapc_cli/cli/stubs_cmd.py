"""``wapc stubs check FILE...`` and ``wapc stubs schema``: work on stub tables.

The typer commands; what they do is :mod:`.stubs_work`, which the fast entry
(:mod:`.entry`) runs too for the plain forms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .stubs_work import check_command, schema_command

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
    raise typer.Exit(check_command(files))


@stubs_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the stub table format (for editors)."""
    raise typer.Exit(schema_command())
