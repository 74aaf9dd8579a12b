"""The one exception tree of wapc, and the exit codes it maps to.

::

    WapcError                      (exit code carried by each subclass)
    ├── UsageError            2    bad flag value, unreadable file, bad payload
    │   ├── InputFileError    2    a file the user named cannot be used
    │   ├── NotWasmError      2    the module file is not a WebAssembly binary
    │   └── EngineUnavailable 2    the engine asked for cannot load in this Python
    ├── GuestError            1    the guest reported an error (__guest_error / return 0)
    ├── GuestTrap             3    the guest trapped, or broke the ABI, during a call or init
    │   └── LimitExceeded     3    a --timeout / --fuel / --max-memory limit was hit
    ├── NotAGuest             4    the module cannot be a waPC guest
    └── StubFailure           5    a stub table ended the run (default: fail, unmet times)

The core raises these; the CLI catches ``WapcError`` once and exits with
``exit_code``. Nothing else should escape to the user.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING


class ExitCode(IntEnum):
    OK = 0
    GUEST_ERROR = 1
    USAGE = 2
    TRAP = 3
    NOT_A_GUEST = 4
    STUB_FAILURE = 5
    INTERNAL = 70


class WapcError(Exception):
    exit_code: ExitCode = ExitCode.USAGE

    # The Python __init__s here set attributes and do not chain to
    # Exception.__init__: BaseException.__new__ has already kept the arguments in
    # ``args`` (GuestError, built once per failed call, has no Python __init__).
    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(WapcError):
    exit_code = ExitCode.USAGE


class InputFileError(UsageError):
    """A file named by the user is missing, unreadable or malformed."""


class NotWasmError(UsageError):
    """The module file is not a (valid) WebAssembly binary."""


class EngineUnavailable(UsageError):
    """The requested engine cannot be loaded by this Python."""


class GuestError(WapcError):
    """The guest answered with an error (``__guest_error`` and/or returned 0)."""

    exit_code = ExitCode.GUEST_ERROR

    # GuestError(message, raw=b""): the fields live in ``args`` only. With C's
    # BaseException.__init__ and no instance __dict__, building one costs what a
    # plain Exception does (~0.09 µs, against ~0.35 µs with a Python __init__
    # setting two attributes): a failing guest call builds one per exchange.
    if TYPE_CHECKING:

        def __init__(self, message: str, raw: bytes = b"") -> None: ...

    else:
        __init__ = Exception.__init__

    @property
    def message(self) -> str:  # type: ignore[override]
        return self.args[0] if self.args else ""

    @property
    def raw(self) -> bytes:
        """The guest's error bytes as it wrote them (``message`` is them decoded)."""
        return self.args[1] if len(self.args) > 1 else b""


class GuestTrap(WapcError):
    """The guest trapped or broke the ABI; the instance is no longer usable.

    ``guest_error`` holds the text the guest set with ``__guest_error`` before it
    trapped, when it did (both are worth showing: the error often says why).
    """

    exit_code = ExitCode.TRAP

    def __init__(
        self,
        message: str,
        *,
        guest_error: str | None = None,
        frames: tuple[str, ...] = (),
        phase: str = "call",
    ) -> None:
        self.message = message
        self.guest_error = guest_error
        self.frames = frames
        self.phase = phase

    def __str__(self) -> str:
        text = self.message
        if self.phase != "call":
            text = f"{text} (during {self.phase})"
        if self.guest_error is not None:
            text = f"{text}; guest error before the trap: {self.guest_error}"
        return text


class LimitExceeded(GuestTrap):
    """A resource limit stopped the guest."""

    def __init__(self, limit: str, figure: str, message: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.limit = limit
        self.figure = figure


class NotAGuest(WapcError):
    exit_code = ExitCode.NOT_A_GUEST


class StubFailure(WapcError):
    exit_code = ExitCode.STUB_FAILURE
