"""How host calls are answered: the request, the reply, the handler type.

A handler is any callable taking a :class:`HostCallRequest`. It returns the
response bytes (success), a :class:`HostReply` (full control, e.g. a failure
with a body, or naming the stub rule that answered), or raises
:class:`HostCallError` (a failed host call: ``__host_call`` returns 0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Plain slotted classes, not frozen dataclasses: one of each is built per host
# call, and a frozen dataclass's __init__ (object.__setattr__ per field) costs
# noticeably more per call. Treat instances as read-only values; equality, hashing and repr
# are by field, as a dataclass's would be.


class _Record:
    """Equality, hashing, repr and pickling by the fields in ``__match_args__``."""

    __slots__ = ()
    __match_args__: tuple[str, ...] = ()

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._fields())


class HostCallRequest(_Record):
    """One ``__host_call`` as the guest made it."""

    __slots__ = ("binding", "namespace", "operation", "payload")
    __match_args__ = ("binding", "namespace", "operation", "payload")

    def __init__(self, binding: str, namespace: str, operation: str, payload: bytes) -> None:
        self.binding = binding
        self.namespace = namespace
        self.operation = operation
        self.payload = payload

    @property
    def key(self) -> str:
        return f"{self.binding}:{self.namespace}:{self.operation}"


class HostReply(_Record):
    """A handler's full answer: a body, and an error text when the host call failed."""

    __slots__ = ("body", "error", "source")
    __match_args__ = ("body", "error", "source")

    def __init__(
        self, body: bytes = b"", error: str | None = None, source: str | None = None
    ) -> None:
        self.body = body
        self.error = error  # None: success; text: a failed host call
        self.source = source  # what answered (a stub rule), for the trace

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
