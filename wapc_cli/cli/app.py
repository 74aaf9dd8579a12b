"""The ``wapc`` command line: wires commands, maps errors to exit codes once.

Only this package imports typer. Nothing here imports an engine at start-up,
so ``wapc --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import ExitCode, WapcError
from . import console
from ._click import click_exceptions

_state = {"traceback": False}


class WapcGroup(TyperGroup):
    """Runs commands with one error policy: one line on stderr, the documented exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        _state["traceback"] = "--traceback" in argv or bool(os.environ.get("WAPC_TRACEBACK"))
        try:
            rc = super().main(argv, prog_name or "wapc", complete_var, standalone_mode=False,
                              **extra)
        except typer.Exit as exc:
            rc = exc.exit_code
        except typer.Abort:
            console.error_line("aborted")
            rc = 130
        except click_exceptions.ClickException as exc:
            # typer's coercion prefixes pydantic's wording; keep the user's part only
            console.error_line(_usage_message(exc))
            rc = ExitCode.USAGE
        except WapcError as exc:
            if _state["traceback"]:
                traceback.print_exc()
            console.error_line(str(exc))
            rc = exc.exit_code
        except KeyboardInterrupt:
            console.error_line("interrupted")
            rc = 130
        except BrokenPipeError:
            rc = 0  # the reader went away (e.g. `| head`): not our error
        except Exception as exc:
            if _state["traceback"]:
                traceback.print_exc()
            console.error_line(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --traceback)"
            )
            rc = ExitCode.INTERNAL
        rc = int(rc or 0)
        if standalone_mode:
            sys.exit(rc)
        return rc


def _usage_message(exc: click_exceptions.ClickException) -> str:
    message = exc.format_message().replace("Value error, ", "")
    hint = getattr(exc, "param_hint", None) or ""
    if isinstance(exc, click_exceptions.BadParameter) and hint and "--" not in message:
        return f"invalid value for {hint}: {message}"
    return message


app = typer.Typer(
    cls=WapcGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Invoke, trace and verify waPC WebAssembly guests.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wapc {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
    show_traceback: Annotated[
        bool, typer.Option("--traceback", help="Show a Python traceback on errors (debugging).")
    ] = False,
) -> None:
    """Invoke, trace and verify waPC WebAssembly guests."""


def _register() -> None:
    # One module per command, each with register(app). Imported here, not at the
    # top, so that importing this module stays cheap for `--help`.
    from . import bench_cmd, call, inspect_cmd, stubs_cmd, trace_cmd

    for command in (call, inspect_cmd, trace_cmd, stubs_cmd, bench_cmd):
        command.register(app)


_register()


def main() -> None:
    app()
