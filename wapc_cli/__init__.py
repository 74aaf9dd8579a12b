"""wapc: invoke, trace and verify waPC WebAssembly guests.

The public API; the ``wapc`` command line is a thin layer over it.

Each name loads on first use (PEP 562): importing any part of the package (the
console script does, for every command) would otherwise load the whole runtime
and WASI host first, which a one-shot command mostly does not need.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engines.base import Limits
    from .errors import (
        EngineUnavailable,
        ExitCode,
        GuestError,
        GuestTrap,
        InputFileError,
        LimitExceeded,
        NotAGuest,
        NotWasmError,
        StubFailure,
        UsageError,
        WapcError,
    )
    from .runtime.guest import Guest, Timings, WapcModule, call_once, load_module
    from .runtime.hostcalls import HostCallError, HostCallHandler, HostCallRequest, HostReply
    from .runtime.wasi_options import WasiOptions

#: The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

#: Where each public name is defined, relative to this package.
_SOURCES = {
    ".engines.base": ("Limits",),
    ".errors": (
        "EngineUnavailable", "ExitCode", "GuestError", "GuestTrap", "InputFileError",
        "LimitExceeded", "NotAGuest", "NotWasmError", "StubFailure", "UsageError", "WapcError",
    ),
    ".runtime.guest": ("Guest", "Timings", "WapcModule", "call_once", "load_module"),
    ".runtime.hostcalls": ("HostCallError", "HostCallHandler", "HostCallRequest", "HostReply"),
    ".runtime.wasi_options": ("WasiOptions",),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    "EngineUnavailable",
    "ExitCode",
    "Guest",
    "GuestError",
    "GuestTrap",
    "HostCallError",
    "HostCallHandler",
    "HostCallRequest",
    "HostReply",
    "InputFileError",
    "LimitExceeded",
    "Limits",
    "NotAGuest",
    "NotWasmError",
    "StubFailure",
    "Timings",
    "UsageError",
    "WapcError",
    "WapcModule",
    "WasiOptions",
    "__version__",
    "call_once",
    "load_module",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
