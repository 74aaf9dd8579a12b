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
from typing import NamedTuple

from ..engines.base import FuncSig
from .session import WapcSession
from .wasi_fs import WasiFiles

ESUCCESS = 0
EBADF = 8
EINVAL = 28
ENOSYS = 52
ESPIPE = 70

_U32 = 0xFFFFFFFF
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
    def __init__(self, session: WapcSession, options: WasiOptions) -> None:
        self.session = session
        self._init_files(tuple(options.dirs))
        # No arguments granted: an empty argv, not even a program name (it would
        # tell the guest a host path). Granted: the module's name, then them.
        self.argv = [options.program_name, *options.args] if options.args else []
        self.environ = [f"{k}={v}" for k, v in options.env.items()]
        self._pending: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}

    # -- helpers ---------------------------------------------------------------
    def _store_u32(self, what: str, ptr: int, value: int) -> None:
        self.session._write(what, ptr, struct.pack("<I", value & _U32))

    def _store_u64(self, what: str, ptr: int, value: int) -> None:
        self.session._write(what, ptr, struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF))

    def _strings_sizes(self, items: list[str], count_ptr: int, size_ptr: int) -> int:
        encoded = [s.encode("utf-8") + b"\0" for s in items]
        self._store_u32("sizes_get", count_ptr, len(encoded))
        self._store_u32("sizes_get", size_ptr, sum(map(len, encoded)))
        return ESUCCESS

    def _strings_get(self, items: list[str], ptrs: int, buf: int) -> int:
        offset = buf & _U32
        for index, item in enumerate(items):
            data = item.encode("utf-8") + b"\0"
            self._store_u32("get", (ptrs & _U32) + 4 * index, offset)
            self.session._write("get", offset, data)
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
        self._store_u64("clock_res_get", result_ptr, 1000)
        return ESUCCESS

    def clock_time_get(self, clock_id: int, precision: int, result_ptr: int) -> int:
        now = time.time_ns() if clock_id == 0 else time.monotonic_ns()
        self._store_u64("clock_time_get", result_ptr, now)
        return ESUCCESS

    def random_get(self, buf: int, length: int) -> int:
        _, length = self.session._span("random_get", buf, length)
        self.session._write("random_get", buf, os.urandom(length))
        return ESUCCESS

    def fd_write(self, fd: int, iovs: int, iovs_len: int, nwritten_ptr: int) -> int:
        if fd not in (1, 2):
            return EBADF
        iovs_len &= _U32
        table = self.session._read("fd_write (iovecs)", iovs, 8 * iovs_len)
        total = 0
        for index in range(iovs_len):
            ptr, length = struct.unpack_from("<II", table, 8 * index)
            self._emit(fd, self.session._read("fd_write", ptr, length))
            total += length
        self._store_u32("fd_write", nwritten_ptr, total)
        return ESUCCESS

    def reset(self) -> None:
        """Forget what a previous instance opened (called when one is built)."""
        self.reset_files()

    def fd_read(self, fd: int, iovs: int, iovs_len: int, nread_ptr: int) -> int:
        if fd != 0:
            return self._files_read(fd, iovs, iovs_len, nread_ptr)
        self._store_u32("fd_read", nread_ptr, 0)  # stdin is empty
        return ESUCCESS

    def fd_close(self, fd: int) -> int:
        return ESUCCESS if fd in (0, 1, 2) else self._files_close(fd)

    def fd_fdstat_get(self, fd: int, stat_ptr: int) -> int:
        if fd not in (0, 1, 2):
            return self._files_fdstat_get(fd, stat_ptr)
        rights = 0xFFFFFFFFFFFFFFFF
        stat = struct.pack("<BxHxxxxQQ", _FILETYPE_CHARACTER_DEVICE, 0, rights, rights)
        self.session._write("fd_fdstat_get", stat_ptr, stat)
        return ESUCCESS

    def fd_seek(self, fd: int, offset: int, whence: int, result_ptr: int) -> int:
        if fd in (0, 1, 2):
            return ESPIPE
        return self._files_seek(fd, offset, whence, result_ptr)

    def fd_prestat_get(self, fd: int, prestat_ptr: int) -> int:
        # Only --dir grants are preopened: without one the guest sees no file system.
        return self._files_prestat_get(fd, prestat_ptr)

    def fd_prestat_dir_name(self, fd: int, path_ptr: int, path_len: int) -> int:
        return self._files_prestat_dir_name(fd, path_ptr, path_len)

    def sched_yield(self) -> int:
        return ESUCCESS

    def proc_exit(self, code: int) -> None:
        self.flush()
        exit_ = ProcExit(code & _U32)
        self.session.fault = exit_  # not every engine hands the exception back unchanged
        raise exit_

    def functions(
        self, wanted: Sequence[tuple[str, str, FuncSig]]
    ) -> dict[tuple[str, str], Callable[..., int | None]]:
        """Host functions for the WASI imports a module declares."""
        provided: dict[tuple[str, str], Callable[..., int | None]] = {}
        for module, name, sig in wanted:
            implementation = getattr(self, name, None) if name in _IMPLEMENTED else None
            provided[(module, name)] = implementation or _enosys(sig)
        return provided


_STREAM = {1: "wasi:stdout", 2: "wasi:stderr"}
_IMPLEMENTED = frozenset(
    name
    for name in (*vars(WasiHost), *vars(WasiFiles))
    if not name.startswith("_") and name not in ("flush", "functions", "reset", "reset_files")
)


def _enosys(sig: FuncSig) -> Callable[..., int | None]:
    if sig.results:
        return lambda *args: ENOSYS
    return lambda *args: None
