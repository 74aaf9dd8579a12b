"""What a guest's calls leave behind besides their results: phase timings, the latest record."""

from __future__ import annotations

from typing import NamedTuple


class Timings:
    """Milliseconds spent in each phase (``call``: the latest :meth:`Guest.call_timed`).

    A plain class, not a dataclass: see the note in ``engines/base.py``.
    """

    __slots__ = ("call_ms", "compile_ms", "init_ms", "instantiate_ms")

    def __init__(
        self, compile_ms: float = 0.0, instantiate_ms: float = 0.0, init_ms: float = 0.0,
        call_ms: float = 0.0,
    ) -> None:
        self.compile_ms = compile_ms
        self.instantiate_ms = instantiate_ms
        self.init_ms = init_ms
        self.call_ms = call_ms

    def __repr__(self) -> str:
        return (
            f"Timings(compile_ms={self.compile_ms!r}, instantiate_ms={self.instantiate_ms!r}, "
            f"init_ms={self.init_ms!r}, call_ms={self.call_ms!r})"
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "compile": round(self.compile_ms, 3),
            "instantiate": round(self.instantiate_ms, 3),
            "init": round(self.init_ms, 3),
            "call": round(self.call_ms, 3),
        }


class CallRecord(NamedTuple):
    """What the latest call left behind besides its result."""

    warnings: tuple[str, ...] = ()
    host_calls: int = 0
