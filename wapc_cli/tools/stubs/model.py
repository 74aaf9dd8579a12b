"""A loaded stub table: rules that match host calls and the answers they give.

Everything here is immutable and checked at load time; the per-run state (how
often each rule answered) lives in :class:`~wapc_cli.tools.stubs.handler.StubHandler`.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...runtime.hostcalls import HostCallRequest
from ..tarmac.options import TarmacOptions
from .exec_reply import run_exec

if TYPE_CHECKING:
    from ..nested import NestedRunner

DEFAULTS = ("error", "empty", "fail")
PRESETS = ("tarmac", "kubewarden")


@dataclass(frozen=True, slots=True)
class GuestTarget:
    """``reply: {guest: MODULE, operation: OP}``: another guest answers (a nested exchange)."""

    module: Path
    operation: str


@dataclass(frozen=True, slots=True)
class Body:
    """How a reply's bytes are made: fixed bytes, the request payload, or a command."""

    data: bytes = b""
    echo: bool = False
    argv: tuple[str, ...] = ()
    timeout_s: float = 10.0
    cwd: str | None = None
    guest: GuestTarget | None = None

    @property
    def per_call(self) -> bool:
        """Made afresh for each call (the payload, a command, a guest), not fixed bytes."""
        return self.echo or bool(self.argv) or self.guest is not None

    def produce(self, request: HostCallRequest, guests: NestedRunner | None = None) -> bytes:
        """The reply bytes; an ``exec`` or a ``guest`` that fails raises HostCallError."""
        if self.echo:
            return request.payload
        if self.argv:
            return run_exec(self.argv, request, self.timeout_s, self.cwd)
        if self.guest is not None:
            from ...runtime.hostcalls import HostCallError

            if guests is None:
                raise HostCallError(f"no guest runner for {self.guest.module.name}")
            return guests.run(self.guest.module.name, self.guest.module,
                              self.guest.operation, request.payload)
        return self.data


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: success with ``body``, or a failed host call (``error``, optional body)."""

    body: Body = field(default_factory=Body)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PayloadTest:
    """One ``when:`` condition on the request payload."""

    kind: str  # text | regex | hex | json | msgpack
    expected: Any  # str | compiled RE2 pattern | bytes | a YAML value

    def matches(self, payload: bytes) -> bool:
        if self.kind == "hex":
            return bool(payload == self.expected)
        if self.kind in ("text", "regex"):
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                return False
            if self.kind == "text":
                return bool(text == self.expected)
            # A compiled RE2 pattern (linear_regex.py): linear time in the payload.
            return self.expected.search(text) is not None
        try:
            if self.kind == "json":
                value = json.loads(payload)
            else:
                import msgpack

                value = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        except Exception:  # any undecodable payload simply does not match
            return False
        return subset(self.expected, value)


def subset(pattern: Any, value: Any) -> bool:
    """``pattern`` is contained in ``value``: mappings may have extra keys, lists match
    item by item, scalars compare equal (and true/false never equal 1/0)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and subset(item, value[key]) for key, item in pattern.items()
        )
    if isinstance(pattern, list):
        return (
            isinstance(value, list)
            and len(pattern) == len(value)
            and all(subset(p, v) for p, v in zip(pattern, value, strict=True))
        )
    if isinstance(pattern, bool) or isinstance(value, bool):
        return type(pattern) is type(value) and pattern == value
    return bool(pattern == value)


@dataclass(frozen=True, slots=True)
class Rule:
    label: str  # what the trace shows as "the rule that answered"
    binding: str
    namespace: str
    operation: str
    when: tuple[PayloadTest, ...]
    answers: tuple[Answer, ...]
    delay_s: float = 0.0
    times: int | None = None

    @property
    def pattern(self) -> str:
        return f"{self.binding}:{self.namespace}:{self.operation}"

    def matches(self, request: HostCallRequest) -> bool:
        return (
            fnmatch.fnmatchcase(request.binding, self.binding)
            and fnmatch.fnmatchcase(request.namespace, self.namespace)
            and fnmatch.fnmatchcase(request.operation, self.operation)
            and all(test.matches(request.payload) for test in self.when)
        )


@dataclass(frozen=True, slots=True)
class StubTable:
    path: str
    rules: tuple[Rule, ...] = ()
    default: str | None = None  # None: not set in this file
    preset: str | None = None
    kvstore: dict[str, bytes] | None = None  # seed for the tarmac preset's store
    #: The ``tarmac:`` block (backends, grants, functions; paths resolved against
    #: the table's folder); None when the table has none.
    tarmac: TarmacOptions | None = None
    #: A kwctl record/replay session file (``--record-host-capabilities-interactions``
    #: format): its exchanges, replayed in order by the kubewarden preset.
    kwctl_session: tuple[Any, ...] | None = None

    @property
    def guest_replies(self) -> bool:
        """Whether a rule answers with another guest (the run needs a nested runner)."""
        return any(a.body.guest is not None for rule in self.rules for a in rule.answers)
