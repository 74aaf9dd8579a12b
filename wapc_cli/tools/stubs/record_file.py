"""The ``--record`` file: claimed before the guest runs, written when the run ends.

Checking the name only at the start and writing it by name at the end would
leave a window (another file or a symbolic link appearing in between) and
would report a bad name only after the whole run. So the file is opened at
once, before the guest runs:

- created exclusively (``O_EXCL``): an existing file is refused unless
  overwriting was asked for, and a file that appears later cannot be clobbered;
- never through a symbolic link (``O_NOFOLLOW``; with ``O_EXCL`` a dangling
  link is refused too, instead of its target being created);
- only as a regular file: a directory, a FIFO or a device is refused.

The content is written through that same descriptor at the end. When the run
never gets there (a module that does not load), the empty file this created is
removed again and a file that was to be overwritten keeps its content.
"""

from __future__ import annotations

import errno
import os
import stat
import weakref
from pathlib import Path

from ...errors import InputFileError, UsageError

_WRITE_FLAGS = (
    os.O_WRONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block the open; it is refused below
    | getattr(os, "O_CLOEXEC", 0)
)


class RecordFile:
    """An open, not yet written record file at ``path``."""

    def __init__(self, path: Path, overwrite: bool) -> None:
        self.path = path
        self.fd, created = _claim(path, overwrite)
        self.written = False
        # If the run ends without write(): close, and remove the file if this made it.
        self._discard = weakref.finalize(self, _discard, self.fd, str(path), created)

    def write(self, data: bytes) -> None:
        """Make ``data`` the file's content, and close it (once per file)."""
        if self.written:
            raise RuntimeError(f"record file '{self.path}' was already written")
        try:
            os.ftruncate(self.fd, 0)
            view = memoryview(data)
            offset = 0
            while offset < len(view):
                offset += os.pwrite(self.fd, view[offset:], offset)
        except OSError as exc:
            raise InputFileError(
                f"--record: cannot write '{self.path}' ({exc.strerror or exc})"
            ) from None
        self.written = True
        self._discard.detach()
        os.close(self.fd)


def _claim(path: Path, overwrite: bool) -> tuple[int, bool]:
    """The descriptor of ``path`` opened for writing, and whether this created the file."""
    _check_folder(path)
    try:
        return os.open(path, _WRITE_FLAGS | os.O_CREAT | os.O_EXCL, 0o666), True
    except FileExistsError:
        existing = os.lstat(path)
        if stat.S_ISLNK(existing.st_mode):
            raise _symlink(path) from None
        if stat.S_ISDIR(existing.st_mode):
            raise UsageError(f"--record: '{path}' is a directory") from None
        if not overwrite:
            raise UsageError(f"--record: '{path}' exists (use --force to overwrite it)") from None
    except OSError as exc:
        raise _cannot(path, exc) from None
    try:  # overwriting: the existing file, still without following a link
        fd = os.open(path, _WRITE_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink(path) from None
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads
            raise UsageError(f"--record: '{path}' is not a regular file") from None
        raise _cannot(path, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"--record: '{path}' is not a regular file")
    return fd, False


def _check_folder(path: Path) -> None:
    folder = path.parent
    try:
        mode = os.stat(folder).st_mode
    except FileNotFoundError:
        raise UsageError(f"--record: cannot create '{path}': no folder '{folder}'") from None
    except OSError as exc:
        raise _cannot(path, exc) from None
    if not stat.S_ISDIR(mode):
        raise UsageError(f"--record: cannot create '{path}': '{folder}' is not a folder")


def _symlink(path: Path) -> UsageError:
    return UsageError(f"--record: '{path}' is a symbolic link; name the file itself")


def _cannot(path: Path, exc: OSError) -> UsageError:
    if exc.errno == errno.EISDIR:
        return UsageError(f"--record: '{path}' is a directory")
    return UsageError(f"--record: cannot create '{path}' ({exc.strerror or exc})")


def _discard(fd: int, path: str, created: bool) -> None:
    """Close ``fd``; remove the file at ``path`` if this created it and it is still that file."""
    try:
        if created:
            mine, there = os.fstat(fd), os.lstat(path)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino) and mine.st_size == 0:
                os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)
