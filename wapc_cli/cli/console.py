"""Where the CLI writes, and how: the streams, whether each is a terminal, colour, width.

Every command writes through the one :data:`terminal` object, so there is one
colour rule (:meth:`Terminal.colour`) and one width rule for all of them. It
looks the streams up when it writes (a test runner that swaps ``sys.stdout``
is seen) and reads the environment at each decision; a ``Terminal`` of one's
own can be given other streams or another environment. Nothing here imports
rich until a command asks for a Rich console.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from .messages import for_user

if TYPE_CHECKING:  # rich loads with the first Rich console, not with the CLI
    from rich.console import Console

#: A guest's log source -> the tag shown in front of its lines.
_LOG_TAGS = {"wapc": "log", "env": "log", "wasi:stdout": "stdout", "wasi:stderr": "stderr"}


class Terminal:
    """The process's stdout and stderr as the CLI sees them."""

    def __init__(
        self,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        # None: whatever sys.stdout/sys.stderr are when written to (test runners swap them).
        self.given_stdout = stdout
        self.given_stderr = stderr
        self.environ = os.environ if environ is None else environ

    @property
    def stdout(self) -> TextIO:
        return self.given_stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self.given_stderr or sys.stderr

    # -- what the streams are ---------------------------------------------------------
    @staticmethod
    def is_tty(stream: TextIO) -> bool:
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())

    def colour(self, stream: TextIO) -> bool:
        """The one colour rule, for every command and stream.

        ``NO_COLOR`` turns colour off; otherwise ``FORCE_COLOR`` turns it on;
        otherwise ``TERM=dumb`` or a stream that is not a terminal means none.
        """
        if self.environ.get("NO_COLOR"):
            return False
        if self.environ.get("FORCE_COLOR"):
            return True
        return self.environ.get("TERM") != "dumb" and self.is_tty(stream)

    def width(self, stream: TextIO) -> int | None:
        """Columns to lay out for: None on a terminal (Rich measures it), else $COLUMNS or 80."""
        if self.is_tty(stream):
            return None
        try:
            return max(40, int(self.environ.get("COLUMNS", "80")))
        except ValueError:
            return 80

    def rich_console(self, stream: TextIO, *, markup: bool = True) -> Console:
        """A Rich console on ``stream`` that follows :meth:`colour` and :meth:`width`."""
        from rich.console import Console

        colour = self.colour(stream)
        return Console(
            file=stream, highlight=False, emoji=False, markup=markup, soft_wrap=False,
            color_system="auto" if colour else None, force_terminal=True if colour else None,
            width=self.width(stream),
        )

    # -- lines on stderr --------------------------------------------------------------
    def error_line(self, message: object) -> None:
        """One line on stderr: what went wrong, naming the thing."""
        first = " ".join(for_user(message).split("\n"))
        self.stderr.write(f"wapc: error: {first}\n")
        self.stderr.flush()

    def warning_line(self, message: object) -> None:
        self.stderr.write(f"wapc: warning: {for_user(message)}\n")
        self.stderr.flush()

    def log_line(self, message: str, source: str) -> None:
        """A guest's console log or WASI output line, on stderr (never on stdout)."""
        self.stderr.write(f"[guest {_LOG_TAGS.get(source, source)}] {message}\n")
        self.stderr.flush()


#: The terminal every command writes to.
terminal = Terminal()
