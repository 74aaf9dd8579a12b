"""The upstream WASI test suite (preview1) through ``wapc run``, as a real subprocess.

Every case on every engine that must run here:
``wapc run --engine E --dir <fresh copy of root>:/:rw --env K=V ... MODULE -- ARGS``.
A case passes when the exit status matches and stdout starts with the expected
text (:func:`wasi_suite.judge`). The suite is found by :mod:`wasi_suite`
(``../shared/wasi-testsuite``, or ``WAPC_WASI_TESTSUITE``); when it is missing
the test fails under CI (``CI`` set) and is skipped otherwise.

A few of its cases are vendored in ``tests/data/wasi`` (see its README), run
the same way, so that a fresh clone covers WASI without ``../shared``.

``python tests/test_wasi_suite_cli.py [ENGINE...]`` prints the pass counts per
engine and language folder, through the same subprocess runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from wasi_suite import CaseRun, SuiteCase, cases, fresh_root, judge, suite_location

#: Long enough for the slowest case's compile on a busy machine; a case that
#: hangs is killed here and fails (wapc's own --timeout default still applies).
CASE_TIMEOUT_S = 240

CASES = cases()
#: The vendored copy of a few cases (upstream's layout, read by the same loader).
VENDORED_LOCATION = Path(__file__).resolve().parent / "data" / "wasi"
VENDORED = cases(VENDORED_LOCATION)


def wapc_command(case: SuiteCase, engine: str, root: Path | None) -> list[str]:
    """The command line the suite's runner would use for ``case`` (argv[0]: the file name)."""
    argv = [sys.executable, "-m", "wapc_cli", "run", "--engine", engine]
    if root is not None:
        argv += ["--dir", f"{root}:/:rw"]
    for key, value in case.env:
        argv += ["--env", f"{key}={value}"]
    return [*argv, str(case.wasm), "--", *case.args]


def run_through_cli(case: SuiteCase, engine: str, cache_dir: Path | None = None) -> CaseRun:
    env = {**os.environ, "NO_COLOR": "1"}
    if cache_dir is not None:
        env["WAPC_CACHE_DIR"] = str(cache_dir)
    with tempfile.TemporaryDirectory(prefix="wasi-suite-cli-") as scratch:
        root = fresh_root(case, Path(scratch))
        try:
            done = subprocess.run(
                wapc_command(case, engine, root), capture_output=True, env=env,
                timeout=CASE_TIMEOUT_S, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return judge(case, CaseRun(None, b"", b"", error=f"no end in {CASE_TIMEOUT_S}s"))
    return judge(case, CaseRun(done.returncode, done.stdout, done.stderr))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compiled-module cache for the session (the user's own is left alone)."""
    return tmp_path_factory.mktemp("wasi-suite-cache")


def test_the_suite_is_there() -> None:
    if CASES:
        assert len(CASES) >= 70, f"only {len(CASES)} cases under {suite_location()}"
        return
    message = f"the WASI test suite is missing at {suite_location()} (WAPC_WASI_TESTSUITE)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_suite_case_through_wapc_run(case: SuiteCase, engine_name: str, cache_dir: Path) -> None:
    run = run_through_cli(case, engine_name, cache_dir)
    assert run.passed, (
        f"{case.id} on {engine_name}: {'; '.join(run.problems)}\n"
        f"stderr: {run.stderr[-2000:].decode('utf-8', 'replace')}"
    )


@pytest.mark.parametrize("case", VENDORED, ids=[case.id for case in VENDORED])
def test_vendored_case_through_wapc_run(
    case: SuiteCase, engine_name: str, cache_dir: Path
) -> None:
    run = run_through_cli(case, engine_name, cache_dir)
    assert run.passed, (
        f"{case.id} on {engine_name}: {'; '.join(run.problems)}\n"
        f"stderr: {run.stderr[-2000:].decode('utf-8', 'replace')}"
    )


def test_the_vendored_cases_are_upstreams() -> None:
    """Eight cases, with a root among them; byte for byte the suite's, when it is here."""
    assert len(VENDORED) == 8 and any(case.root is not None for case in VENDORED)
    assert (VENDORED_LOCATION / "LICENSE").is_file()
    upstream = suite_location()
    if not (upstream / "tests").is_dir():
        return  # test_the_suite_is_there says whether that is a failure
    for copy in (VENDORED_LOCATION / "tests").rglob("*"):
        if copy.is_file():
            original = upstream / copy.relative_to(VENDORED_LOCATION)
            assert original.read_bytes() == copy.read_bytes(), copy
    license_text = (upstream / "LICENSE").read_bytes()
    assert (VENDORED_LOCATION / "LICENSE").read_bytes() == license_text


def main(engines: list[str]) -> None:
    """Print pass counts per engine and language folder (and each failure)."""
    for engine in engines:
        totals: dict[str, list[int]] = {}
        with tempfile.TemporaryDirectory() as cache:
            for case in CASES:
                run = run_through_cli(case, engine, Path(cache))
                counts = totals.setdefault(case.language, [0, 0])
                counts[0] += run.passed
                counts[1] += 1
                if not run.passed:
                    print(f"FAIL {engine} {case.id}: {'; '.join(run.problems)}", flush=True)
        for language, (passed, count) in totals.items():
            print(f"{engine} {language}: {passed}/{count}", flush=True)
        print(f"{engine} total: {sum(p for p, _ in totals.values())}/{len(CASES)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["wasmtime"])
