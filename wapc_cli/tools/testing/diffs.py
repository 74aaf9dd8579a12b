"""How a failed expectation is shown: text and JSON as diffs, bytes as hex, host calls side by side.

One text serves the console, the JSON output, JUnit's ``<failure>`` and
pytest's report. Guest-produced text is shown with every non-printable
character escaped (``\\x1b``, ``\\r``, ``\\u202e``), so it cannot drive a
terminal nor break an XML report.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

#: Longest text, hex dump or JSON shown in full; longer ones are cut with a note.
MAX_SHOWN = 2000
INDENT = "    "


def visible(text: str, keep: str = "\n") -> str:
    """``text`` with every non-printable character but those in ``keep`` escaped."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c in keep else c.encode("unicode_escape", "backslashreplace")
        .decode("ascii") for c in text
    )


def quoted(text: str) -> str:
    """Guest text on one line, in double quotes, every non-printable character escaped."""
    return f'"{visible(text, keep="")}"'


def cut(text: str, limit: int = MAX_SHOWN) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more)"


def as_text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def hex_text(data: bytes) -> str:
    shown = data[: MAX_SHOWN // 2].hex(" ")
    more = len(data) - MAX_SHOWN // 2
    return shown + (f" ... ({more} more bytes)" if more > 0 else "") if data else "(empty)"


def show_bytes(data: bytes) -> str:
    """Bytes for a person: quoted text when they are UTF-8 text, else hex."""
    text = as_text(data)
    if text is not None and all(c.isprintable() or c in "\n\t" for c in text):
        return json.dumps(cut(text), ensure_ascii=False)
    return f"hex {hex_text(data)}"


def block(title: str, lines: Sequence[str]) -> str:
    return "\n".join([title, *(INDENT + line for line in lines)])


def unified(expected: str, actual: str) -> list[str]:
    """A unified diff of two texts, line by line (``-`` expected, ``+`` actual)."""
    diff = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), "expected", "actual", lineterm="", n=2
    )
    return [visible(line, keep="") for line in diff]


def pretty_json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=_plain)
    except (TypeError, ValueError):
        return repr(value)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes: {bytes(value).hex()}>"
    return str(value)


def text_mismatch(what: str, expected: str, actual: str) -> str:
    lines = [f"expected: {json.dumps(cut(expected), ensure_ascii=False)}",
             f"actual:   {json.dumps(cut(actual), ensure_ascii=False)}"]
    if "\n" in expected or "\n" in actual:
        lines += unified(expected, actual)
    return block(f"{what} differs:", lines)


def bytes_mismatch(what: str, expected: bytes, actual: bytes) -> str:
    first = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
                 min(len(expected), len(actual)))
    return block(f"{what} differs (first difference at byte {first}):", [
        f"expected: {hex_text(expected)}  ({len(expected)} bytes)",
        f"actual:   {hex_text(actual)}  ({len(actual)} bytes)",
    ])


def value_mismatch(what: str, expected: Any, actual: Any, note: str) -> str:
    """A JSON / MessagePack value that does not contain the expected one: both, and a diff."""
    want, got = pretty_json(expected), pretty_json(actual)
    lines = ["expected (a subset):", *(INDENT + v for v in cut(want).splitlines()),
             "actual:", *(INDENT + v for v in cut(got).splitlines())]
    return block(f"{what} does not match ({note}):", lines + unified(want, got))


def side_by_side(left_title: str, left: Sequence[str], right_title: str,
                 right: Sequence[str], marks: Sequence[bool]) -> list[str]:
    """Two columns, row by row; a ``!`` marks the rows that differ."""
    width = min(60, max([len(left_title), *(len(x) for x in left)]))
    rows = [f"   # {left_title:<{width}}  {right_title}"]
    for index in range(max(len(left), len(right))):
        a = left[index] if index < len(left) else "-"
        b = right[index] if index < len(right) else "-"
        mark = "!" if index >= len(marks) or marks[index] else " "
        if len(a) > width:
            a = a[: width - 3] + "..."
        rows.append(f"{mark}{index + 1:>3} {a:<{width}}  {b}")
    return rows
