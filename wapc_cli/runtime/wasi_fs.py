"""The WASI ``fd_*`` functions: reading, writing, seeking and describing open descriptors

Each takes the :class:`~wapc_cli.runtime.wasi_state.WasiState` first, then the
guest's arguments as the engine passes them (masked here), and returns an
errno; a refusal may also be raised as :class:`~wapc_cli.runtime.wasi_errno.Errno`
and a host ``OSError`` is mapped by the table's wrapper (:mod:`.wasi_table`).
"""

from __future__ import annotations

import fcntl
import os
import time

from .wasi_errno import (
    EBADF,
    EINVAL,
    ENOTCAPABLE,
    EROFS,
    ESPIPE,
    ESUCCESS,
    Errno,
)
from .wasi_fd import Descriptor
from .wasi_state import WasiState
from .wasi_types import (
    ADVICE_MAX,
    FDFLAGS_ALL,
    FDFLAGS_APPEND,
    FDFLAGS_NONBLOCK,
    FDSTAT,
    FILETYPE_CHARACTER_DEVICE,
    FSTFLAGS_ATIM,
    FSTFLAGS_ATIM_NOW,
    FSTFLAGS_MTIM,
    FSTFLAGS_MTIM_NOW,
    RIGHT_FD_ADVISE,
    RIGHT_FD_ALLOCATE,
    RIGHT_FD_DATASYNC,
    RIGHT_FD_FDSTAT_SET_FLAGS,
    RIGHT_FD_FILESTAT_GET,
    RIGHT_FD_FILESTAT_SET_SIZE,
    RIGHT_FD_FILESTAT_SET_TIMES,
    RIGHT_FD_READ,
    RIGHT_FD_SEEK,
    RIGHT_FD_SYNC,
    RIGHT_FD_TELL,
    RIGHT_FD_WRITE,
    UNSTABLE_WHENCE,
    WHENCE_CUR,
    WHENCE_END,
    WHENCE_SET,
    s64,
    u64,
)

_HOST_WHENCE = {WHENCE_SET: os.SEEK_SET, WHENCE_CUR: os.SEEK_CUR, WHENCE_END: os.SEEK_END}


def _file(state: WasiState, fd: int, right: int) -> Descriptor:
    """An open regular file (or device) holding ``right``: EBADF for a directory or stream."""
    descriptor = state.fds.get(fd)
    if descriptor.host_fd < 0 or descriptor.is_dir:
        raise Errno(EBADF)
    if not descriptor.rights & right:
        raise Errno(ENOTCAPABLE)
    return descriptor


def _readable(state: WasiState, fd: int) -> Descriptor:
    descriptor = state.fds.get(fd)
    if descriptor.is_dir:
        raise Errno(EBADF)
    if not descriptor.readable:
        raise Errno(EBADF)
    if not descriptor.rights & RIGHT_FD_READ:
        raise Errno(ENOTCAPABLE)
    return descriptor


def _writable(state: WasiState, fd: int) -> Descriptor:
    descriptor = state.fds.get(fd)
    if descriptor.is_dir or not descriptor.writable:
        raise Errno(EBADF)
    if not descriptor.rights & RIGHT_FD_WRITE:
        raise Errno(ENOTCAPABLE)
    return descriptor


def _mutable(descriptor: Descriptor) -> None:
    if descriptor.grant is not None and not descriptor.grant.writable:
        raise Errno(EROFS)


# -- reading and writing --------------------------------------------------------------
def fd_read(state: WasiState, fd: int, iovs: int, iovs_len: int, nread_ptr: int) -> int:
    descriptor = _readable(state, fd)
    spans = state.iovecs("fd_read", iovs, iovs_len)
    wanted = sum(length for _, length in spans)
    if descriptor.stream is not None:
        data = state.stdin.read(wanted) if wanted else b""
    else:
        data = os.read(descriptor.host_fd, wanted) if wanted else b""
    state.memory.store_u32("fd_read", nread_ptr, state.scatter("fd_read", spans, data))
    return ESUCCESS


def fd_pread(state: WasiState, fd: int, iovs: int, iovs_len: int, offset: int,
             nread_ptr: int) -> int:
    descriptor = _readable(state, fd)
    if descriptor.stream is not None:
        raise Errno(ESPIPE)
    if not descriptor.rights & RIGHT_FD_SEEK:
        raise Errno(ENOTCAPABLE)
    spans = state.iovecs("fd_pread", iovs, iovs_len)
    wanted = sum(length for _, length in spans)
    offset = u64(offset)
    if offset >> 63:
        raise Errno(EINVAL)
    data = os.pread(descriptor.host_fd, wanted, offset) if wanted else b""
    state.memory.store_u32("fd_pread", nread_ptr, state.scatter("fd_pread", spans, data))
    return ESUCCESS


