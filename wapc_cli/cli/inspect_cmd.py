"""``wapc inspect``: check a module against the waPC ABI without running it.

The typer command; what it does is :func:`.inspecting.inspect_command`, which
the fast entry (:mod:`.entry`) runs too for the plain forms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .fast_parse import RUN_FLAG, STRICT_FLAG
from .inspecting import inspect_command
from .options import command

StrictOpt = Annotated[
    bool, typer.Option(*STRICT_FLAG, help="Fail (exit 4) on warnings too, not only on errors.")
]
RunOpt = Annotated[
    bool,
    typer.Option(
        *RUN_FLAG, help="Also instantiate it and run its init exports (a smoke test for CI)."
    ),
]


#: The command's parameters, in the order ``--help`` lists them.
PARAMETERS = ("module", "json_out", "strict", "run", "engine", "timeout")


def register(app: typer.Typer) -> None:
    own = {"strict": (StrictOpt, False), "run": (RunOpt, False)}
    app.command("inspect")(command(inspect, PARAMETERS, own))


def inspect(
    module: Path, json_out: bool, strict: bool, run: bool, engine: str, timeout: str | None
) -> None:
    """Check MODULE against the waPC ABI without running it (--run: run its init too)."""
    raise typer.Exit(inspect_command(module, json_out, strict, run, engine, timeout))
