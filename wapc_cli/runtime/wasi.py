"""A small WASI preview1 host, written in Python against guest memory.

Why our own rather than the engines' built-in WASI: the same behaviour on both
engines, ``wasi_unstable`` everywhere, guest stdout/stderr routed to our log
sink (never to the response on stdout), and a sandbox where nothing of the host
(files, environment, arguments) is visible unless the user grants it.

Functions a guest imports that we do not implement answer ``ENOSYS``.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from types import MethodType
from typing import NamedTuple

from ..engines.base import FuncSig, HostFn
from ..wasm.constants import U32_MASK, U64_MASK
from .session import WapcSession
from .wasi_errno import EBADF, ENOSYS, ESPIPE, ESUCCESS
from .wasi_fs import WasiFiles

_FILETYPE_CHARACTER_DEVICE = 2


class ProcExit(Exception):
    """The guest called ``proc_exit``; unwinds the guest like a trap does."""

    def __init__(self, code: int) -> None:
        super().__init__(f"proc_exit({code})")
        self.code = code


class WasiOptions(NamedTuple):
    """What of the host a WASI guest may see. Empty by default: nothing."""

    args: Sequence[str] = ()
    # One empty dict shared by every default: typed (and only ever used) as a
    # read-only Mapping. (A MappingProxyType would not pickle to a supervised child.)
    env: Mapping[str, str] = {}
    program_name: str = "guest.wasm"
    #: Read-only directory grants: (host path, path the guest sees).
    dirs: Sequence[tuple[str, str]] = ()


class WasiHost(WasiFiles):
    """The preview1 functions of one guest, over its session's checked memory.

    Only the functions named in :data:`WASI_TABLE` are ever handed to a guest.
    """

    def __init__(self, session: WapcSession, options: WasiOptions) -> None:
        super().__init__(session.checked, tuple(options.dirs))
        self.session = session
        # No arguments granted: an empty argv, not even a program name (it would
        # tell the guest a host path). Granted: the module's name, then them.
        self.argv = [options.program_name, *options.args] if options.args else []
        self.environ = [f"{k}={v}" for k, v in options.env.items()]
        self._pending: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}

    # -- helpers ---------------------------------------------------------------
    def _strings_sizes(self, items: list[str], count_ptr: int, size_ptr: int) -> int:
        encoded = [s.encode("utf-8") + b"\0" for s in items]
        self.memory.store_u32("sizes_get", count_ptr, len(encoded))
        self.memory.store_u32("sizes_get", size_ptr, sum(map(len, encoded)))
        return ESUCCESS

    def _strings_get(self, items: list[str], ptrs: int, buf: int) -> int:
        offset = buf & U32_MASK
        for index, item in enumerate(items):
            data = item.encode("utf-8") + b"\0"
            self.memory.store_u32("get", (ptrs & U32_MASK) + 4 * index, offset)
            self.memory.write("get", offset, data)
            offset += len(data)
        return ESUCCESS

    def _emit(self, fd: int, data: bytes) -> None:
        buffer = self._pending[fd]
        buffer.extend(data)
        while (newline := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:newline])
            del buffer[: newline + 1]
            self.session.log(line.decode("utf-8", "replace"), _STREAM[fd])

    def flush(self) -> None:
        """Emit any partial output line (at the end of an exchange or init step)."""
        for fd, buffer in self._pending.items():
            if buffer:
                self.session.log(bytes(buffer).decode("utf-8", "replace"), _STREAM[fd])
                buffer.clear()

    # -- preview1 functions ------------------------------------------------------
    def args_sizes_get(self, count_ptr: int, size_ptr: int) -> int:
        return self._strings_sizes(self.argv, count_ptr, size_ptr)

    def args_get(self, ptrs: int, buf: int) -> int:
        return self._strings_get(self.argv, ptrs, buf)

    def environ_sizes_get(self, count_ptr: int, size_ptr: int) -> int:
        return self._strings_sizes(self.environ, count_ptr, size_ptr)

    def environ_get(self, ptrs: int, buf: int) -> int:
        return self._strings_get(self.environ, ptrs, buf)

    def clock_res_get(self, clock_id: int, result_ptr: int) -> int:
        self.memory.store_u64("clock_res_get", result_ptr, 1000)
        return ESUCCESS

    def clock_time_get(self, clock_id: int, precision: int, result_ptr: int) -> int:
        now = time.time_ns() if clock_id == 0 else time.monotonic_ns()
        self.memory.store_u64("clock_time_get", result_ptr, now)
        return ESUCCESS

    def random_get(self, buf: int, length: int) -> int:
        _, length = self.memory.span("random_get", buf, length)
        self.memory.write("random_get", buf, os.urandom(length))
        return ESUCCESS

    def fd_write(self, fd: int, iovs: int, iovs_len: int, nwritten_ptr: int) -> int:
        if fd not in (1, 2):
            return EBADF
        iovs_len &= U32_MASK
        table = self.memory.read("fd_write (iovecs)", iovs, 8 * iovs_len)
        total = 0
        for index in range(iovs_len):
            ptr, length = struct.unpack_from("<II", table, 8 * index)
            self._emit(fd, self.memory.read("fd_write", ptr, length))
            total += length
        self.memory.store_u32("fd_write", nwritten_ptr, total)
        return ESUCCESS

    def reset(self) -> None:
        """Forget what a previous instance opened (called when one is built)."""
        self.reset_files()

    def fd_read(self, fd: int, iovs: int, iovs_len: int, nread_ptr: int) -> int:
        if fd != 0:
            return self.file_read(fd, iovs, iovs_len, nread_ptr)
        self.memory.store_u32("fd_read", nread_ptr, 0)  # stdin is empty
        return ESUCCESS

    def fd_close(self, fd: int) -> int:
        return ESUCCESS if fd in (0, 1, 2) else self.file_close(fd)

    def fd_fdstat_get(self, fd: int, stat_ptr: int) -> int:
        if fd not in (0, 1, 2):
            return self.file_fdstat_get(fd, stat_ptr)
        rights = U64_MASK  # every right
        stat = struct.pack("<BxHxxxxQQ", _FILETYPE_CHARACTER_DEVICE, 0, rights, rights)
        self.memory.write("fd_fdstat_get", stat_ptr, stat)
        return ESUCCESS

    def fd_seek(self, fd: int, offset: int, whence: int, result_ptr: int) -> int:
        if fd in (0, 1, 2):
            return ESPIPE
        return self.file_seek(fd, offset, whence, result_ptr)

    def fd_prestat_get(self, fd: int, prestat_ptr: int) -> int:
        # Only directory grants are preopened: without one the guest sees no file system.
        return self.prestat_get(fd, prestat_ptr)

    def fd_prestat_dir_name(self, fd: int, path_ptr: int, path_len: int) -> int:
        return self.prestat_dir_name(fd, path_ptr, path_len)

    def sched_yield(self) -> int:
        return ESUCCESS

    def proc_exit(self, code: int) -> None:
        self.flush()
        exit_ = ProcExit(code & U32_MASK)
        self.session.fault = exit_  # not every engine hands the exception back unchanged
        raise exit_

    def functions(
        self, wanted: Sequence[tuple[str, str, FuncSig]]
    ) -> dict[tuple[str, str], HostFn]:
        """Host functions for the WASI imports a module declares: the implemented
        ones bound to this host, any other one answering ENOSYS."""
        provided: dict[tuple[str, str], HostFn] = {}
        for module, name, sig in wanted:
            implementation = WASI_TABLE.get(name)
            provided[(module, name)] = (
                _enosys(sig) if implementation is None else MethodType(implementation, self)
            )
        return provided


_STREAM = {1: "wasi:stdout", 2: "wasi:stderr"}

#: Every preview1 function this host implements, by its import name: the only
#: methods a guest can reach (a new method becomes guest-callable only here).
WASI_TABLE: dict[str, Callable[..., int | None]] = {
    "args_get": WasiHost.args_get,
    "args_sizes_get": WasiHost.args_sizes_get,
    "clock_res_get": WasiHost.clock_res_get,
    "clock_time_get": WasiHost.clock_time_get,
    "environ_get": WasiHost.environ_get,
    "environ_sizes_get": WasiHost.environ_sizes_get,
    "fd_close": WasiHost.fd_close,
    "fd_fdstat_get": WasiHost.fd_fdstat_get,
    "fd_filestat_get": WasiHost.fd_filestat_get,
    "fd_prestat_dir_name": WasiHost.fd_prestat_dir_name,
    "fd_prestat_get": WasiHost.fd_prestat_get,
    "fd_read": WasiHost.fd_read,
    "fd_readdir": WasiHost.fd_readdir,
    "fd_seek": WasiHost.fd_seek,
    "fd_tell": WasiHost.fd_tell,
    "fd_write": WasiHost.fd_write,
    "path_filestat_get": WasiHost.path_filestat_get,
    "path_open": WasiHost.path_open,
    "proc_exit": WasiHost.proc_exit,
    "random_get": WasiHost.random_get,
    "sched_yield": WasiHost.sched_yield,
}
#: The names of the WASI functions implemented (any other one answers ENOSYS).
IMPLEMENTED_WASI_FUNCTIONS = frozenset(WASI_TABLE)


def _enosys(sig: FuncSig) -> HostFn:
    if sig.results:
        return lambda *args: ENOSYS
    return lambda *args: None