def fd_write(state: WasiState, fd: int, iovs: int, iovs_len: int, nwritten_ptr: int) -> int:
    descriptor = _writable(state, fd)
    data = state.gather("fd_write", iovs, iovs_len)
    if descriptor.stream is not None:
        state.output.write(descriptor.stream, data)
        written = len(data)
    else:
        written = _write_all(descriptor.host_fd, data) if data else 0
    state.memory.store_u32("fd_write", nwritten_ptr, written)
    return ESUCCESS


def _write_all(host_fd: int, data: bytes) -> int:
    written = 0
    while written < len(data):
        count = os.write(host_fd, data[written:])
        if count <= 0:
            break
        written += count
    return written


def fd_pwrite(state: WasiState, fd: int, iovs: int, iovs_len: int, offset: int,
              nwritten_ptr: int) -> int:
    descriptor = _writable(state, fd)
    if descriptor.stream is not None:
        raise Errno(ESPIPE)
    if not descriptor.rights & RIGHT_FD_SEEK:
        raise Errno(ENOTCAPABLE)
    data = state.gather("fd_pwrite", iovs, iovs_len)
    offset = u64(offset)
    if offset >> 63:
        raise Errno(EINVAL)
    written = os.pwrite(descriptor.host_fd, data, offset) if data else 0
    state.memory.store_u32("fd_pwrite", nwritten_ptr, written)
    return ESUCCESS


def _seek(state: WasiState, fd: int, offset: int, whence: int, result_ptr: int) -> int:
    descriptor = state.fds.get(fd)
    if descriptor.stream is not None:
        raise Errno(ESPIPE)
    if descriptor.is_dir:
        raise Errno(EBADF)
    offset = s64(offset)
    right = RIGHT_FD_TELL if whence == WHENCE_CUR and offset == 0 else RIGHT_FD_SEEK
    if not descriptor.rights & (right | RIGHT_FD_SEEK):
        raise Errno(ENOTCAPABLE)
    if whence not in _HOST_WHENCE:
        raise Errno(EINVAL)
    position = os.lseek(descriptor.host_fd, offset, _HOST_WHENCE[whence])
    state.memory.store_u64("fd_seek", result_ptr, position)
    return ESUCCESS


def fd_seek(state: WasiState, fd: int, offset: int, whence: int, result_ptr: int) -> int:
    return _seek(state, fd, offset, whence & 0xFF, result_ptr)


def unstable_fd_seek(state: WasiState, fd: int, offset: int, whence: int, result_ptr: int) -> int:
    """snapshot 0's fd_seek: its whence numbers are cur/end/set."""
    return _seek(state, fd, offset, UNSTABLE_WHENCE.get(whence & 0xFF, 99), result_ptr)


def fd_tell(state: WasiState, fd: int, result_ptr: int) -> int:
    descriptor = state.fds.get(fd)
    if descriptor.stream is not None:
        raise Errno(ESPIPE)
    if descriptor.is_dir:
        raise Errno(EBADF)
    if not descriptor.rights & (RIGHT_FD_TELL | RIGHT_FD_SEEK):
        raise Errno(ENOTCAPABLE)
    state.memory.store_u64("fd_tell", result_ptr, os.lseek(descriptor.host_fd, 0, os.SEEK_CUR))
    return ESUCCESS


# -- file state -----------------------------------------------------------------------
def fd_sync(state: WasiState, fd: int) -> int:
    descriptor = state.fds.get(fd)
    if descriptor.stream is not None:
        raise Errno(EINVAL)
    if not descriptor.rights & RIGHT_FD_SYNC:
        raise Errno(ENOTCAPABLE)
    os.fsync(descriptor.host_fd)
    return ESUCCESS


def fd_datasync(state: WasiState, fd: int) -> int:
    descriptor = state.fds.get(fd)
    if descriptor.stream is not None:
        raise Errno(EINVAL)
    if not descriptor.rights & RIGHT_FD_DATASYNC:
        raise Errno(ENOTCAPABLE)
    os.fdatasync(descriptor.host_fd)
    return ESUCCESS


def fd_advise(state: WasiState, fd: int, offset: int, length: int, advice: int) -> int:
    descriptor = _file(state, fd, RIGHT_FD_ADVISE)
    if advice & 0xFF > ADVICE_MAX:
        raise Errno(EINVAL)
    offset, length = u64(offset), u64(length)
    if offset >> 63 or length >> 63:
        raise Errno(EINVAL)
    os.posix_fadvise(descriptor.host_fd, offset, length, os.POSIX_FADV_NORMAL)
    return ESUCCESS


def fd_allocate(state: WasiState, fd: int, offset: int, length: int) -> int:
    descriptor = _file(state, fd, RIGHT_FD_ALLOCATE)
    if not descriptor.writable:
        raise Errno(EBADF)
    offset, length = u64(offset), u64(length)
    if offset >> 63 or length >> 63 or offset + length >= 1 << 63:
        raise Errno(EINVAL)
    if length == 0:
        raise Errno(EINVAL)
    size = os.fstat(descriptor.host_fd).st_size
    if offset + length > size:
        os.ftruncate(descriptor.host_fd, offset + length)
    return ESUCCESS


