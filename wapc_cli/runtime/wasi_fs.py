"""Read-only WASI file access, limited to the directories the user granted.

Each grant is a preopened directory (fd 3, 4, ...). A path a guest opens is
resolved on the host with every symlink followed and must stay inside the grant
it is relative to: ``..``, absolute paths and links pointing out are refused
with ``ENOTCAPABLE``. Nothing can be created, written, renamed or deleted.

Handles keep the resolved host path and an offset, not an open host file: a
guest that never closes what it opened leaks nothing on the host, and a rebuilt
instance starts again with only the preopens.
"""

from __future__ import annotations

import os
import stat
import struct

from ..wasm.constants import U32_MASK, U64_MASK
from .memory import CheckedMemory
from .wasi_errno import (
    EACCES,
    EBADF,
    EINVAL,
    EIO,
    EISDIR,
    EMFILE,
    ENAMETOOLONG,
    ENOENT,
    ENOTCAPABLE,
    ENOTDIR,
    EROFS,
    ESUCCESS,
)

_FILETYPE_UNKNOWN, _FILETYPE_DIRECTORY, _FILETYPE_REGULAR, _FILETYPE_SYMLINK = 0, 3, 4, 7
_OFLAGS_WRITING = 0x1 | 0x4 | 0x8  # CREAT | EXCL | TRUNC
_OFLAGS_DIRECTORY = 0x2
_FDFLAGS_APPEND = 0x1
_RIGHTS_WRITING = (1 << 6) | (1 << 8) | (1 << 22)  # FD_WRITE | FD_ALLOCATE | FD_FILESTAT_SET_SIZE
FILE_RIGHTS = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 7) | (1 << 21) | (1 << 27)
DIR_RIGHTS = (1 << 13) | (1 << 14) | (1 << 15) | (1 << 18) | (1 << 21)
_WHENCE_SET, _WHENCE_CUR, _WHENCE_END = 0, 1, 2

MAX_HANDLES = 64
MAX_PATH = 4096
_READ_CHUNK = 1 << 20
_FILESTAT = struct.Struct("<QQB7xQQQQQ")
_DIRENT = struct.Struct("<QQIB3x")


class _Handle:
    """An open file or directory of the guest's (mutable: the file offset moves)."""

    __slots__ = ("host", "is_dir", "offset", "preopen", "root")

    def __init__(
        self, host: str, root: str, is_dir: bool, preopen: bytes | None = None, offset: int = 0
    ) -> None:
        self.host = host  # resolved host path
        self.root = root  # resolved host path of the grant it lies in
        self.is_dir = is_dir
        self.preopen = preopen  # the name the guest sees, for a preopened directory
        self.offset = offset


def _filetype(mode: int) -> int:
    if stat.S_ISDIR(mode):
        return _FILETYPE_DIRECTORY
    if stat.S_ISREG(mode):
        return _FILETYPE_REGULAR
    if stat.S_ISLNK(mode):
        return _FILETYPE_SYMLINK
    return _FILETYPE_UNKNOWN


def _errno(exc: OSError) -> int:
    if isinstance(exc, FileNotFoundError):
        return ENOENT
    if isinstance(exc, NotADirectoryError):
        return ENOTDIR
    if isinstance(exc, IsADirectoryError):
        return EISDIR
    if isinstance(exc, PermissionError):
        return EACCES
    return EIO


