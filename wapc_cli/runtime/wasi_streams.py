"""A WASI guest's stdin, stdout and stderr: where the bytes come from and go

A waPC guest's output goes to the session log, one line per ``[guest stdout]``
/ ``[guest stderr]`` message (and a ``console_log`` trace event, source
``wasi:stdout`` / ``wasi:stderr``); a line that never ends is cut into
:data:`MAX_LINE` pieces, so a guest writing without a newline cannot grow host
memory. A command's output goes to two byte sinks unchanged (:class:`RawOutput`);
a sink that cannot take the bytes within the exchange's time budget
(:func:`~.budget.deadline`: a full pipe nobody reads) raises
:class:`~.budget.OutOfTime`, which ends the run with the timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

from .budget import OutOfTime

#: The longest partial line kept before it is logged anyway.
MAX_LINE = 64 * 1024

#: What a command's stdin reads: all of it as bytes, or a ``read(n)`` callable (b"" at the end).
StdinSource = bytes | Callable[[int], bytes]

LOG_SOURCES = {1: "wasi:stdout", 2: "wasi:stderr"}


class Output(Protocol):
    """Where fd 1 and fd 2 go."""

    def write(self, fd: int, data: bytes) -> None: ...

    def flush(self) -> None: ...


class FaultSlot(Protocol):
    """Where the exchange keeps what ended the guest (a ``WapcSession``)."""

    fault: BaseException | None


class RawOutput(NamedTuple):
    """Where a command's stdout and stderr go: raw bytes, as the guest writes them.

    ``exchange`` gets a sink's :class:`~.budget.OutOfTime` as its fault (not every
    engine hands an exception raised in an import back unchanged).
    """

    stdout: Callable[[bytes], None]
    stderr: Callable[[bytes], None]
    exchange: FaultSlot | None = None

    def write(self, fd: int, data: bytes) -> None:
        if data:
            try:
                (self.stdout if fd == 1 else self.stderr)(data)
            except OutOfTime as exc:
                if self.exchange is not None:
                    self.exchange.fault = exc
                raise

    def flush(self) -> None:
        """Nothing is held back."""


class LogOutput:
    """Guest output as log lines (``log(text, source)``), partial lines bounded."""

    def __init__(self, log: Callable[[str, str], None]) -> None:
        self.log = log
        self._pending: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}

    def write(self, fd: int, data: bytes) -> None:
        buffer = self._pending[fd]
        buffer.extend(data)
        start = 0
        while (newline := buffer.find(b"\n", start)) >= 0:
            self._emit(fd, bytes(buffer[start:newline]))
            start = newline + 1
        while len(buffer) - start >= MAX_LINE:
            self._emit(fd, bytes(buffer[start:start + MAX_LINE]))
            start += MAX_LINE
        del buffer[:start]

    @property
    def held(self) -> int:
        """Bytes of partial lines held back (less than :data:`MAX_LINE` per stream)."""
        return sum(map(len, self._pending.values()))

    def flush(self) -> None:
        """Log any partial line (at the end of an exchange or an init step)."""
        for fd, buffer in self._pending.items():
            if buffer:
                self._emit(fd, bytes(buffer))
                buffer.clear()

    def _emit(self, fd: int, line: bytes) -> None:
        self.log(line.decode("utf-8", "replace"), LOG_SOURCES[fd])


class Stdin:
    """A guest's stdin: bounded reads from bytes or from a ``read(n)`` callable."""

    def __init__(self, source: StdinSource) -> None:
        self._reader = source if callable(source) else None
        self._data = b"" if callable(source) else bytes(source)
        self._offset = 0

    def read(self, limit: int) -> bytes:
        if self._reader is not None:
            return bytes(self._reader(limit))[:limit]
        chunk = self._data[self._offset:self._offset + limit]
        self._offset += len(chunk)
        return chunk

    def available(self) -> int:
        """Bytes ready without blocking (1 for a reader: it may block, but is "ready")."""
        if self._reader is not None:
            return 1
        return len(self._data) - self._offset
