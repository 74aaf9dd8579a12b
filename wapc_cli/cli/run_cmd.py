"""``wapc run``: run a WASI command (``_start``); its output and exit status are the process's.

``wapc run MODULE [-- ARGS...]`` is how a user checks "is it my WASI use or my
waPC use", and how the WASI test suite drives wapc. This module is the typer
command only: its parameters (the same engine, grant and limit options as
``call``) and their help. What a run does is :mod:`.run_work`'s
(:func:`~.run_work.run_command`), which the fast entry (:mod:`.entry`) calls
too, with no typer, for the plain forms of the command line.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer

from .fast_parse import STDIN_OPTION
from .options import command
from .run_work import ByteWriter, run_command

__all__ = ["ByteWriter", "register", "run"]

ModuleArg = Annotated[Path, typer.Argument(
    help="The WASI command module (.wasm, exporting _start).", show_default=False)]
ArgsArg = Annotated[list[str] | None, typer.Argument(
    help="Arguments for the guest (argv[1:]); put them after -- when one starts with '-'.",
    show_default=False)]
StdinOpt = Annotated[str | None, typer.Option(
    *STDIN_OPTION, help="The guest's standard input: FILE, or - for this process's stdin "
    "(read whole before the guest starts; default: empty).")]

#: The command's parameters, in the order ``--help`` lists them.
PARAMETERS = (
    "module", "args", "engine", "timeout", "fuel", "max_memory", "env", "arg", "dir", "stdin",
    "json_out", "no_cache",
)
HELPS = {
    "json_out": "Print one JSON result object (the guest's exit code, its stdout and stderr, "
    "or wapc's error) instead of the guest's output.",
    "arg": "A guest argument before the ARGS (repeatable).",
    "timeout": "Wall-clock limit of the whole run, in seconds (0 or 'none' turns it off).",
}


def register(app: typer.Typer) -> None:
    own = {
        "module": (ModuleArg, inspect.Parameter.empty),
        "args": (ArgsArg, None),
        "stdin": (StdinOpt, None),
    }
    app.command("run")(command(run, PARAMETERS, own, helps=HELPS))


def run(
    module: Path, args: list[str] | None, engine: str, timeout: str | None, fuel: int | None,
    max_memory: str | None, env: list[str] | None, arg: list[str] | None,
    dir: list[str] | None, stdin: str | None, json_out: bool, no_cache: bool,
) -> None:
    """Run the WASI command MODULE (_start): its stdout, stderr and exit status become wapc's."""
    raise typer.Exit(run_command(module, args, engine, timeout, fuel, max_memory, env, arg,
                                 dir, stdin, json_out, no_cache))
