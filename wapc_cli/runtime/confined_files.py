"""Reading a file named *inside* another file (a stub table's ``file:``), confined to a folder.

A stub table may come from anywhere (a colleague, a recording, a repository),
so the files it names are read the way a sandbox would: only regular files,
only inside the table's own folder, only up to a size bound. Everything that
can go wrong is one :class:`ConfinedFileError` whose message names the file
and never quotes what is in it.

- The name is resolved (``..``, symbolic links, an absolute path) first and
  refused when the result is outside the folder, so neither ``../secret`` nor
  a link pointing out of the folder reads anything there.
- Anything but a regular file is refused *before* it is opened: a FIFO would
  block the read forever, ``/dev/zero`` never ends, opening a tape drive
  rewinds it. The file is then opened without following a link and without
  blocking, and checked again, so a name swapped in between is caught too.
- A file larger than the bound is refused from its size, without reading it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .userfiles import file_type_name, format_bytes

#: The largest file a table may name (its contents are held in memory, and a
#: reply goes into the guest's memory in one piece).
MAX_CONFINED_FILE_BYTES = 64 << 20

_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class ConfinedFileError(Exception):
    """The named file cannot be read; the message is one line, without file contents."""


def read_confined_file(
    folder: Path, name: str, max_bytes: int = MAX_CONFINED_FILE_BYTES,
    folder_is: str = "the folder",
) -> bytes:
    """The bytes of the regular file ``name`` (relative to ``folder``) inside ``folder``.

    ``folder_is`` names the folder in messages (``"the stub table's folder"``).
    """
    if not name:
        raise ConfinedFileError("no file name given")
    if "\0" in name:
        raise ConfinedFileError("a file name cannot contain a NUL character")
    try:
        root = folder.resolve(strict=True)
        target = (folder / name).resolve(strict=True)
    except FileNotFoundError:
        raise ConfinedFileError(f"no such file '{folder / name}'") from None
    except RuntimeError:  # a symbolic link loop (Python 3.10/3.11 raise this)
        raise ConfinedFileError(f"'{name}' is a loop of symbolic links") from None
    except OSError as exc:
        raise ConfinedFileError(f"cannot read '{folder / name}' ({exc.strerror})") from None
    if not target.is_relative_to(root):
        how = " through a symbolic link" if _lexically_inside(name) else ""
        raise ConfinedFileError(
            f"'{name}' leads outside {folder_is} '{root}'{how}; only files inside it are read"
        )
    return _read_regular(target, name, max_bytes)


def _lexically_inside(name: str) -> bool:
    """Whether ``name`` stays inside its folder as written (so a link took it out)."""
    if os.path.isabs(name):
        return False
    return not os.path.normpath(name).startswith(os.pardir)


def _read_regular(target: Path, name: str, max_bytes: int) -> bytes:
    try:
        before = os.stat(target)
        _require_regular(before.st_mode, name)  # before opening: opening a device can act
        fd = os.open(target, _READ_FLAGS)
    except PermissionError:
        raise ConfinedFileError(f"cannot read '{target}' (permission denied)") from None
    except OSError as exc:
        raise ConfinedFileError(f"cannot read '{target}' ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as stream:
        opened = os.fstat(fd)
        _require_regular(opened.st_mode, name)
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise ConfinedFileError(f"'{name}' changed while it was being opened")
        if opened.st_size > max_bytes:
            raise _too_large(name, max_bytes)
        try:
            data = stream.read(max_bytes + 1)  # a file still growing stops at the bound
        except OSError as exc:
            raise ConfinedFileError(f"cannot read '{target}' ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise _too_large(name, max_bytes)
    return data


def _require_regular(mode: int, name: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = file_type_name(mode) or "not a regular file"
    raise ConfinedFileError(f"'{name}' is {kind}; only regular files can be read")


def _too_large(name: str, max_bytes: int) -> ConfinedFileError:
    return ConfinedFileError(f"'{name}' is larger than {format_bytes(max_bytes)}")
