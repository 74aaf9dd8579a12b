"""The benchmark's call counter, shared between child and parent in one memory page.

A per-call timeout cannot wait for a message per call (that would be a round
trip on the measured path), so the child bumps a counter in a shared page
before each guest call and writes 0 while no call is under way; the parent
polls the page and kills the child when one non-zero value stays longer than
the timeout.
"""

from __future__ import annotations

import mmap
import tempfile
from typing import IO


class BeatPage:
    """The parent's side: the page (backed by a temporary file the child maps too)."""

    def __init__(self) -> None:
        # Open for the child's whole run: close() ends it.
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._file.truncate(mmap.PAGESIZE)
        self._map = mmap.mmap(self._file.fileno(), mmap.PAGESIZE)
        self._slots: memoryview | None = memoryview(self._map).cast("Q")

    @property
    def fd(self) -> int:
        """The descriptor the child maps (its ``BEAT_FD`` argument)."""
        return self._file.fileno()

    def read(self) -> int:
        """The child's latest count; 0 while no guest call is under way."""
        return self._slots[0] if self._slots is not None else 0

    def close(self) -> None:
        if self._slots is not None:
            self._slots.release()
            self._slots = None
        self._map.close()
        self._file.close()


class BeatWriter:
    """The child's side, a ``runtime.measure.CallWatch``: tick before each call, idle between."""

    def __init__(self, fd: int | None) -> None:
        self._map = mmap.mmap(fd, mmap.PAGESIZE) if fd is not None else None
        self._slots = memoryview(self._map).cast("Q") if self._map is not None else None
        self._count = 0

    def tick(self) -> None:
        if self._slots is not None:
            self._count += 1
            self._slots[0] = self._count

    def idle(self) -> None:
        if self._slots is not None:
            self._slots[0] = 0
