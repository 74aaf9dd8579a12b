"""Where a waPC exchange's state lives: C members when the extension is built, else a dict.

:class:`~.session.WapcSession` derives from :data:`ExchangeState`. With
``native_exchange.c`` built (``pip install`` compiles it where a C compiler is
at hand), that is its C type: the state is held in C members that Python code
reads and writes as plain attributes, and the waPC imports' common case runs
in C on engines that take native host functions (wasmtime's C-API path). Without
it -- no compiler, or ``WAPC_NATIVE=0`` -- it is :class:`PythonExchangeState`:
the same fields in the instance dict and every import in Python, with the same
behaviour (tests/test_native_exchange.py compares the two).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from .hostcalls import HostCallHandler, HostCallRequest


class PythonExchangeState:
    """The exchange's fields as plain attributes; the native methods do nothing."""

    operation: bytes
    payload: bytes
    response: bytes | None
    error: bytes | None
    host_body: bytes | None
    host_fault: bytes | None
    host_calls: int
    warnings: tuple[str, ...]
    fault: BaseException | None
    deadline: float | None
    handler: HostCallHandler

    def native_prepare(self, trap_new: int, keep: Callable[[BaseException], None]) -> None:
        """(native only) The engine's trap constructor and exception keeper."""

    def native_memory(self, handle: tuple[int, int, int, int, object] | None) -> None:
        """(native only) The linear memory the native imports reach."""


#: The native imports' C functions by import name (empty without the extension).
NATIVE_CALLBACKS: dict[str, int] = {}

if TYPE_CHECKING:
    ExchangeState = PythonExchangeState
else:
    ExchangeState = PythonExchangeState
    if os.environ.get("WAPC_NATIVE", "1").strip() != "0":
        try:
            from . import native_exchange
        except ImportError:  # pragma: no cover - installed without a C compiler
            pass
        else:
            native_exchange.set_request_type(HostCallRequest)
            ExchangeState = native_exchange.ExchangeState
            NATIVE_CALLBACKS.update(native_exchange.callbacks())
