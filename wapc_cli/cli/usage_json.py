"""Machine-readable output for a command line typer could not parse.

A script that asked for ``call --json``, ``inspect --json`` or ``trace --format
jsonl`` reads stdout; when the command line itself is wrong (an unknown option,
a bad choice, a missing argument) it still gets its JSON error object (kind
``usage``, exit code 2), as when a value is refused after parsing. What the
command line asked for is read from the raw arguments, since parsing failed.
Imported only then.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageError
from ..tools.trace import TraceResult
from .console import terminal
from .messages import for_user
from .render import call_output, inspect_view
from .render.trace_jsonl import JsonlSink


def write_usage_failure(argv: Sequence[str], message: str) -> None:
    """Print the JSON error object the command line asked for, if it asked for one."""
    words = list(argv[: argv.index("--")] if "--" in argv else argv)
    command = next((word for word in words if not word.startswith("-")), None)
    error = UsageError(message)
    if command == "call" and "--json" in words:
        call_output.write_json_failure(error)
    elif command == "inspect" and "--json" in words:
        inspect_view.write_json_failure(None, error)
    elif command == "trace" and _asks_for_jsonl(words):
        JsonlSink(terminal.stdout).finish(TraceResult(
            exit_code=int(error.exit_code), kind=error.kind, message=for_user(error),
            response=None, error=call_output.error_json(error),
        ))


def _asks_for_jsonl(words: list[str]) -> bool:
    """Whether ``--format jsonl`` is among ``words``, in any of its spellings."""
    for i, word in enumerate(words):
        if word in ("--format", "-f") and i + 1 < len(words):
            value = words[i + 1]
        elif word.startswith("--format="):
            value = word.partition("=")[2]
        elif word.startswith("-f") and not word.startswith("--") and len(word) > 2:
            value = word[2:]
        else:
            continue
        if value.lower() == "jsonl":
            return True
    return False
