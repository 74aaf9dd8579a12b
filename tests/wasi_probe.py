"""Calling the WASI host's functions directly, over a plain bytearray as guest memory.

For tests of the host's own logic (sandbox, descriptors, layouts) without an
engine in between: :class:`Probe` binds every function of the import table
and offers small helpers (``open``, ``mkdir``, ...) that return the errno and
any result. Engine-facing behaviour is tested with real guests elsewhere.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from wapc_cli.runtime.hostcalls import no_handler
from wapc_cli.runtime.session import WapcSession
from wapc_cli.runtime.wasi import WASI_TABLE, DirGrant, WasiHost, WasiOptions
from wapc_cli.runtime.wasi_streams import Output

FD_READ, FD_WRITE = 1 << 1, 1 << 6
O_CREAT, O_DIRECTORY, O_EXCL, O_TRUNC = 1, 2, 4, 8
FOLLOW = 1


class BytesMemory:
    """A guest memory that is a bytearray (lends no views)."""

    lends_views = False
    native_handle = None

    def __init__(self, size: int = 1 << 16) -> None:
        self.data = bytearray(size)

    def size(self) -> int:
        return len(self.data)

    def read(self, ptr: int, length: int) -> bytes:
        return bytes(self.data[ptr:ptr + length])

    def write(self, ptr: int, data: bytes) -> None:
        self.data[ptr:ptr + len(data)] = data


class Probe:
    """A WASI host over :class:`BytesMemory`, every function bound (module ``module``)."""

    SCRATCH = 0x8000  # where results are written; arguments go below it

    def __init__(self, dirs: Sequence[DirGrant | tuple[str, str]] = (), *,
                 module: str = "wasi_snapshot_preview1", output: Output | None = None,
                 stdin: bytes = b"", command: bool = True, **options: Any) -> None:
        self.session = WapcSession(no_handler)
        self.memory = BytesMemory()
        self.session.attach(self.memory)
        self.host = WasiHost(self.session, WasiOptions(dirs=tuple(dirs), **options),
                             output=output, stdin=stdin, command=command)
        wanted = [(m, n, e.sig) for (m, n), e in WASI_TABLE.items() if m == module]
        self.functions = {n: fn for (_, n), fn in self.host.functions(wanted).items()}
        self._next = 1024

    def call(self, name: str, *args: int) -> int:
        result = self.functions[name](*args)
        assert isinstance(result, int)
        return result

    def put(self, data: bytes) -> tuple[int, int]:
        """Copy ``data`` into memory (below SCRATCH); its pointer and length."""
        ptr = self._next
        self.memory.write(ptr, data)
        self._next += (len(data) + 7) & ~7
        assert self._next < self.SCRATCH, "probe argument space used up"
        return ptr, len(data)

    def u32(self, ptr: int = SCRATCH) -> int:
        return int(struct.unpack_from("<I", self.memory.data, ptr)[0])

    # -- helpers: each returns the errno, then any result -------------------------------
    def open(self, path: str, oflags: int = 0, rights: int = FD_READ, *, dirfd: int = 3,
             lookup: int = 0, fdflags: int = 0) -> tuple[int, int]:
        ptr, length = self.put(path.encode())
        errno = self.call("path_open", dirfd, lookup, ptr, length, oflags, rights, 0, fdflags,
                          self.SCRATCH)
        return errno, self.u32() if errno == 0 else -1

    def path_call(self, name: str, path: str, dirfd: int = 3) -> int:
        ptr, length = self.put(path.encode())
        return self.call(name, dirfd, ptr, length)

    def rename(self, old: str, new: str, dirfd: int = 3) -> int:
        old_ptr, old_len = self.put(old.encode())
        new_ptr, new_len = self.put(new.encode())
        return self.call("path_rename", dirfd, old_ptr, old_len, dirfd, new_ptr, new_len)

    def symlink(self, target: str, path: str, dirfd: int = 3) -> int:
        t_ptr, t_len = self.put(target.encode())
        p_ptr, p_len = self.put(path.encode())
        return self.call("path_symlink", t_ptr, t_len, dirfd, p_ptr, p_len)

    def link(self, old: str, new: str, dirfd: int = 3) -> int:
        old_ptr, old_len = self.put(old.encode())
        new_ptr, new_len = self.put(new.encode())
        return self.call("path_link", dirfd, 0, old_ptr, old_len, dirfd, new_ptr, new_len)

    def stat(self, path: str, lookup: int = 0, dirfd: int = 3) -> tuple[int, bytes]:
        ptr, length = self.put(path.encode())
        errno = self.call("path_filestat_get", dirfd, lookup, ptr, length, self.SCRATCH)
        return errno, bytes(self.memory.data[self.SCRATCH:self.SCRATCH + 64])

    def read(self, fd: int, size: int = 256) -> tuple[int, bytes]:
        buf = self.SCRATCH + 256
        iov, _ = self.put(struct.pack("<II", buf, size))
        errno = self.call("fd_read", fd, iov, 1, self.SCRATCH)
        return errno, bytes(self.memory.data[buf:buf + self.u32()]) if errno == 0 else b""

    def write(self, fd: int, data: bytes) -> tuple[int, int]:
        ptr, length = self.put(data)
        iov, _ = self.put(struct.pack("<II", ptr, length))
        errno = self.call("fd_write", fd, iov, 1, self.SCRATCH)
        return errno, self.u32() if errno == 0 else -1

    def close(self) -> None:
        self.host.close()
