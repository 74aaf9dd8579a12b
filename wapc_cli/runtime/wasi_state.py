"""What every WASI function works on: guest memory, the descriptor table, the streams

Also the helpers they share to read what a guest hands over, each bounded:
iovec lists (:data:`MAX_IOVECS` entries, :data:`MAX_IO` bytes in one call),
paths (:data:`~wapc_cli.runtime.wasi_sandbox.MAX_PATH` bytes, UTF-8, no NUL).
"""

from __future__ import annotations

import os
from typing import Protocol

from .memory import CheckedMemory
from .wasi_errno import EINVAL, ENAMETOOLONG, Errno
from .wasi_fd import DescriptorTable, filetype_of
from .wasi_sandbox import MAX_PATH
from .wasi_streams import Output, Stdin
from .wasi_types import FILESTAT, IOVEC, UNSTABLE_FILESTAT, u32, u64

#: The most iovecs one call may pass (POSIX's IOV_MAX).
MAX_IOVECS = 1024
#: The most bytes one read or write moves (a guest asking for more gets a short count).
MAX_IO = 16 * 1024 * 1024


class Exchange(Protocol):
    """The session the WASI host belongs to: its fault slot and its time budget."""

    fault: BaseException | None
    deadline: float | None


class WasiState:
    """One guest's WASI state: ``memory`` (checked), ``fds``, the streams, argv and environ."""

    def __init__(
        self, memory: CheckedMemory, exchange: Exchange, fds: DescriptorTable,
        output: Output, stdin: Stdin, argv: list[str], environ: list[str],
    ) -> None:
        self.memory = memory
        self.exchange = exchange
        self.fds = fds
        self.output = output
        self.stdin = stdin
        self.argv = argv
        self.environ = environ

    # -- reading what the guest hands over -----------------------------------------
    def iovecs(self, what: str, iovs: int, count: int) -> list[tuple[int, int]]:
        """The (ptr, length) spans of an iovec list, each checked against memory.

        Lengths past :data:`MAX_IO` in total are cut (a short read or write, as
        POSIX allows); more than :data:`MAX_IOVECS` entries is EINVAL.
        """
        count = u32(count)
        if count > MAX_IOVECS:
            raise Errno(EINVAL)
        table = self.memory.read(f"{what} (iovecs)", iovs, IOVEC.size * count)
        spans = []
        budget = MAX_IO
        for index in range(count):
            ptr, length = IOVEC.unpack_from(table, IOVEC.size * index)
            self.memory.span(what, ptr, length)
            length = min(length, budget)
            budget -= length
            spans.append((ptr, length))
        return spans

    def gather(self, what: str, iovs: int, count: int) -> bytes:
        """The bytes an fd_write-like call writes, all its iovecs joined."""
        return b"".join(
            self.memory.read(what, ptr, length) for ptr, length in self.iovecs(what, iovs, count)
        )

    def scatter(self, what: str, spans: list[tuple[int, int]], data: bytes) -> int:
        """Spread ``data`` over ``spans`` (from :meth:`iovecs`); how many bytes were placed."""
        offset = 0
        for ptr, length in spans:
            if offset >= len(data):
                break
            chunk = data[offset:offset + length]
            self.memory.write(what, ptr, chunk)
            offset += len(chunk)
        return offset

    def path(self, what: str, ptr: int, length: int) -> str:
        """A path argument as text (ENAMETOOLONG, EINVAL for NUL or bad UTF-8)."""
        if u32(length) > MAX_PATH:
            raise Errno(ENAMETOOLONG)
        raw = self.memory.read(what, ptr, length)
        if b"\0" in raw:
            raise Errno(EINVAL)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Errno(EINVAL) from None

    # -- writing records -----------------------------------------------------------
    def store_filestat(self, what: str, ptr: int, info: os.stat_result | None,
                       filetype: int | None = None, unstable: bool = False) -> None:
        """A filestat record for ``info`` (None: a stream, all zero but its type)."""
        if info is None:
            fields = (0, 0, filetype or 0, 0, 0, 0, 0, 0)
        else:
            fields = (
                u64(info.st_dev), u64(info.st_ino),
                filetype if filetype is not None else filetype_of(info.st_mode),
                info.st_nlink, u64(info.st_size), u64(info.st_atime_ns),
                u64(info.st_mtime_ns), u64(info.st_ctime_ns),
            )
        if unstable:
            record = UNSTABLE_FILESTAT.pack(*fields[:3], u32(fields[3]), *fields[4:])
        else:
            record = FILESTAT.pack(*fields)
        self.memory.write(what, ptr, record)
