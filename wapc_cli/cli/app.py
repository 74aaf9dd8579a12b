"""The ``wapc`` command line: wires commands, maps errors to exit codes once.

Only this package imports typer. Nothing here imports an engine at start-up,
so ``wapc --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import ExitCode
from .click_compat import click_exceptions
from .console import terminal
from .guard import Interrupted, run_guarded


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
        show_traceback = "--traceback" in argv or bool(os.environ.get("WAPC_TRACEBACK"))

        def body() -> int:
            try:
                return int(super(WapcGroup, self).main(
                    argv, prog_name or "wapc", complete_var, standalone_mode=False, **extra
                ) or 0)
            except typer.Exit as exc:
                return int(exc.exit_code or 0)
            except typer.Abort:
                terminal.error_line("aborted")
                return 130
            except click_exceptions.ClickException as exc:
                # typer's coercion prefixes pydantic's wording; keep the user's part only
                message = _usage_message(exc)
                from .usage_json import write_usage_failure

                write_usage_failure(argv, message)  # when --json / jsonl was asked for
                terminal.error_line(message)
                return int(ExitCode.USAGE)

        rc = run_guarded(body, show_traceback=show_traceback)
        if standalone_mode:
            sys.exit(rc)
        return rc

    # click would turn EPIPE into exit 1; the policy (run_guarded, and so the fast
    # entry) treats a reader that went away as no error: `wapc --help | head -1`
    # (help is printed while the context is made) as much as a command's output.
    # Rich, which prints typer's help, turns EPIPE into SystemExit(1) itself.
    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            terminal.abandon_stdout()
            raise typer.Exit(0) from None
        except SystemExit as exc:
            if isinstance(exc.__context__, BrokenPipeError):
                raise typer.Exit(0) from None
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted from None  # past click, to run_guarded: "interrupted", 130
        except BrokenPipeError:
            terminal.abandon_stdout()
            raise typer.Exit(0) from None


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
    from . import (
        addr2line_cmd,
        bench_cmd,
        call,
        compat_cmd,
        core_cmd,
        inspect_cmd,
        run_cmd,
        stubs_cmd,
        test_cmd,
        trace_cmd,
    )

    for command in (call, run_cmd, inspect_cmd, trace_cmd, stubs_cmd, bench_cmd, test_cmd,
                    addr2line_cmd, core_cmd, compat_cmd):
        command.register(app)


_register()


def main() -> None:
    """The full typer CLI (the console script is ``entry.main``, which may skip it)."""
    app()
