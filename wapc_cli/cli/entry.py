"""The ``wapc`` console script: a fast path for ``call``, else the full typer app.

Why a fast path: importing typer (and through it pydantic) and rich costs more
than the whole of a one-shot ``wapc call guest.wasm echo -p hi``. The plain form
of ``call`` — two positionals and the options marked ``fast`` in
:mod:`.run_options` — is parsed here, with no typer, into the same
:class:`~.run_options.RunOptions` the typer command fills, and run by the same
:func:`.calling.call_command`. Anything else (another command, ``--help``, any
other option, a repeated option, a value that typer would coerce or reject)
goes to the full typer app unchanged, so errors and help come from one place.
``tests/test_entry_parity.py`` runs the same argument lists through both and
compares stdout, stderr and exit code.

Imports go one way: this module imports the typer app (lazily), never the
reverse; both run commands through :func:`.guard.run_guarded`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from .console import terminal
from .guard import run_guarded
from .run_options import Described, Flag, RunOptions, described

_FIELDS = described()
#: ``call`` options that take a value, by spelling.
VALUE_OPTIONS = {
    spelling: field for field in _FIELDS if isinstance(field.spec, Flag) and field.spec.fast
    and field.type is not bool for spelling in field.spec.spellings
}
#: ``call`` switches, by spelling -> RunOptions field.
FLAG_OPTIONS = {
    spelling: field.name for field in _FIELDS if isinstance(field.spec, Flag)
    and field.spec.fast and field.type is bool for spelling in field.spec.spellings
}
#: Fields read from the environment when not given, as typer reads them.
_FROM_ENVIRONMENT = [
    (field.name, field.spec.envvar) for field in _FIELDS
    if isinstance(field.spec, Flag) and field.spec.envvar
]
#: Set by the shell-completion protocol of the full CLI.
_COMPLETE_VAR = "_WAPC_COMPLETE"


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    options = parse_fast_call(args)
    if options is None:
        sys.exit(_full_cli(args))
    _defer_garbage_collection()
    _exit(_fast_call(options))


def run(argv: Sequence[str]) -> int:
    """Run one command line, returning the exit code (the console script also exits)."""
    options = parse_fast_call(argv)
    return _full_cli(list(argv)) if options is None else _fast_call(options)


def _full_cli(args: list[str]) -> int:
    from .app import app

    return int(app(args=args, prog_name="wapc", standalone_mode=False) or 0)


def _fast_call(options: RunOptions) -> int:
    def body() -> int:
        from .calling import call_command

        return call_command(options)

    return run_guarded(body, show_traceback=bool(os.environ.get("WAPC_TRACEBACK")))


def _defer_garbage_collection() -> None:
    """Collect cyclic garbage in larger batches for the rest of this one-shot process.

    Importing the engine and compiling a module allocate many objects that all
    live until exit, so the default thresholds run collection after collection
    that find nothing to free. A larger first threshold keeps memory bounded
    (a collection still runs every so many allocations) without that waste.
    """
    import gc

    gc.set_threshold(50_000, 10, 10)


def _exit(rc: int) -> None:
    """End the process without the interpreter's teardown, when nothing needs it.

    Tearing down (freeing every module, and wasmtime's engine, store and code)
    is a sizeable share of a one-shot call. The call is over and its output
    is flushed here; with no atexit callbacks registered, the teardown has nothing
    left to do that the user could observe. If a flush fails, or something did
    register a callback, the normal exit reports and runs it as usual.
    """
    import atexit

    try:
        terminal.stdout.flush()
        terminal.stderr.flush()
    except BaseException:
        sys.exit(rc)
    pending = getattr(atexit, "_ncallbacks", None)
    if pending is not None and pending() == 0:
        os._exit(rc)
    sys.exit(rc)


def parse_fast_call(argv: Sequence[str]) -> RunOptions | None:
    """The options of a plain ``call`` command line, or None to leave it to typer."""
    if len(argv) < 3 or argv[0] != "call" or os.environ.get(_COMPLETE_VAR):
        return None
    positionals: list[str] = []
    found: dict[str, Any] = {}
    tokens = iter(argv[1:])
    for token in tokens:
        if not token.startswith("-"):
            positionals.append(token)
            continue
        name, eq, attached = token.partition("=")
        key: str
        value: Any
        if name in FLAG_OPTIONS and not eq:
            key, value = FLAG_OPTIONS[name], True
        elif name in VALUE_OPTIONS and (not eq or name.startswith("--")):
            field = VALUE_OPTIONS[name]
            text = attached if eq else next(tokens, None)
            # A value that looks like an option (or is missing) is typer's to interpret.
            if text is None or text.startswith("-"):
                return None
            key, value = field.name, _plain_value(field, text)
            if value is None:
                return None
        else:
            return None  # "-", "--", -h, clustered or attached short options, anything else
        if key in found:
            return None  # repeated: typer decides which wins
        found[key] = value
    if len(positionals) != 2:
        return None
    for key, envvar in _FROM_ENVIRONMENT:
        if key not in found and os.environ.get(envvar):
            found[key] = os.environ[envvar]
    return RunOptions(Path(positionals[0]), positionals[1], **found)


def _plain_value(field: Described, text: str) -> Any:
    """``text`` as typer would take it unchanged, or None when typer might coerce or reject it.

    Other case, "1_000", " 5" and the like are typer's to decide.
    """
    choices = field.spec.choices if isinstance(field.spec, Flag) else None
    if choices is not None:
        return text if text in {choice.value for choice in choices} else None
    if int in get_args(field.type):
        plain = text == "0" or (text.isascii() and text.isdigit() and text[0] != "0")
        return int(text) if plain else None
    return text
