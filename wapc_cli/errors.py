"""The exceptions wapc reports to its user, and the exit codes they map to.

::

    WapcError                      (exit code carried by each subclass)
    ├── UsageError            2    bad flag value, unreadable file, bad payload
    │   ├── InputFileError    2    a file the user named cannot be used
    │   │   └── StubTableError 2   (tools.stubs) a stub table or seed file is invalid
    │   ├── NotWasmError      2    the module file is not a WebAssembly binary
    │   └── EngineUnavailable 2    the engine asked for cannot load in this Python
    ├── GuestError            1    the guest reported an error (__guest_error / return 0)
    ├── GuestTrap             3    the guest trapped, or broke the ABI, during a call or init
    │   └── LimitExceeded     3    a timeout, fuel or max-memory limit was hit
    ├── NotAGuest             4    the module cannot be a waPC guest
    └── StubFailure           5    a stub table ended the run (default: fail, unmet times)

The core raises these; the CLI catches ``WapcError`` once and exits with
``exit_code``. Nothing else should escape to the user.

Other exceptions exist, outside this tree on purpose: they are signals inside
one layer, each turned into one of the above where it is caught, never
reported as they are. ``WasmParseError`` (wasm: malformed bytes, a
``ValueError`` the loader reports as ``NotWasmError``/``NotAGuest``);
``EngineTrap`` (engines: guest code trapped; the guest lifecycle makes it a
``GuestTrap``); ``GuestFault``, ``HostAbort`` and ``ProcExit`` (runtime:
raised inside an import to unwind the guest, then reported as a trap, the
error they carry, or an exit); ``HostCallError`` (runtime: a host-call
handler's way to fail one host call, which becomes the guest's error reply,
not an error of the run); ``SupervisorError`` (isolation: a bug of wapc in
the child process, deliberately not a ``WapcError``).

Every ``WapcError`` serialises itself: :meth:`WapcError.to_json` gives a
plain, JSON-safe dict and :meth:`WapcError.from_json` rebuilds the error from
it. The same dict crosses the supervised child's pipe and is the base of the
CLI's ``--json`` error object.
"""

from __future__ import annotations

import binascii  # base64's C core: the base64 module is a Python import on the call path
from collections.abc import Mapping
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NamedTuple


class ExitCode(IntEnum):
    OK = 0
    GUEST_ERROR = 1
    USAGE = 2
    TRAP = 3
    NOT_A_GUEST = 4
    STUB_FAILURE = 5
    #: ``wapc test``: every suite loaded and ran, and at least one case failed
    #: (a case's expectation was not met, or the case could not run). A bad
    #: suite file is USAGE (2) instead, so CI can tell "the guest regressed"
    #: from "the suite is broken".
    TESTS_FAILED = 6
    #: ``wapc compat``: the exchange ran under every host profile and engine, and
    #: they did not all give the same outcome (a bad flag or module is USAGE/4).
    HOSTS_DIVERGE = 7
    INTERNAL = 70


#: The one-word ``kind`` of an error, by exit code (``LimitExceeded`` says "limit").
_KIND_BY_EXIT_CODE = {
    ExitCode.GUEST_ERROR: "guest_error",
    ExitCode.TRAP: "trap",
    ExitCode.NOT_A_GUEST: "not_a_guest",
    ExitCode.STUB_FAILURE: "stub_failure",
}


