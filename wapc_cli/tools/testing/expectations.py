"""Compare what a case's run gave with what it expects: a verdict and the text of every miss."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from ..stubs.model import subset
from .diffs import (
    block,
    bytes_mismatch,
    cut,
    quoted,
    show_bytes,
    side_by_side,
    text_mismatch,
    value_mismatch,
    visible,
)
from .model import Case, CaseOutcome, CaseResult, HostCall, HostCallExpect, Suite
from .snapshots import Snapshots

_OUTCOME_WORDS = {"ok": "a response", "error": "a guest error", "trap": "a trap",
                  "limit": "a limit to stop the guest"}


def evaluate(suite: Suite, case: Case, outcome: CaseOutcome, snapshots: Snapshots) -> CaseResult:
    """The verdict on ``outcome``; every expectation that failed is described, in order."""
    def result(status: str, failure: str = "", snapshot: str | None = None) -> CaseResult:
        return CaseResult(suite.display, case.name, outcome.engine, case.index, status,
                          failure, outcome.duration_ms, snapshot, outcome.recorded,
                          outcome.core)

    if outcome.setup_error is not None:
        return result("error", f"the case could not run: {visible(outcome.setup_error)}")
    misses: list[str] = []
    expect = case.expect
    outcome_miss = _outcome_miss(expect.outcome, expect.outcome_text, outcome)
    if outcome_miss:
        misses.append(outcome_miss)
    snapshot = None
    if expect.response is not None and outcome.response is not None:
        miss, snapshot = _response_miss(suite, case, outcome.response, snapshots)
        if miss:
            misses.append(miss)
    if expect.exit_code is not None and expect.exit_code != outcome.exit_code:
        misses.append(f"exit code: expected {expect.exit_code}, the run gives "
                      f"{outcome.exit_code}")
    if expect.host_calls is not None:
        miss = _host_calls_miss(expect.host_calls, outcome.host_calls, outcome.host_call_count)
        if miss:
            misses.append(miss)
    for wanted in expect.logs:
        if not any(wanted in line for line in outcome.logs):
            logged = [quoted(cut(line, 200)) for line in outcome.logs[:20]] or ["(nothing)"]
            misses.append(block(f"no log line contains {json.dumps(wanted, ensure_ascii=False)}"
                                "; the guest logged:", logged))
    if misses:
        if outcome.core:
            misses.append(outcome.core)
        return result("failed", "\n".join(misses), snapshot)
    return result("passed", "", snapshot)


def _outcome_miss(wanted: str, text: str | None, outcome: CaseOutcome) -> str:
    got = _got(outcome)
    kind = outcome.error_kind
    if wanted == "ok":
        return "" if kind is None else f"expected a response, got {got}"
    if wanted == "error":
        ok = kind == "guest_error"
    elif wanted == "trap":
        ok = kind in ("trap", "limit")
    else:
        ok = kind == "limit" and (text is None or outcome.limit == text)
    if ok and wanted != "limit" and text and text not in outcome.error_text:
        ok = False
    if ok:
        return ""
    detail = f" ({text} limit)" if wanted == "limit" and text else ""
    containing = f" containing {json.dumps(text, ensure_ascii=False)}" \
        if text and wanted != "limit" else ""
    return f"expected {_OUTCOME_WORDS[wanted]}{detail}{containing}, got {got}"


def _got(outcome: CaseOutcome) -> str:
    if outcome.error_kind is None:
        shown = show_bytes(outcome.response or b"")
        return f"a response: {shown}"
    words = {"guest_error": "a guest error", "trap": "a trap", "stub_failure": "a stub failure"}
    what = words.get(outcome.error_kind, outcome.error_kind)
    if outcome.error_kind == "limit":
        what = f"the {outcome.limit} limit"
    return f"{what}: {quoted(cut(outcome.error_text, 500))}"


def _response_miss(
    suite: Suite, case: Case, actual: bytes, snapshots: Snapshots
) -> tuple[str, str | None]:
    expect = case.expect.response
    assert expect is not None
    if expect.kind == "file":
        return snapshots.check(suite, expect, actual)
    if expect.kind == "text":
        if actual == expect.value:
            return "", None
        try:
            return text_mismatch("response", expect.value.decode("utf-8"),
                                 actual.decode("utf-8")), None
        except UnicodeDecodeError:
            return bytes_mismatch("response", expect.value, actual), None
    if expect.kind == "hex":
        return ("" if actual == expect.value
                else bytes_mismatch("response_hex", expect.value, actual)), None
    decoded, problem = _decode(actual, expect.kind)
    if problem:
        return f"response_{expect.kind}: the response is not {problem} ({show_bytes(actual)})", \
            None
    if subset(expect.value, decoded):
        return "", None
    return value_mismatch(f"response_{expect.kind}", expect.value, decoded,
                          "mappings may have more keys than expected"), None


def _decode(data: bytes, kind: str) -> tuple[Any, str]:
    try:
        if kind == "json":
            return json.loads(data), ""
        import msgpack

        return msgpack.unpackb(data, raw=False, strict_map_key=False), ""
    except Exception:  # any undecodable response is simply a mismatch
        return None, "JSON" if kind == "json" else "MessagePack"


def _call_matches(expected: HostCallExpect, actual: HostCall) -> bool:
    return (
        fnmatch.fnmatchcase(actual.binding, expected.binding)
        and fnmatch.fnmatchcase(actual.namespace, expected.namespace)
        and fnmatch.fnmatchcase(actual.operation, expected.operation)
        and (expected.payload is None or expected.payload.matches(actual.payload))
    )


def _host_calls_miss(
    expected: tuple[HostCallExpect, ...], actual: tuple[HostCall, ...], made: int
) -> str:
    marks = [index >= len(actual) or index >= len(expected)
             or not _call_matches(expected[index], actual[index])
             for index in range(max(len(expected), len(actual)))]
    if not any(marks) and made == len(actual):
        return ""
    left = [f"{e.pattern} {e.payload_shown}".rstrip() for e in expected]
    right = [f"{visible(a.key, keep='')} {show_bytes(a.payload)}" for a in actual]
    count = f"expected {len(expected)}, got {made}"
    return block(f"host calls differ ({count}; ! marks a row that differs):",
                 side_by_side("expected", left, "actual", right, marks))
