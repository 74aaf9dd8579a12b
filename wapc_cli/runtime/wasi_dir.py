"""The WASI directory functions on descriptors: preopen names and ``fd_readdir``

``fd_readdir`` lists ``.``, ``..`` and the entries sorted by name; a read
starting at cookie 0 takes a fresh listing, later cookies index the same one
(stable cookies while the guest pages through it). An entry that does not fit
the guest's buffer is cut: the buffer comes back full, and the guest asks again.
"""

from __future__ import annotations

import os

from .wasi_errno import EBADF, ENAMETOOLONG, ENOTCAPABLE, ESUCCESS, Errno
from .wasi_fd import Descriptor, filetype_of
from .wasi_state import MAX_IO, WasiState
from .wasi_types import (
    DIRENT,
    FILETYPE_DIRECTORY,
    PREOPENTYPE_DIR,
    PRESTAT,
    RIGHT_FD_READDIR,
    u32,
    u64,
)

#: The most entries one directory listing holds (a larger directory is listed in part).
MAX_DIR_ENTRIES = 1 << 16


def fd_prestat_get(state: WasiState, fd: int, prestat_ptr: int) -> int:
    descriptor = state.fds.get(fd)
    if descriptor.preopen is None:
        raise Errno(EBADF)
    record = PRESTAT.pack(PREOPENTYPE_DIR, len(descriptor.preopen))
    state.memory.write("fd_prestat_get", prestat_ptr, record)
    return ESUCCESS


def fd_prestat_dir_name(state: WasiState, fd: int, path_ptr: int, path_len: int) -> int:
    descriptor = state.fds.get(fd)
    if descriptor.preopen is None:
        raise Errno(EBADF)
    if u32(path_len) < len(descriptor.preopen):
        raise Errno(ENAMETOOLONG)
    state.memory.write("fd_prestat_dir_name", path_ptr, descriptor.preopen)
    return ESUCCESS


def _listing(descriptor: Descriptor) -> list[tuple[bytes, int, int]]:
    """``.``, ``..`` and the directory's entries (name, inode, filetype), sorted by name."""
    own = os.fstat(descriptor.host_fd)
    if descriptor.preopen is None:
        parent = os.stat("..", dir_fd=descriptor.host_fd, follow_symlinks=False).st_ino
    else:
        parent = own.st_ino  # above a grant's root is the host's business
    entries = [(b".", own.st_ino, FILETYPE_DIRECTORY), (b"..", parent, FILETYPE_DIRECTORY)]
    found: list[tuple[bytes, int, int]] = []
    with os.scandir(descriptor.host_fd) as scan:
        for entry in scan:
            if len(found) >= MAX_DIR_ENTRIES:
                break
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
                kind = filetype_of(mode)
            except OSError:
                kind = 0
            found.append((os.fsencode(entry.name), entry.inode(), kind))
    return entries + sorted(found)


def fd_readdir(state: WasiState, fd: int, buf: int, buf_len: int, cookie: int,
               bufused_ptr: int) -> int:
    descriptor = state.fds.get(fd)
    if not descriptor.is_dir or descriptor.host_fd < 0:
        raise Errno(EBADF)
    if not descriptor.rights & RIGHT_FD_READDIR:
        raise Errno(ENOTCAPABLE)
    _, buf_len = state.memory.span("fd_readdir", buf, buf_len)
    cookie = u64(cookie)
    if cookie == 0 or descriptor.dir_cache is None:
        descriptor.dir_cache = _listing(descriptor)
    listing = descriptor.dir_cache
    out = bytearray()
    index = cookie
    while index < len(listing) and len(out) < buf_len:
        name, inode, kind = listing[index]
        out += DIRENT.pack(index + 1, u64(inode), len(name), kind) + name
        index += 1
    # A full buffer may end inside an entry: the guest asks again with a bigger one.
    data = bytes(out[:min(buf_len, MAX_IO)])
    state.memory.write("fd_readdir", buf, data)
    state.memory.store_u32("fd_readdir", bufused_ptr, len(data))
    return ESUCCESS

