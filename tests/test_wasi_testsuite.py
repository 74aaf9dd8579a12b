"""The upstream WASI test suite (72 preview1 commands) on every engine, in-process.

Each case runs through :mod:`wapc_cli.runtime.command` on a fresh copy of its
root directory (:mod:`wasi_suite`). The suite lives outside the repository
(``../shared/wasi-testsuite`` or ``WAPC_WASI_TESTSUITE``): missing, these tests
fail under CI and skip elsewhere. The CLI-level run (``wapc run``) is in
``test_wasi_suite_cli.py``.
"""

from __future__ import annotations

import os

import pytest
from wasi_suite import LANGUAGES, SuiteCase, cases, run_case, suite_location

from wapc_cli.engines import get_engine

CASES = cases()
#: Per-case guard (the slowest case takes well under a second): the timeout limit
#: where the engine can stop a guest in-process, else a bound on its sleeps.
CASE_GUARD_S = 60.0


def test_the_suite_is_there() -> None:
    if not CASES:
        message = f"WASI test suite not found at {suite_location()} (set WAPC_WASI_TESTSUITE)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    counts = {language: sum(c.language == language for c in CASES) for language in LANGUAGES}
    assert counts == {"assemblyscript": 12, "c": 14, "rust": 46}, counts


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_suite_case(case: SuiteCase, engine_name: str) -> None:
    if get_engine(engine_name).capabilities.interrupts:
        run = run_case(case, engine_name, timeout_s=CASE_GUARD_S)
    else:
        run = run_case(case, engine_name, budget_s=CASE_GUARD_S)
    assert run.passed, (
        f"{case.id} on {engine_name}: {'; '.join(run.problems)}\n"
        f"stderr: {run.stderr[-2000:].decode('utf-8', 'replace')}"
    )


def test_each_case_starts_from_a_fresh_root(engine_name: str) -> None:
    """Cases that create files must not see what an earlier run left behind."""
    rooted = [c for c in CASES if c.root is not None]
    if not rooted:
        pytest.skip("suite missing (see test_the_suite_is_there)")
    case = rooted[0]
    assert run_case(case, engine_name).passed
    assert run_case(case, engine_name).passed
    # The shared copy is untouched (read-only, never written).
    assert case.root is not None and not any(p.name.endswith(".cleanup") for p in
                                             case.root.iterdir())
