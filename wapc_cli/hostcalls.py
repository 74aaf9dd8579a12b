"""How host calls are answered: the request, the reply, the handler type.

A handler is any callable taking a :class:`HostCallRequest`. It returns the
response bytes (success), a :class:`HostReply` (full control, e.g. a failure
with a body, or naming the stub rule that answered), or raises
:class:`HostCallError` (a failed host call: ``__host_call`` returns 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HostCallRequest:
    binding: str
    namespace: str
    operation: str
    payload: bytes

    @property
    def key(self) -> str:
        return f"{self.binding}:{self.namespace}:{self.operation}"


@dataclass(frozen=True, slots=True)
class HostReply:
    body: bytes = b""
    error: str | None = None  # None: success; text: a failed host call
    source: str | None = None  # what answered (a stub rule), for the trace

    @property
    def ok(self) -> bool:
        return self.error is None


class HostCallError(Exception):
    """Raise from a handler to fail a host call (optionally with a body, as Tarmac does)."""

    def __init__(self, message: str, body: bytes = b"") -> None:
        super().__init__(message)
        self.message = message
        self.body = body


HostCallHandler = Callable[[HostCallRequest], "bytes | HostReply"]


def no_handler(request: HostCallRequest) -> HostReply:
    """The default: every host call fails with an error naming what was asked."""
    return HostReply(error=f"no host call handler for {request.key}")
