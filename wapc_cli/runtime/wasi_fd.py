"""The WASI descriptor table: what each guest fd is, its host descriptor, rights and flags

fd 0-2 are the standard streams; the grants' preopened directories follow
(3, 4, ...); whatever the guest opens takes the lowest free number. Every open
file or directory holds one host descriptor, at most :data:`MAX_OPEN` at a
time (then ``EMFILE``). :meth:`DescriptorTable.reset` (a rebuilt instance)
and :meth:`DescriptorTable.close` (the run is over) close every host
descriptor the guest opened; the grants' roots are closed by ``close`` only.
"""

from __future__ import annotations

import os
import stat

from .wasi_errno import EBADF, EMFILE, ENOTDIR, Errno
from .wasi_sandbox import Grant
from .wasi_types import (
    DIR_RIGHTS,
    FILE_RIGHTS,
    FILETYPE_BLOCK_DEVICE,
    FILETYPE_CHARACTER_DEVICE,
    FILETYPE_DIRECTORY,
    FILETYPE_REGULAR_FILE,
    FILETYPE_SOCKET_STREAM,
    FILETYPE_SYMBOLIC_LINK,
    FILETYPE_UNKNOWN,
    STDIN_RIGHTS,
    STDOUT_RIGHTS,
    u32,
)

#: The most files and directories a guest may hold open at once (preopens not counted).
MAX_OPEN = 128


def filetype_of(mode: int) -> int:
    if stat.S_ISDIR(mode):
        return FILETYPE_DIRECTORY
    if stat.S_ISREG(mode):
        return FILETYPE_REGULAR_FILE
    if stat.S_ISLNK(mode):
        return FILETYPE_SYMBOLIC_LINK
    if stat.S_ISCHR(mode):
        return FILETYPE_CHARACTER_DEVICE
    if stat.S_ISBLK(mode):
        return FILETYPE_BLOCK_DEVICE
    if stat.S_ISSOCK(mode):
        return FILETYPE_SOCKET_STREAM
    return FILETYPE_UNKNOWN


class Descriptor:
    """One guest fd. ``stream``: 0/1/2 for a standard stream (no host fd), else None.

    ``host_fd`` is ours to close unless ``preopen`` is set (a grant's root).
    ``readable``/``writable``: how the host file was opened. ``rights``/``inheriting``:
    what the guest may still do (it may drop rights, never regain them).
    """

    __slots__ = (
        "dir_cache", "fdflags", "filetype", "grant", "host_fd", "inheriting", "preopen",
        "readable", "rights", "stream", "writable",
    )

    def __init__(
        self, filetype: int, rights: int, inheriting: int, *, host_fd: int = -1,
        grant: Grant | None = None, stream: int | None = None, preopen: bytes | None = None,
        readable: bool = False, writable: bool = False, fdflags: int = 0,
    ) -> None:
        self.filetype = filetype
        self.rights = rights
        self.inheriting = inheriting
        self.host_fd = host_fd
        self.grant = grant
        self.stream = stream
        self.preopen = preopen
        self.readable = readable
        self.writable = writable
        self.fdflags = fdflags
        #: fd_readdir's listing, taken when a read starts at cookie 0 (stable cookies).
        self.dir_cache: list[tuple[bytes, int, int]] | None = None

    @property
    def is_dir(self) -> bool:
        return self.filetype == FILETYPE_DIRECTORY

    def close(self) -> None:
        if self.host_fd >= 0 and self.preopen is None:
            fd, self.host_fd = self.host_fd, -1
            os.close(fd)


def stdio_descriptors() -> dict[int, Descriptor]:
    return {
        0: Descriptor(FILETYPE_CHARACTER_DEVICE, STDIN_RIGHTS, 0, stream=0, readable=True),
        1: Descriptor(FILETYPE_CHARACTER_DEVICE, STDOUT_RIGHTS, 0, stream=1, writable=True),
        2: Descriptor(FILETYPE_CHARACTER_DEVICE, STDOUT_RIGHTS, 0, stream=2, writable=True),
    }


def dir_rights(grant: Grant) -> tuple[int, int]:
    """A directory's rights (base, inheriting).

    The same in a read-only grant: guest libraries expect a directory to hold
    at least these (the suite's path_open_preopen says so), and a change
    there is refused with EROFS when tried, not hidden from the rights.
    """
    del grant
    return DIR_RIGHTS, DIR_RIGHTS | FILE_RIGHTS


class DescriptorTable:
    """The guest's fds, over the grants it was given."""

    def __init__(self, grants: list[Grant]) -> None:
        self.grants = grants
        self.fds: dict[int, Descriptor] = {}
        self.reset()

    def reset(self) -> None:
        """Close what the guest opened; only the standard streams and the preopens remain."""
        self._close_opened()
        self.fds = stdio_descriptors()
        for index, grant in enumerate(self.grants):
            base, inheriting = dir_rights(grant)
            self.fds[3 + index] = Descriptor(
                FILETYPE_DIRECTORY, base, inheriting, host_fd=grant.fd, grant=grant,
                preopen=grant.guest.encode("utf-8"), readable=True,
            )

    def close(self) -> None:
        """Close every host descriptor, the grants' roots too (the host is done)."""
        self._close_opened()
        self.fds = {}
        for grant in self.grants:
            grant.close()

    def _close_opened(self) -> None:
        for descriptor in self.fds.values():
            descriptor.close()

    # -- lookups ---------------------------------------------------------------------
    def get(self, fd: int) -> Descriptor:
        descriptor = self.fds.get(u32(fd))
        if descriptor is None:
            raise Errno(EBADF)
        return descriptor

    def directory(self, fd: int) -> Descriptor:
        """The directory ``fd`` names (EBADF: none; ENOTDIR: not a directory)."""
        descriptor = self.get(fd)
        if not descriptor.is_dir or descriptor.grant is None:
            raise Errno(ENOTDIR)
        return descriptor

    def opened_count(self) -> int:
        return sum(1 for d in self.fds.values() if d.preopen is None and d.stream is None)

    def add(self, descriptor: Descriptor) -> int:
        """Give ``descriptor`` the lowest free fd (EMFILE, closing it, when too many are open)."""
        if self.opened_count() >= MAX_OPEN:
            descriptor.close()
            raise Errno(EMFILE)
        fd = 0
        while fd in self.fds:
            fd += 1
        self.fds[fd] = descriptor
        return fd

    def remove(self, fd: int) -> Descriptor:
        descriptor = self.get(fd)
        del self.fds[u32(fd)]
        return descriptor

    def renumber(self, fd: int, to: int) -> None:
        """``fd_renumber``: ``fd`` moves to ``to``, closing what ``to`` held."""
        source = self.get(fd)
        target = self.get(to)
        if u32(fd) == u32(to):
            return
        target.close()
        self.fds[u32(to)] = source
        del self.fds[u32(fd)]
