"""wapc: invoke, trace and verify waPC WebAssembly guests.

The public API; the ``wapc`` command line is a thin layer over it.
"""

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
from .runtime.wasi import WasiOptions

#: The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

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
