"""Core messages as the command line shows them: naming the flag the user set.

The core (everything outside ``cli``) does not know about flags: it says "the
max-memory limit of 64 MiB" or "use the wasmtime engine". On the command line
that limit is the user's ``--max-memory`` and the engine is chosen with
``--engine``, so every message the CLI prints or puts in ``--json`` output
passes through :func:`for_user` first, and reads as the documentation quotes it.
"""

from __future__ import annotations

#: Core wording -> the same wording naming the flag that sets it (as docs/ quotes it).
_FLAG_NAMES = (
    ("max-memory limit", "--max-memory limit"),
    ("a fuel limit is not supported by", "--fuel is not supported by"),
    ("use the wasmtime engine", "use --engine wasmtime"),
    ("not overwritten without force", "not overwritten without --force"),
    ("the allow-http grant", "the --allow-http grant"),
)


def for_user(message: object) -> str:
    """``message`` (an error, or text) as the CLI shows it."""
    text = str(message)
    for core, flagged in _FLAG_NAMES:
        if core in text:
            # Normalise first so a message already naming the flag keeps one "--".
            text = text.replace(flagged, core).replace(core, flagged)
    return text
