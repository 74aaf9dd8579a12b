"""``wapc test SUITE...``: run regression suites (``*.wapc.yaml``); exit 0, 6 (a case failed) or 2.

The work is :func:`wapc_cli.tools.testing.run_suites`, run by
:func:`.suite_runs.run_test_command` (which the fast entry runs too for the plain
form); how it looks is :mod:`.render.test_view`. A bad suite (a typo'd key included) is exit 2 with
every problem as ``FILE:LINE:COLUMN`` on stderr, before any case runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..runtime.cache import ENV_DISABLE
from .suite_runs import run_test_command

SuitesArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Suite files, or folders (every *.wapc.yaml below).", show_default=False,
                   metavar="SUITE"),
]


def register(app: typer.Typer) -> None:
    app.command("test")(test)


def test(
    suites: SuitesArg = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    junit: Annotated[Path | None, typer.Option(
        "--junit", metavar="FILE", help="Also write the results as JUnit XML to FILE.")] = None,
    update: Annotated[bool, typer.Option(
        "--update", help="Write actual responses into response_file snapshots.")] = False,
    record: Annotated[Path | None, typer.Option(
        "--record", metavar="DIR",
        help="Write each case's host calls and answers as a stub table under DIR.")] = None,
    core: Annotated[Path | None, typer.Option(
        "--core", metavar="DIR",
        help="For each case that fails with a trap or a limit, write a crash bundle under DIR.")
    ] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="With --record or --core: replace files that exist.")] = False,
    jobs: Annotated[int, typer.Option(
        "-j", "--jobs", metavar="N", help="Run cases in N worker processes.")] = 1,
    engine: Annotated[list[str] | None, typer.Option(
        "--engine", "-e", metavar="NAME", show_default=False,
        help="Run every case on this engine (repeatable), not the suites' own list.")] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help=f"Do not use the compiled-module cache (or set {ENV_DISABLE}=1).")
    ] = False,
    schema: Annotated[bool, typer.Option(
        "--schema", help="Print the JSON Schema of the suite format and exit.")] = False,
) -> None:
    """Run regression suites of waPC guests: exit 0 all passed, 6 a case failed, 2 a bad suite."""
    if schema:
        from importlib import resources

        from .render import test_view

        text = resources.files("wapc_cli").joinpath("schemas/suite.schema.json").read_text("utf-8")
        test_view.write_text(text)
        raise typer.Exit(0)
    if not suites:
        raise UsageError("name at least one suite file or folder (wapc test SUITE.wapc.yaml)")
    if jobs < 1 or jobs > 256:
        raise UsageError(f"--jobs: expected a number from 1 to 256, got {jobs}")
    if force and record is None and core is None:
        raise UsageError("--force goes with --record or --core only")
    raise typer.Exit(run_test_command(suites, json_out=json_out, junit=junit, update=update,
                                      record=record, force=force, jobs=jobs, core=core,
                                      engines=tuple(engine or ()), use_cache=not no_cache))