class WasiFiles:
    """The file-system half of :class:`~wapc_cli.runtime.wasi.WasiHost` (its base).

    ``grants``: (host path, path the guest sees) for each directory granted.
    """

    def __init__(self, memory: CheckedMemory, grants: tuple[tuple[str, str], ...]) -> None:
        self.memory = memory
        self._grants = [(os.path.realpath(host), guest) for host, guest in grants]
        self._handles: dict[int, _Handle] = {}
        self.reset_files()

    def reset_files(self) -> None:
        """Forget every handle the guest opened: only the preopens remain."""
        self._handles = {
            3 + index: _Handle(root, root, True, guest.encode("utf-8"))
            for index, (root, guest) in enumerate(self._grants)
        }

    # -- helpers -------------------------------------------------------------------
    def _handle(self, fd: int) -> _Handle | None:
        return self._handles.get(fd & U32_MASK)

    def _guest_path(self, what: str, ptr: int, length: int) -> str | int:
        if length & U32_MASK > MAX_PATH:
            return ENAMETOOLONG
        raw = self.memory.read(what, ptr, length)
        if b"\0" in raw:
            return EINVAL
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return EINVAL

    def _resolve(self, base: _Handle, path: str) -> str | int:
        """The host path for ``path`` relative to ``base``, or the errno refusing it."""
        if not base.is_dir:
            return ENOTDIR
        if path.startswith("/"):
            return ENOTCAPABLE  # relative to a directory handle only, never the host root
        resolved = os.path.realpath(os.path.join(base.host, path))
        if resolved != base.root and not resolved.startswith(base.root.rstrip(os.sep) + os.sep):
            return ENOTCAPABLE
        return resolved

    def _lookup(self, what: str, fd: int, ptr: int, length: int) -> tuple[str, str] | int:
        base = self._handle(fd)
        if base is None:
            return EBADF
        path = self._guest_path(what, ptr, length)
        if isinstance(path, int):
            return path
        resolved = self._resolve(base, path)
        if isinstance(resolved, int):
            return resolved
        return resolved, base.root

    def _write_filestat(self, what: str, ptr: int, host: str) -> int:
        try:
            info = os.stat(host)
        except OSError as exc:
            return _errno(exc)
        record = _FILESTAT.pack(
            info.st_dev & U64_MASK, info.st_ino & U64_MASK, _filetype(info.st_mode), info.st_nlink,
            info.st_size, info.st_atime_ns, info.st_mtime_ns, info.st_ctime_ns,
        )
        self.memory.write(what, ptr, record)
        return ESUCCESS

    # -- preview1 functions on fd >= 3 (WasiHost answers for stdio, then calls these)
    def prestat_get(self, fd: int, prestat_ptr: int) -> int:
        handle = self._handle(fd)
        if handle is None or handle.preopen is None:
            return EBADF
        self.memory.write("fd_prestat_get", prestat_ptr, struct.pack("<B3xI", 0,
                                                                       len(handle.preopen)))
        return ESUCCESS

    def prestat_dir_name(self, fd: int, path_ptr: int, path_len: int) -> int:
        handle = self._handle(fd)
        if handle is None or handle.preopen is None:
            return EBADF
        if path_len & U32_MASK < len(handle.preopen):
            return ENAMETOOLONG
        self.memory.write("fd_prestat_dir_name", path_ptr, handle.preopen)
        return ESUCCESS

    def file_fdstat_get(self, fd: int, stat_ptr: int) -> int:
        handle = self._handle(fd)
        if handle is None:
            return EBADF
        if handle.is_dir:
            record = struct.pack("<BxHxxxxQQ", _FILETYPE_DIRECTORY, 0, DIR_RIGHTS,
                                 DIR_RIGHTS | FILE_RIGHTS)
        else:
            record = struct.pack("<BxHxxxxQQ", _FILETYPE_REGULAR, 0, FILE_RIGHTS, 0)
        self.memory.write("fd_fdstat_get", stat_ptr, record)
        return ESUCCESS

    def file_close(self, fd: int) -> int:
        return ESUCCESS if self._handles.pop(fd & U32_MASK, None) is not None else EBADF

    def file_read(self, fd: int, iovs: int, iovs_len: int, nread_ptr: int) -> int:
        handle = self._handle(fd)
        if handle is None:
            return EBADF
        if handle.is_dir:
            return EISDIR
        iovs_len &= U32_MASK
        table = self.memory.read("fd_read (iovecs)", iovs, 8 * iovs_len)
        spans = [struct.unpack_from("<II", table, 8 * i) for i in range(iovs_len)]
        for ptr, length in spans:
            self.memory.span("fd_read", ptr, length)  # trap before touching the file
        total = 0
        try:
            with open(handle.host, "rb") as file:
                file.seek(handle.offset)
                for ptr, length in spans:
                    data = file.read(min(length, _READ_CHUNK))
                    self.memory.write("fd_read", ptr, data)
                    total += len(data)
                    if len(data) < length:
                        break
        except OSError as exc:
            return _errno(exc)
        handle.offset += total
        self.memory.store_u32("fd_read", nread_ptr, total)
        return ESUCCESS

    def file_seek(self, fd: int, offset: int, whence: int, result_ptr: int) -> int:
        handle = self._handle(fd)
        if handle is None:
            return EBADF
        if handle.is_dir:
            return EISDIR
        whence &= 0xFF
        if whence == _WHENCE_SET:
            base = 0
        elif whence == _WHENCE_CUR:
            base = handle.offset
        elif whence == _WHENCE_END:
            try:
                base = os.stat(handle.host).st_size
            except OSError as exc:
                return _errno(exc)
        else:
            return EINVAL
        position = base + offset
        if not 0 <= position <= U64_MASK >> 1:
            return EINVAL
        handle.offset = position
        self.memory.store_u64("fd_seek", result_ptr, position)
        return ESUCCESS

    def fd_tell(self, fd: int, result_ptr: int) -> int:
        handle = self._handle(fd)
        if handle is None:
            return EBADF
        self.memory.store_u64("fd_tell", result_ptr, handle.offset)
        return ESUCCESS

    def fd_filestat_get(self, fd: int, buf: int) -> int:
        handle = self._handle(fd)
        if handle is None:
            return EBADF
        return self._write_filestat("fd_filestat_get", buf, handle.host)

    def path_filestat_get(self, fd: int, flags: int, path_ptr: int, path_len: int,
                          buf: int) -> int:
        found = self._lookup("path_filestat_get", fd, path_ptr, path_len)
        if isinstance(found, int):
            return found
        return self._write_filestat("path_filestat_get", buf, found[0])

    def path_open(self, fd: int, dirflags: int, path_ptr: int, path_len: int, oflags: int,
                  rights_base: int, rights_inheriting: int, fdflags: int, fd_ptr: int) -> int:
        found = self._lookup("path_open", fd, path_ptr, path_len)
        if isinstance(found, int):
            return found
        host, root = found
        if oflags & _OFLAGS_WRITING or fdflags & _FDFLAGS_APPEND or rights_base & _RIGHTS_WRITING:
            return EROFS
        try:
            mode = os.stat(host).st_mode
            if stat.S_ISDIR(mode):
                os.listdir(host)  # EACCES now rather than on the first readdir
            elif oflags & _OFLAGS_DIRECTORY:
                return ENOTDIR
            elif not stat.S_ISREG(mode):
                return EACCES  # a FIFO or device would block or never end
            else:
                os.close(os.open(host, os.O_RDONLY))
        except OSError as exc:
            return _errno(exc)
        if len(self._handles) >= MAX_HANDLES:
            return EMFILE
        new_fd = max(self._handles, default=2) + 1
        self._handles[new_fd] = _Handle(host, root, stat.S_ISDIR(mode))
        self.memory.store_u32("path_open", fd_ptr, new_fd)
        return ESUCCESS

    def fd_readdir(self, fd: int, buf: int, buf_len: int, cookie: int, bufused_ptr: int) -> int:
        handle = self._handle(fd)
        if handle is None:
            return EBADF
        if not handle.is_dir:
            return ENOTDIR
        _, buf_len = self.memory.span("fd_readdir", buf, buf_len)
        try:
            names = sorted(os.listdir(handle.host))
        except OSError as exc:
            return _errno(exc)
        out = bytearray()
        for index in range(max(0, cookie), len(names)):
            if len(out) >= buf_len:
                break
            name = names[index]
            try:
                info = os.lstat(os.path.join(handle.host, name))
                inode, kind = info.st_ino, _filetype(info.st_mode)
            except OSError:
                inode, kind = 0, _FILETYPE_UNKNOWN
            encoded = os.fsencode(name)
            out += _DIRENT.pack(index + 1, inode & U64_MASK, len(encoded), kind) + encoded
        # A full buffer may end inside an entry; the guest asks again with a bigger one.
        data = bytes(out[:buf_len])
        self.memory.write("fd_readdir", buf, data)
        self.memory.store_u32("fd_readdir", bufused_ptr, len(data))
        return ESUCCESS