class WapcError(Exception):
    exit_code: ExitCode = ExitCode.USAGE

    # The Python __init__s here set attributes and do not chain to
    # Exception.__init__: BaseException.__new__ has already kept the arguments in
    # ``args`` (GuestError, built once per failed call, has no Python __init__).
    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def kind(self) -> str:
        """What failed, in one word: guest_error, trap, limit, not_a_guest, stub_failure, usage."""
        return _KIND_BY_EXIT_CODE.get(self.exit_code, "usage")

    # -- serialisation ---------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """This error as a plain dict of JSON values, which :meth:`from_json` turns back.

        Keys: ``type`` (the class, see below), ``kind``, ``message`` (the bare
        message, not ``str(self)``), ``exit_code``, then the subclass's fields:
        ``guest_error``, ``frames`` (a list of :meth:`TrapFrame.to_json` dicts),
        ``phase`` for a trap; ``limit``,
        ``figure`` for a limit; ``raw_b64`` for a guest error. The guest's raw
        error bytes travel as base64 so that one form serves both the pipe
        (pickled) and JSON output; it is built once per run, so its cost does
        not matter. ``type`` names the nearest class defined in this module: a
        subclass from another layer (``StubTableError``) comes back as that
        ancestor, with its message and exit code.
        """
        data: dict[str, Any] = {
            "type": _nearest_known_type(type(self)).__name__, "kind": self.kind,
            "message": self.message, "exit_code": int(self.exit_code),
        }
        data.update(self._fields_json())
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WapcError:
        """The error :meth:`to_json` described, whichever class this is called on (an
        unknown ``type`` gives a ``WapcError`` with the recorded exit code)."""
        error_type = _TYPES_BY_NAME.get(str(data.get("type")), WapcError)
        if error_type is not cls:
            return error_type.from_json(data)
        error = cls._from_fields(str(data.get("message", "")), data)
        exit_code = ExitCode(int(data.get("exit_code", error.exit_code)))
        if exit_code != error.exit_code:
            error.exit_code = exit_code
        return error

    def _fields_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _from_fields(cls, message: str, data: Mapping[str, Any]) -> WapcError:
        return cls(message)


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
    # BaseException.__init__ building one costs what a plain Exception does, a
    # fraction of a Python __init__ setting two attributes: a failing guest call
    # builds one per exchange.
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

    def _fields_json(self) -> dict[str, Any]:
        return {"raw_b64": binascii.b2a_base64(self.raw, newline=False).decode("ascii")}

    @classmethod
    def _from_fields(cls, message: str, data: Mapping[str, Any]) -> WapcError:
        return cls(message, binascii.a2b_base64(str(data.get("raw_b64", ""))))


class TrapFrame(NamedTuple):
    """One frame of a trap's stack, innermost first: what the engine reported, and the
    source location its module's DWARF gives (``file``, ``line``, ``column``).

    ``module_offset`` is the byte offset in the module file (``None`` when the
    engine gave none); ``inlined`` marks a frame that DWARF says was inlined into
    the next one (it shares that frame's offset).
    """

    function: str
    module_offset: int | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    inlined: bool = False

    def __str__(self) -> str:
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            if self.line is not None and self.column:
                where += f":{self.column}"
            return f"{self.function} ({where})"
        if self.module_offset is not None:
            return f"{self.function} @ {self.module_offset:#x}"
        return self.function

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function, "module_offset": self.module_offset, "file": self.file,
            "line": self.line, "column": self.column, "inlined": self.inlined,
        }

    @classmethod
    def from_json(cls, data: object) -> TrapFrame:
        """A frame from :meth:`to_json`'s dict (or, as older output had it, its text)."""
        if not isinstance(data, Mapping):
            return cls(str(data))

        def number(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        file = data.get("file")
        return cls(
            str(data.get("function", "")), number("module_offset"),
            None if file is None else str(file), number("line"), number("column"),
            bool(data.get("inlined", False)),
        )


def as_frames(frames: object) -> tuple[TrapFrame, ...]:
    """``frames`` (frames, their texts or their JSON dicts) as a tuple of :class:`TrapFrame`."""
    if not isinstance(frames, list | tuple):
        return ()
    return tuple(f if isinstance(f, TrapFrame) else TrapFrame.from_json(f) for f in frames)


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
        frames: tuple[TrapFrame | str, ...] = (),
        phase: str = "call",
    ) -> None:
        self.message = message
        self.guest_error = guest_error
        self.frames = as_frames(frames)
        self.phase = phase

    def __str__(self) -> str:
        text = self.message
        if self.phase != "call":
            text = f"{text} (during {self.phase})"
        if self.guest_error is not None:
            text = f"{text}; guest error before the trap: {self.guest_error}"
        return text

    def _fields_json(self) -> dict[str, Any]:
        return {
            "guest_error": self.guest_error, "frames": [f.to_json() for f in self.frames],
            "phase": self.phase,
        }

    @staticmethod
    def _trap_fields(data: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of a trap, read back from :meth:`to_json`'s dict."""
        guest_error = data.get("guest_error")
        return {
            "guest_error": None if guest_error is None else str(guest_error),
            "frames": as_frames(data.get("frames", ())),
            "phase": str(data.get("phase", "call")),
        }

    @classmethod
    def _from_fields(cls, message: str, data: Mapping[str, Any]) -> WapcError:
        return cls(message, **cls._trap_fields(data))


class LimitExceeded(GuestTrap):
    """A resource limit stopped the guest."""

    def __init__(self, limit: str, figure: str, message: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.limit = limit
        self.figure = figure

    @property
    def kind(self) -> str:
        return "limit"

    def _fields_json(self) -> dict[str, Any]:
        return {**super()._fields_json(), "limit": self.limit, "figure": self.figure}

    @classmethod
    def _from_fields(cls, message: str, data: Mapping[str, Any]) -> WapcError:
        return cls(str(data.get("limit", "")), str(data.get("figure", "")), message,
                   **cls._trap_fields(data))


class NotAGuest(WapcError):
    exit_code = ExitCode.NOT_A_GUEST


class StubFailure(WapcError):
    exit_code = ExitCode.STUB_FAILURE


#: The classes :meth:`WapcError.from_json` can rebuild, by name.
_TYPES_BY_NAME: dict[str, type[WapcError]] = {
    cls.__name__: cls
    for cls in (WapcError, UsageError, InputFileError, NotWasmError, EngineUnavailable,
                GuestError, GuestTrap, LimitExceeded, NotAGuest, StubFailure)
}


def _nearest_known_type(error_type: type[WapcError]) -> type[WapcError]:
    for cls in error_type.__mro__:
        if _TYPES_BY_NAME.get(cls.__name__) is cls:
            return cls  # type: ignore[return-value]
    return WapcError
