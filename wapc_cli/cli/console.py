"""Where the CLI writes: stdout for results, stderr for everything else.

Kept behind one small object so tests can substitute streams.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO


def _supports_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def error_line(message: str) -> None:
    """One line on stderr: what went wrong, naming the thing."""
    first = " ".join(str(message).split("\n"))
    sys.stderr.write(f"wapc: error: {first}\n")
    sys.stderr.flush()


def warning_line(message: str) -> None:
    sys.stderr.write(f"wapc: warning: {message}\n")
    sys.stderr.flush()


def log_line(message: str, source: str) -> None:
    """A guest's console log or WASI output line, on stderr (never on stdout)."""
    tag = {"wapc": "log", "env": "log", "wasi:stdout": "stdout", "wasi:stderr": "stderr"}.get(
        source, source
    )
    sys.stderr.write(f"[guest {tag}] {message}\n")
    sys.stderr.flush()


def color_stderr() -> bool:
    return _supports_color(sys.stderr)