def fd_close(state: WasiState, fd: int) -> int:
    state.fds.remove(fd).close()
    return ESUCCESS


def fd_renumber(state: WasiState, fd: int, to: int) -> int:
    state.fds.renumber(fd, to)
    return ESUCCESS


def fd_fdstat_get(state: WasiState, fd: int, stat_ptr: int) -> int:
    d = state.fds.get(fd)
    record = FDSTAT.pack(d.filetype, d.fdflags, u64(d.rights), u64(d.inheriting))
    state.memory.write("fd_fdstat_get", stat_ptr, record)
    return ESUCCESS


def fd_fdstat_set_flags(state: WasiState, fd: int, flags: int) -> int:
    descriptor = state.fds.get(fd)
    flags &= 0xFFFF
    if flags & ~FDFLAGS_ALL:
        raise Errno(EINVAL)
    if not descriptor.rights & RIGHT_FD_FDSTAT_SET_FLAGS:
        raise Errno(ENOTCAPABLE)
    if descriptor.stream is None and not descriptor.is_dir:
        host = fcntl.fcntl(descriptor.host_fd, fcntl.F_GETFL)
        host = host | os.O_APPEND if flags & FDFLAGS_APPEND else host & ~os.O_APPEND
        fcntl.fcntl(descriptor.host_fd, fcntl.F_SETFL, host)
    # Only append and non-blocking change after opening; the sync flags stay as opened.
    kept = descriptor.fdflags & ~(FDFLAGS_APPEND | FDFLAGS_NONBLOCK)
    descriptor.fdflags = kept | (flags & (FDFLAGS_APPEND | FDFLAGS_NONBLOCK))
    return ESUCCESS


def fd_fdstat_set_rights(state: WasiState, fd: int, base: int, inheriting: int) -> int:
    descriptor = state.fds.get(fd)
    base, inheriting = u64(base), u64(inheriting)
    if base & ~descriptor.rights or inheriting & ~descriptor.inheriting:
        raise Errno(ENOTCAPABLE)  # rights can be dropped, never gained
    descriptor.rights, descriptor.inheriting = base, inheriting
    return ESUCCESS


def _filestat(state: WasiState, fd: int, buf: int, unstable: bool) -> int:
    descriptor = state.fds.get(fd)
    if descriptor.stream is not None:
        state.store_filestat("fd_filestat_get", buf, None, FILETYPE_CHARACTER_DEVICE, unstable)
        return ESUCCESS
    if not descriptor.rights & RIGHT_FD_FILESTAT_GET:
        raise Errno(ENOTCAPABLE)
    info = os.fstat(descriptor.host_fd)
    state.store_filestat("fd_filestat_get", buf, info, None, unstable)
    return ESUCCESS


def fd_filestat_get(state: WasiState, fd: int, buf: int) -> int:
    return _filestat(state, fd, buf, False)


def unstable_fd_filestat_get(state: WasiState, fd: int, buf: int) -> int:
    return _filestat(state, fd, buf, True)


def fd_filestat_set_size(state: WasiState, fd: int, size: int) -> int:
    descriptor = _file(state, fd, RIGHT_FD_FILESTAT_SET_SIZE)
    if not descriptor.writable:
        raise Errno(EBADF)
    size = u64(size)
    if size >> 63:
        raise Errno(EINVAL)
    os.ftruncate(descriptor.host_fd, size)
    return ESUCCESS


def times(atim: int, mtim: int, fst_flags: int, current: tuple[int, int]) -> tuple[int, int]:
    """The (atime, mtime) in ns that ``fst_flags`` asks for (EINVAL for a contradiction)."""
    flags = fst_flags & 0xFFFF
    if flags & ~0xF or (flags & FSTFLAGS_ATIM and flags & FSTFLAGS_ATIM_NOW) or (
        flags & FSTFLAGS_MTIM and flags & FSTFLAGS_MTIM_NOW
    ):
        raise Errno(EINVAL)
    now = time.time_ns()
    access, modify = current
    if flags & FSTFLAGS_ATIM:
        access = u64(atim)
    elif flags & FSTFLAGS_ATIM_NOW:
        access = now
    if flags & FSTFLAGS_MTIM:
        modify = u64(mtim)
    elif flags & FSTFLAGS_MTIM_NOW:
        modify = now
    return access, modify


def fd_filestat_set_times(state: WasiState, fd: int, atim: int, mtim: int,
                          fst_flags: int) -> int:
    descriptor = state.fds.get(fd)
    if descriptor.stream is not None:
        raise Errno(EBADF)
    if not descriptor.rights & RIGHT_FD_FILESTAT_SET_TIMES:
        raise Errno(ENOTCAPABLE)
    _mutable(descriptor)
    info = os.fstat(descriptor.host_fd)
    stamps = times(atim, mtim, fst_flags, (info.st_atime_ns, info.st_mtime_ns))
    os.utime(descriptor.host_fd, ns=stamps)
    return ESUCCESS
