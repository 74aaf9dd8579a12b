"""Where the CLI writes, and how: the streams, whether each is a terminal, colour, width.

Every command writes through the one :data:`terminal` object, so there is one
colour rule (:meth:`Terminal.colour`) and one width rule for all of them. It
looks the streams up when it writes (a test runner that swaps ``sys.stdout``
is seen) and reads the environment at each decision; a ``Terminal`` of one's
own can be given other streams or another environment. Nothing here imports
rich until a command asks for a Rich console.

Text a guest produced reaches stderr only through :mod:`.safe_text` (here, for
log, warning and error lines). A stdout that was closed (``>&-``) is a stream
whose every write fails with ``EBADF``, so the error policy reports it like any
other failed write (:func:`.guard.run_guarded`) instead of writing nowhere.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO, cast

from .messages import for_user
from .safe_text import one_line

if TYPE_CHECKING:  # rich loads with the first Rich console, not with the CLI
    from rich.console import Console

#: A guest's log source -> the tag shown in front of its lines.
_LOG_TAGS = {"wapc": "log", "env": "log", "wasi:stdout": "stdout", "wasi:stderr": "stderr"}
#: Kept in one-line messages: a tab cannot hide or move what is already shown.
_TAB = "\t"


class _ClosedStream:
    """Stands in for a standard stream that was closed when the process started."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @property
    def buffer(self) -> _ClosedStream:
        return self

    def write(self, data: Any) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Discard:
    """Where stderr's lines go when stderr itself is closed: nowhere, quietly."""

    encoding = "utf-8"

    def write(self, data: str) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


_CLOSED_STDOUT = cast(TextIO, _ClosedStream(1))
#: How a write to stdout fails when nobody can read it (EPIPE is BrokenPipeError: no error).
_WRITE_ERRNOS = {errno.EBADF, errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT}
_NO_STDERR = cast(TextIO, _Discard())


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
        return self.given_stdout or sys.stdout or _CLOSED_STDOUT

    @property
    def stderr(self) -> TextIO:
        return self.given_stderr or sys.stderr or _NO_STDERR

    def prepare_streams(self) -> None:
        """Make stdout report a failed write rather than lose or choke on the output.

        A stdout closed at start (``>&-``) is ``None`` in Python, and Rich (typer's
        help too) would write nowhere and succeed: it becomes a stream whose
        writes fail with EBADF. Then :meth:`tolerate_unencodable`.
        """
        if sys.stdout is None:
            sys.stdout = _CLOSED_STDOUT
        self.tolerate_unencodable()

    def tolerate_unencodable(self) -> None:
        """Let stdout write what its encoding cannot hold as ``\\xe9``-style escapes.

        Under ``PYTHONIOENCODING=ascii`` (or a C locale), a non-ASCII response
        shown as text, or the timeline's arrows, would otherwise end the command
        with a UnicodeEncodeError. stderr does this already (Python's default).
        """
        stream = self.stdout
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (OSError, ValueError):  # pragma: no cover - closed or detached
                return

    def write_failure(self, exc: OSError) -> str | None:
        """What to say when ``exc`` is stdout refusing a write (closed, a full disk), else None.

        Files the user named report their own errors, with a file name (the
        core makes them :class:`~wapc_cli.errors.InputFileError`); an
        ``OSError`` of these kinds without one that reaches the error policy
        comes from writing the output.
        """
        if exc.filename is not None or exc.errno not in _WRITE_ERRNOS:
            return None
        reason = os.strerror(exc.errno) if exc.errno is not None else str(exc)
        return f"cannot write to standard output: {reason}"

    def abandon_stdout(self) -> None:
        """Point fd 1 at /dev/null once stdout has failed (a reader that went away, a full disk).

        What is still buffered would fail again when the interpreter flushes at
        exit, printing "Exception ignored" and changing the exit code.
        """
        try:
            fd = sys.stdout.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
        except (AttributeError, OSError, ValueError):
            return  # no real stdout (a test runner's), or nothing to replace
        try:
            os.dup2(null, fd)
        except OSError:  # pragma: no cover - then the exit may complain; nothing worse
            return
        finally:
            os.close(null)

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
        colour = self.colour(stream)
        return _console_class()(
            file=stream, highlight=False, emoji=False, markup=markup, soft_wrap=False,
            color_system="auto" if colour else None, force_terminal=True if colour else None,
            width=self.width(stream),
        )

    # -- lines on stderr --------------------------------------------------------------
    # Each escapes what it shows (:mod:`.safe_text`): messages carry guest text.
    def error_line(self, message: object) -> None:
        """One line on stderr: what went wrong, naming the thing."""
        first = " ".join(for_user(message).split("\n"))
        self._stderr_line(f"wapc: error: {one_line(first, keep=_TAB)}\n")

    def warning_line(self, message: object) -> None:
        self._stderr_line(f"wapc: warning: {one_line(for_user(message), keep=_TAB)}\n")

    def note_line(self, message: object) -> None:
        """Something the user should know that is neither wrong nor a risk."""
        self._stderr_line(f"wapc: note: {one_line(for_user(message), keep=_TAB)}\n")

    def log_line(self, message: str, source: str) -> None:
        """A guest's console log or WASI output line, on stderr (never on stdout)."""
        tag = one_line(_LOG_TAGS.get(source, source))
        self._stderr_line(f"[guest {tag}] {one_line(message, keep=_TAB)}\n")

    def _stderr_line(self, line: str) -> None:
        stream = self.stderr
        try:
            stream.write(line)
            stream.flush()
        except OSError:
            pass  # stderr is gone or full: there is nowhere left to say so


def _console_class() -> type[Console]:
    """Rich's Console, but a reader that went away is the error policy's to handle.

    Rich itself would point stdout at /dev/null and exit 1; the policy exits 0
    for every command alike.
    """
    from rich.console import Console

    class PolicyConsole(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return PolicyConsole


#: The terminal every command writes to.
terminal = Terminal()
