"""Typed trace events: one frozen dataclass per ABI step.

The core emits them to a sink (any callable) only when tracing is on; renderers
(the Rich timeline, JSON lines) are sinks. ``t_ns`` is the time since the
exchange (or init) started, ``duration_ns`` how long the step took.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import TrapFrame


@dataclass(frozen=True, slots=True)
class Event:
    name: ClassVar[str] = "event"
    t_ns: int
    duration_ns: int
    #: Where a host profile departs from the spec at this step, in one line naming
    #: the host (wapc_cli.runtime.profile_rules); None under the default profile.
    deviation: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class InitStep(Event):
    """One init step: the start section, ``_start``, ``_initialize`` or ``wapc_init``."""

    name: ClassVar[str] = "init"
    step: str = ""
    outcome: str = "ok"  # "ok" | "exit(0)" | "trap"


@dataclass(frozen=True, slots=True)
class GuestCall(Event):
    name: ClassVar[str] = "guest_call"
    operation: str = ""
    op_len: int = 0
    payload_len: int = 0
    memory_bytes: int | None = None  # the guest's linear memory size as the call starts


@dataclass(frozen=True, slots=True)
class GuestRequest(Event):
    name: ClassVar[str] = "guest_request"
    op_ptr: int = 0
    ptr: int = 0
    op_len: int = 0
    payload_len: int = 0


@dataclass(frozen=True, slots=True)
class HostCall(Event):
    name: ClassVar[str] = "host_call"
    binding: str = ""
    namespace: str = ""
    operation: str = ""
    payload: bytes = b""
    result: int = 0  # what __host_call returned to the guest: 1 ok, 0 failed
    response: bytes = b""
    error: str | None = None
    stub: str | None = None  # which stub rule answered, when a stub table did


@dataclass(frozen=True, slots=True)
class HostResponseLen(Event):
    name: ClassVar[str] = "host_response_len"
    value: int = 0


@dataclass(frozen=True, slots=True)
class HostResponse(Event):
    name: ClassVar[str] = "host_response"
    ptr: int = 0
    length: int = 0


@dataclass(frozen=True, slots=True)
class HostErrorLen(Event):
    name: ClassVar[str] = "host_error_len"
    value: int = 0


@dataclass(frozen=True, slots=True)
class HostError(Event):
    name: ClassVar[str] = "host_error"
    ptr: int = 0
    length: int = 0


@dataclass(frozen=True, slots=True)
class ConsoleLog(Event):
    name: ClassVar[str] = "console_log"
    message: str = ""
    source: str = "wapc"  # "wapc" | "env" (Zig SDK) | "wasi:stdout" | "wasi:stderr"


@dataclass(frozen=True, slots=True)
class GuestResponse(Event):
    name: ClassVar[str] = "guest_response"
    ptr: int = 0
    length: int = 0
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class GuestErrorSet(Event):
    name: ClassVar[str] = "guest_error"
    ptr: int = 0
    length: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class Return(Event):
    name: ClassVar[str] = "return"
    value: int | None = None
    outcome: str = "ok"  # "ok" | "error" | "trap"
    message: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    frames: tuple[TrapFrame, ...] = ()  # a trap's frames, with source lines where known
    memory_bytes: int | None = None  # the guest's linear memory size as the call ended


