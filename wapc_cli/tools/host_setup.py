"""How one run answers host calls: a handler, what to check once it is over, a description.

A plain class, not a dataclass: it is on the one-shot ``wapc call`` path, which
does not import :mod:`dataclasses` (see the note in ``engines/base.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..runtime.hostcalls import HostCallHandler, no_handler

if TYPE_CHECKING:
    from ..runtime.session import EventSink, LogSink


def _nothing() -> None:
    pass


class HostSetup:
    """The host-call handler for a run, and what to do once the run is over."""

    def __init__(
        self,
        handler: HostCallHandler = no_handler,
        finish: Callable[[], None] = _nothing,
        describe: str = "no host calls answered",
    ) -> None:
        self.handler = handler
        self.finish = finish
        self.describe = describe
        #: The built-in host answering (``tarmac``, ``kubewarden``), or None.
        self.preset_name: str | None = None

    def with_handler(self, handler: HostCallHandler) -> HostSetup:
        """A copy (of the same class, with all its parts) answering with ``handler``."""
        import copy  # not at the top: only trace needs it, and the call path does not

        other = copy.copy(self)
        other.handler = handler
        return other

    def attach(self, tracer: EventSink | None, on_log: LogSink | None) -> None:
        """Where host code that runs guests itself (Tarmac's function calls) sends
        their trace events and log lines: the run's own sinks (nothing here)."""

    def preset_state(self) -> dict[str, Any] | None:
        """The built-in host's state at the end of the run (none here)."""
        return None

    def close(self) -> None:
        """Release what the host holds (backend connections); after preset_state()."""
