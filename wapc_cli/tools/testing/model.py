"""A loaded test suite, what one case's run left behind, and its verdict: plain data.

A :class:`Suite` is what :mod:`.suite_loader` made of a ``*.wapc.yaml`` file;
it holds compiled stub tables (RE2 patterns), so it never crosses a process
boundary: a worker process loads the suite itself and sends back a
:class:`CaseOutcome` (bytes, strings, numbers), which pickles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...engines.base import Limits
from ...runtime.wasi_options import WasiOptions
from ..stubs.model import PayloadTest, StubTable

#: What a case may expect of how its call ended.
OUTCOMES = ("ok", "error", "trap", "limit")
#: The limits a case may expect to be hit (``expect: {limit: ...}``).
LIMIT_NAMES = ("timeout", "fuel", "memory")


@dataclass(frozen=True)
class ResponseExpect:
    """The response a case expects: ``kind`` is text, hex, json, msgpack or file."""

    kind: str
    value: Any  # bytes (text, hex), a YAML value (json, msgpack: subset match), a Path (file)
    #: For ``response_file``: the name as the suite wrote it (for messages).
    shown: str = ""


@dataclass(frozen=True)
class HostCallExpect:
    """One expected host call: ``binding:namespace:operation`` globs, then the payload."""

    binding: str
    namespace: str
    operation: str
    payload: PayloadTest | None = None
    #: How the suite wrote the payload expectation (shown in a failure).
    payload_shown: str = ""

    @property
    def pattern(self) -> str:
        return f"{self.binding}:{self.namespace}:{self.operation}"


@dataclass(frozen=True)
class Expect:
    """Everything one case checks; a case that says nothing expects a successful call."""

    outcome: str = "ok"  # one of OUTCOMES
    #: error / trap: text the message must contain; limit: timeout, fuel or memory.
    outcome_text: str | None = None
    response: ResponseExpect | None = None
    #: The exit code ``wapc call`` would give for this run (0, 1, 3, 5, ...).
    exit_code: int | None = None
    #: None: host calls are not checked; a tuple (even empty): exactly these, in order.
    host_calls: tuple[HostCallExpect, ...] | None = None
    logs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    index: int
    line: int
    operation: str
    payload: bytes
    stubs: tuple[StubTable, ...]
    preset: str | None
    limits: Limits
    wasi: WasiOptions
    expect: Expect
    #: The host profile it runs under (``host:``; wapc_cli.runtime.profiles).
    host: str = "wapc"


@dataclass(frozen=True)
class Suite:
    path: Path
    display: str
    module: Path
    engines: tuple[str, ...]
    cases: tuple[Case, ...]


def case_slug(suite: Suite, case: Case) -> tuple[str, str]:
    """(the suite's stem, ``NN-case-name``): names for the files a case leaves behind."""
    stem = suite.path.name.removesuffix(".wapc.yaml").removesuffix(".yaml")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", case.name).strip("-.") or f"case-{case.index + 1}"
    return stem, f"{case.index + 1:02d}-{slug[:60]}"


@dataclass(frozen=True)
class HostCall:
    """One host call a guest made: its key and payload (the answer is the stubs' business)."""

    binding: str
    namespace: str
    operation: str
    payload: bytes

    @property
    def key(self) -> str:
        return f"{self.binding}:{self.namespace}:{self.operation}"


@dataclass(frozen=True)
class CaseOutcome:
    """What running one case on one engine gave, before anything is compared."""

    engine: str
    response: bytes | None = None
    #: How the call failed: None, or the error's kind (guest_error, trap, limit, ...).
    error_kind: str | None = None
    error_text: str = ""
    exit_code: int = 0
    limit: str | None = None  # timeout | fuel | memory, when a limit stopped the guest
    logs: tuple[str, ...] = ()
    host_calls: tuple[HostCall, ...] = ()
    #: How many host calls the guest made (``host_calls`` keeps the first ones only).
    host_call_count: int = 0
    duration_ms: float = 0.0
    #: A problem of the run itself (the engine cannot load, the module is not a guest).
    setup_error: str | None = None
    #: Where ``--record`` wrote this case's host calls, if it did.
    recorded: str | None = None
    #: With a crash-bundle folder: where this failed trap's bundle went (one line).
    core: str | None = None


@dataclass(frozen=True)
class CaseResult:
    """The verdict on one case on one engine, as every output (console, JSON, JUnit) shows it."""

    suite: str
    case: str
    engine: str
    index: int
    status: str  # passed | failed | error
    failure: str = ""  # the text shown for a failure; empty when passed
    duration_ms: float = 0.0
    #: ``--update``: "created" or "updated" when this case wrote its snapshot.
    snapshot: str | None = None
    recorded: str | None = None
    #: ``crash bundle written: ...`` when this case trapped, failed and a bundle was asked for.
    core: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def title(self) -> str:
        return f"{self.case} [{self.engine}]"


@dataclass
class TestReport:
    """Every case's verdict, in the order the suites and cases were given."""

    __test__ = False  # not a pytest test class, whatever its name

    results: list[CaseResult] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)
