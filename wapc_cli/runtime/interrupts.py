"""Stopping a run on the user's request (Ctrl-C): one request reaches whatever runs a guest.

A ``KeyboardInterrupt`` raised by a signal handler at an arbitrary point is
not safe while an engine runs guest code: the handler may run inside a C
callback (a host function, wasmtime's deadline callback), where an exception
has nowhere to go. So the CLI's SIGINT handler raises nothing while a guest
may be running; it calls :func:`request`, which asks everything registered
here to stop:

- every live :class:`~wapc_cli.runtime.guest.Guest` (its engine interrupts
  the running call, which then ends with ``KeyboardInterrupt``; a call not
  yet started raises it before it starts),
- every supervised child process (killed; the supervisor then raises
  ``KeyboardInterrupt``).

Host code that waits inside a guest call (a stub's delay, an ``exec:`` reply)
looks at :func:`requested` while it waits (:mod:`.budget`). The request stays
until :func:`clear` (the CLI clears it when its run ends).
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Protocol


class Stoppable(Protocol):
    """Something that runs guest code and can be told to stop (from a signal handler)."""

    def stop_running(self) -> None:
        """Stop as soon as possible; must not raise, block or allocate much."""


class _State:
    __slots__ = ("requested",)

    def __init__(self) -> None:
        self.requested = False


_STATE = _State()
_WATCHED: weakref.WeakSet[Stoppable] = weakref.WeakSet()


def watch(runner: Stoppable) -> None:
    """Stop ``runner`` on the next :func:`request` (held weakly: no need to unwatch)."""
    _WATCHED.add(runner)


def unwatch(runner: Stoppable) -> None:
    _WATCHED.discard(runner)


def busy() -> bool:
    """Whether anything that runs guest code is alive (a request would reach it)."""
    return len(_WATCHED) > 0


def request() -> None:
    """Ask every watched runner to stop; safe from a signal handler (never raises)."""
    _STATE.requested = True
    for runner in tuple(_WATCHED):
        with contextlib.suppress(Exception):
            runner.stop_running()


def requested() -> bool:
    """Whether a stop was requested (and not yet cleared)."""
    return _STATE.requested


def check() -> None:
    """Raise ``KeyboardInterrupt`` when a stop was requested."""
    if _STATE.requested:
        raise KeyboardInterrupt


def clear() -> None:
    """Forget a request (the run it was meant for is over)."""
    _STATE.requested = False
