"""Reading a file the user named: one clear error line, no hang on a device, no unbounded read.

Payload files, JSON payload files and stub tables are named by the user and
read whole. What can go wrong with such a name becomes one
:class:`~wapc_cli.errors.InputFileError` (exit 2) naming the file: missing,
unreadable, a directory, a device (``/dev/zero`` would be read forever, a tape
drive rewinds when opened), or larger than the reader allows.

Regular files are read; so are pipes and FIFOs (``@<(cmd)``, ``/dev/stdin``
on a pipe), whose end is the writer's to decide, up to the same size bound.
Symbolic links are followed: the user named the file, wherever it lives.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from ..errors import InputFileError

#: Bytes read at a time from a pipe or standard input.
_CHUNK = 1 << 20


def format_bytes(count: int) -> str:
    """``1073741824`` -> ``'1 GiB'``: the size bounds named in error messages."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count} bytes"


def read_user_bytes(path: str | os.PathLike[str], what: str, max_bytes: int) -> bytes:
    """The bytes of the regular file or pipe at ``path``, at most ``max_bytes`` of them.

    ``what`` names the file in errors (``"payload file"``); every failure is
    an :class:`InputFileError` with one line ``{what} '{path}': ...``.
    """
    where = os.fspath(path)
    if not where:
        raise InputFileError(f"{what}: no file name given")
    try:
        kind = _kind(os.stat(where).st_mode)  # before opening: opening a device can act
        if kind is not None:
            raise InputFileError(f"{what} '{where}' is {kind}, not a file")
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputFileError(f"{what} '{where}': no such file") from None
    except PermissionError:
        raise InputFileError(f"{what} '{where}': permission denied") from None
    except OSError as exc:
        raise InputFileError(f"{what} '{where}': cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as stream:
        mode = os.fstat(fd)
        kind = _kind(mode.st_mode)  # the name may have been swapped since the stat
        if kind is not None:
            raise InputFileError(f"{what} '{where}' is {kind}, not a file")
        if stat.S_ISREG(mode.st_mode) and mode.st_size > max_bytes:
            raise _too_large(what, where, max_bytes)
        return read_bounded(stream, what, where, max_bytes)


def read_standard_input(stdin: BinaryIO | None, what: str, max_bytes: int) -> bytes:
    """All of standard input (``stdin``, a binary stream), at most ``max_bytes``."""
    if stdin is None:  # Python sets sys.stdin to None when descriptor 0 is closed
        raise InputFileError(f"{what} '-': standard input is closed")
    return read_bounded(stdin, what, "-", max_bytes)


def read_bounded(stream: BinaryIO, what: str, where: str, max_bytes: int) -> bytes:
    """Read ``stream`` to its end, refusing it once it passes ``max_bytes``."""
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = stream.read(min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(what, where, max_bytes)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputFileError(f"{what} '{where}': cannot read ({reason})") from None
    except ValueError:  # an already closed stream
        raise InputFileError(f"{what} '{where}': cannot read (the stream is closed)") from None


def file_type_name(mode: int) -> str | None:
    """How messages name a file that is not a regular one (``"a FIFO (named pipe)"``).

    None for a regular file and for the rare types no message names. The one
    list of these names, for every reader of user-named files.
    """
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def _kind(mode: int) -> str | None:
    """What a file that must not be read as a file is, or None for files and pipes."""
    return None if stat.S_ISFIFO(mode) else file_type_name(mode)


def _too_large(what: str, where: str, max_bytes: int) -> InputFileError:
    return InputFileError(f"{what} '{where}' is larger than {format_bytes(max_bytes)}")
