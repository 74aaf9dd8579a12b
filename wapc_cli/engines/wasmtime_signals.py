"""Keeping Python signal handlers from raising into C while wasmtime guest code runs.

wasmtime calls back into Python through ctypes (the fast path's host
functions, the epoch-deadline callback, wasmtime-py's own trampoline). Each of
them catches every exception, but CPython (3.11 and later) runs pending signal
handlers at a function's very first instruction, before its ``try``: a handler
that raises there (the default SIGINT handler raises ``KeyboardInterrupt``)
makes the exception escape the callback. ctypes then prints it as unraisable
and hands wasmtime whatever its return slot held -- a stale trap pointer, which
wasmtime frees a second time (the process aborts with "double free" or
"munmap_chunk(): invalid pointer").

So the handler of SIGINT is wrapped (:func:`guard_signal`, done with the first
store): when the signal lands in one of those callbacks (:func:`register`), the
wrapped handler is not run there but kept in :data:`DEFERRED`; the next epoch
deadline callback stops the guest, and :func:`deliver` runs the handler once
the call is back in Python, where its exception travels as usual. Anywhere else
the wrapped handler runs at once, unchanged. A ``sys.unraisablehook`` keeps
whatever still escapes a callback (e.g. from a handler installed later, not
wrapped) the same way, so it is raised rather than lost.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

#: What to run once the guest call is back in Python: deferred signal handlers,
#: or re-raising an exception that escaped a callback.
DEFERRED: list[Callable[[], None]] = []

#: The code of every callback (and of what it calls outside its ``try``).
_CALLBACK_CODES: set[CodeType] = set()
#: wasmtime-py's host-function trampoline, by module and name.
_WASMTIME_TRAMPOLINE = ("wasmtime._func", "trampoline")
_lock = threading.Lock()
_hook_installed = False


def register(*functions: Callable[..., Any]) -> None:
    """Count ``functions`` (and the functions defined inside them) as callbacks."""
    for function in functions:
        code = function.__code__
        _CALLBACK_CODES.add(code)
        _CALLBACK_CODES.update(c for c in code.co_consts if isinstance(c, CodeType))


def _is_callback(frame: FrameType) -> bool:
    code = frame.f_code
    if code in _CALLBACK_CODES:
        return True
    return (frame.f_globals.get("__name__"), code.co_name) == _WASMTIME_TRAMPOLINE


def in_callback(frame: FrameType | None) -> bool:
    """Whether ``frame`` (where a signal handler was about to run) runs inside a callback.

    Anywhere below one on the stack counts, not only its first instruction: an
    exception raised in what a callback calls from its ``except`` or
    ``finally`` would escape it too. (Deferring the handler of a signal that
    landed in a host function is harmless: the guest stops within a tick.)
    """
    while frame is not None:
        if _is_callback(frame):
            return True
        frame = frame.f_back
    return False


def deliver() -> None:
    """Run what was deferred (call when :data:`DEFERRED` is not empty); it may raise."""
    pending = DEFERRED[:]
    DEFERRED.clear()
    for action in pending:
        action()


class _Deferring:
    """A signal handler running ``handler`` at once, or later when it lands in a callback."""

    def __init__(self, handler: Callable[[int, FrameType | None], Any]) -> None:
        self.handler = handler

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if in_callback(frame):
            DEFERRED.append(lambda: self.handler(signum, None))
            return
        self.handler(signum, frame)


def guard_signal(signum: int = signal.SIGINT) -> None:
    """Wrap the Python handler of ``signum`` so that it never raises inside a callback.

    Call again after installing a new handler. Does nothing off the main thread
    (only it may set handlers) or when the handler is not a Python callable.
    """
    install_unraisable_hook()
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signum)
    if callable(current) and not isinstance(current, _Deferring):
        signal.signal(signum, _Deferring(current))


def install_unraisable_hook() -> None:
    """Chain a ``sys.unraisablehook`` that keeps exceptions escaping a callback (once)."""
    global _hook_installed
    with _lock:
        if _hook_installed:
            return
        previous = sys.unraisablehook

        def keep_escapes(unraisable: Any) -> None:
            code = getattr(unraisable.object, "__code__", None)
            exc = unraisable.exc_value
            name = getattr(unraisable.object, "__module__", None), getattr(code, "co_name", None)
            if exc is not None and (code in _CALLBACK_CODES or name == _WASMTIME_TRAMPOLINE):
                DEFERRED.append(_raiser(exc))
            else:
                previous(unraisable)

        sys.unraisablehook = keep_escapes
        _hook_installed = True


def _raiser(exc: BaseException) -> Callable[[], None]:
    def reraise() -> None:
        raise exc

    return reraise
