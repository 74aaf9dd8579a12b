"""``when: {regex: ...}`` patterns, compiled for matching in linear time (RE2).

The text a pattern is matched against is the guest's payload, so matching
must take time linear in it: RE2 guarantees that, where Python's ``re``
backtracks and can take for ever (``^(a+)+$`` against forty ``a`` and a
``b``). RE2 has no backreferences and no lookaround; such patterns are
refused when the table is loaded rather than matched slowly.
"""

from __future__ import annotations

import re
from typing import Any


def compile_pattern(pattern: str) -> tuple[Any, str]:
    """``(compiled RE2 pattern, "")``, or ``(None, what is wrong with it)``."""
    import re2  # not at the top: only tables with a regex need it

    options = re2.Options()
    options.log_errors = False  # RE2 would also print the error on stderr itself
    try:
        return re2.compile(pattern, options), ""
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
    try:
        re.compile(pattern)
    except re.error as exc:
        return None, f"not a valid regular expression: {exc}"
    except (RecursionError, OverflowError):  # pragma: no cover - absurd patterns
        pass
    return None, (
        f"not supported by linear-time matching (RE2: {reason}); patterns use RE2 syntax: "
        "no backreferences or lookaround, repeat counts {m,n} up to 1000"
    )
