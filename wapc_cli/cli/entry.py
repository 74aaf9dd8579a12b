"""The ``wapc`` console script: the CLI's one error policy, and a fast path for ``call``.

Why a fast path: importing typer (and through it pydantic) and rich costs more
than the whole of a one-shot ``wapc call guest.wasm echo -p hi``. The plain form
of ``call`` — two positionals and a few common options — is parsed here, with
no typer, and run by the same :func:`.calling.call_command` the typer command
runs. Anything else (another command, ``--help``, an option outside
:data:`VALUE_OPTIONS`/:data:`FLAG_OPTIONS`, a repeated option, a value that
typer would coerce or reject) goes to the full typer app unchanged, so errors
and help come from one place. ``tests/test_entry_parity.py`` runs the same
argument lists through both and compares stdout, stderr and exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ExitCode, WapcError
from . import console

#: ``call`` options that take a value, by spelling -> ``call_command`` keyword.
VALUE_OPTIONS = {
    "-p": "payload", "--payload": "payload",
    "--payload-hex": "payload_hex",
    "--payload-json": "payload_json",
    "--encode": "encode",
    "-d": "decode", "--decode": "decode",
    "-e": "engine", "--engine": "engine",
    "--timeout": "timeout",
    "--fuel": "fuel",
    "--max-memory": "max_memory",
}
#: ``call`` flags, by spelling -> ``call_command`` keyword.
FLAG_OPTIONS = {"--json": "json_out", "-q": "quiet", "--quiet": "quiet", "--no-cache": "no_cache"}
# Values taken as they are only when typer would take them unchanged; anything
# else (other case, "1_000", " 5") is typer's to coerce or reject.
_CHOICES = {
    "encode": frozenset({"json", "msgpack"}),
    "decode": frozenset({"auto", "raw", "text", "hex", "json", "msgpack"}),
}
#: Set by the shell-completion protocol of the full CLI.
_COMPLETE_VAR = "_WAPC_COMPLETE"


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    kwargs = parse_fast_call(args)
    if kwargs is None:
        sys.exit(_full_cli(args))
    _exit(_fast_call(kwargs))


def run(argv: Sequence[str]) -> int:
    """Run one command line, returning the exit code (the console script also exits)."""
    kwargs = parse_fast_call(argv)
    return _full_cli(list(argv)) if kwargs is None else _fast_call(kwargs)


def _full_cli(args: list[str]) -> int:
    from .app import app

    return int(app(args=args, prog_name="wapc", standalone_mode=False) or 0)


def _fast_call(kwargs: dict[str, Any]) -> int:
    def body() -> int:
        from .calling import call_command

        return call_command(**kwargs)

    return run_guarded(body, show_traceback=bool(os.environ.get("WAPC_TRACEBACK")))


def _exit(rc: int) -> None:
    """End the process without the interpreter's teardown, when nothing needs it.

    Tearing down (freeing every module, and wasmtime's engine, store and code)
    takes ~15-25 ms, a fifth of a one-shot call. The call is over and its output
    is flushed here; with no atexit callbacks registered, the teardown has nothing
    left to do that the user could observe. If a flush fails, or something did
    register a callback, the normal exit reports and runs it as usual.
    """
    import atexit

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(rc)
    pending = getattr(atexit, "_ncallbacks", None)
    if pending is not None and pending() == 0:
        os._exit(rc)
    sys.exit(rc)


def parse_fast_call(argv: Sequence[str]) -> dict[str, Any] | None:
    """``call_command`` keywords for a plain ``call`` command line, or None to use typer."""
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
        value: str | bool | None
        if name in FLAG_OPTIONS and not eq:
            key, value = FLAG_OPTIONS[name], True
        elif name in VALUE_OPTIONS and (not eq or name.startswith("--")):
            key = VALUE_OPTIONS[name]
            text = attached if eq else next(tokens, None)
            # A value that looks like an option (or is missing) is typer's to interpret.
            if text is None or text.startswith("-") or not _plain(key, text):
                return None
            value = text
        else:
            return None  # "-", "--", -h, clustered or attached short options, anything else
        if key in found:
            return None  # repeated: typer decides which wins
        found[key] = value
    if len(positionals) != 2:
        return None
    if "fuel" in found:
        found["fuel"] = int(found["fuel"])
    found.setdefault("engine", os.environ.get("WAPC_ENGINE") or "auto")
    return {"module": Path(positionals[0]), "operation": positionals[1], **found}


def _plain(key: str, value: str) -> bool:
    if key in _CHOICES:
        return value in _CHOICES[key]
    if key == "fuel":
        return value == "0" or (value.isascii() and value.isdigit() and value[0] != "0")
    return True


def run_guarded(body: Callable[[], int | None], *, show_traceback: bool) -> int:
    """The CLI's error policy: one line on stderr and the documented exit code."""
    try:
        rc = body()
    except WapcError as exc:
        _traceback(show_traceback)
        console.error_line(str(exc))
        rc = exc.exit_code
    except KeyboardInterrupt:
        console.error_line("interrupted")
        rc = 130
    except BrokenPipeError:
        rc = 0  # the reader went away (e.g. `| head`): not our error
    except Exception as exc:
        _traceback(show_traceback)
        console.error_line(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --traceback)"
        )
        rc = ExitCode.INTERNAL
    return int(rc or 0)


def _traceback(wanted: bool) -> None:
    if wanted:
        import traceback

        traceback.print_exc()
