"""The one rule for showing text a guest or a module produced: it cannot drive the terminal.

A guest's log lines, error text, host-call names and payloads, and the names in
a module, are arbitrary Unicode. Printed raw, an ``ESC ] 0 ; ... BEL`` retitles
the window, ``ESC [ 2 J`` clears the screen, a ``\\r`` moves back over what was
printed and a bidi override (U+202E) reorders it. So every character that is
not printable is shown as a visible escape instead, in Python's spelling:
``\\x1b``, ``\\r``, ``\\x9b``, ``\\u202e``. That covers the C0 controls, DEL,
the C1 controls (U+0080-U+009F), the bidi embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069), the other invisible format characters (zero
width joiners, U+FEFF, ...), line and paragraph separators, non-ASCII spaces,
and lone surrogates (a name that was not UTF-8). It is the rule ``inspect`` has
always used for the names in a module (``wasm.module.display_name``); one
definition, here, serves every command.

Which whitespace survives depends on where the text goes: :func:`one_line`
(an error line, a log line, a name) escapes ``\\n``; :func:`lines` (a response
shown as text) keeps ``\\n`` and ``\\t``. Backslashes are not doubled: the
escapes are for reading, not for parsing back.

:func:`json_safe` does the same for JSON text written with
``ensure_ascii=False``: ``json.dumps`` escapes C0 controls but leaves DEL, C1
and bidi controls raw.
"""

from __future__ import annotations

import re


def _escaped(char: str) -> str:
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")


def safe_text(text: str, keep: str = "") -> str:
    """``text`` with every non-printable character except those in ``keep`` escaped."""
    if text.isprintable():  # the usual case, decided in C
        return text
    return "".join(c if c.isprintable() or c in keep else _escaped(c) for c in text)


def one_line(text: str, limit: int | None = None, *, keep: str = "") -> str:
    """``text`` for one line (newlines escaped too), cut after ``limit`` characters with "..."."""
    if limit is not None and len(text) > limit:
        return safe_text(text[:limit], keep) + "..."
    return safe_text(text, keep)


def lines(text: str) -> str:
    """``text`` that may span lines: ``\\n`` and ``\\t`` kept, every other control escaped."""
    return safe_text(text, "\n\t")


#: Characters ``json.dumps(..., ensure_ascii=False)`` leaves raw that a terminal may act on.
_JSON_UNSAFE = ("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f"
                "\ufeff\ud800-\udfff]")


def json_safe(encoded: str) -> str:
    """JSON text (from ``ensure_ascii=False``) with terminal-active characters as ``\\uXXXX``.

    They can only occur inside strings, where the ``\\u`` escape means the same
    character: a JSON reader sees the same value. (``re`` caches the pattern.)
    """
    if encoded.isascii():
        return encoded
    return re.sub(_JSON_UNSAFE, lambda m: f"\\u{ord(m.group()):04x}", encoded)
