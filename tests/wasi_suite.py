"""The upstream WASI test suite (preview1, prebuilt): finding it, and running one case.

The suite lives in ``<repo>/../shared/wasi-testsuite`` (``WAPC_WASI_TESTSUITE``
names another place). Each case is a WASI command ``NAME.wasm`` with an
optional ``NAME.json`` beside it (args, env, root, exit_code, stdout; see the
suite's README). A case passes when the exit status matches and the guest's
stdout starts with the expected text. ``root`` is copied afresh for every run
(the tests create and delete files in it) and preopened as ``/``, writable;
argv[0] is the module's file name, as the upstream runners pass it.

Run as a script, it prints the pass counts per language folder::

    .venv/bin/python tests/wasi_suite.py [--engine wasmtime] [-v]
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LOCATION = REPO.parent / "shared" / "wasi-testsuite"
LANGUAGES = ("assemblyscript", "c", "rust")


def suite_location() -> Path:
    """Where the suite is (it may not exist: see :func:`cases`)."""
    return Path(os.environ.get("WAPC_WASI_TESTSUITE") or DEFAULT_LOCATION)


@dataclass(frozen=True)
class SuiteCase:
    """One test of the suite: a command and what running it must give."""

    language: str
    wasm: Path
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    root: Path | None = None
    exit_code: int = 0
    stdout: str | None = None

    @property
    def id(self) -> str:
        return f"{self.language}/{self.wasm.stem}"


def cases(location: Path | None = None) -> list[SuiteCase]:
    """Every case of the suite, in a stable order (empty when the suite is missing)."""
    base = (location or suite_location()) / "tests"
    found = []
    for language in LANGUAGES:
        folder = base / language / "testsuite" / "wasm32-wasip1"
        for wasm in sorted(folder.glob("*.wasm")):
            spec_file = wasm.with_suffix(".json")
            spec = json.loads(spec_file.read_text()) if spec_file.is_file() else {}
            found.append(SuiteCase(
                language, wasm,
                args=tuple(spec.get("args", ())),
                env=tuple(sorted(spec.get("env", {}).items())),
                root=folder / spec["root"] if "root" in spec else None,
                exit_code=int(spec.get("exit_code", 0)),
                stdout=spec.get("stdout"),
            ))
    return found


@dataclass
class CaseRun:
    """What one run of a case gave."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def fresh_root(case: SuiteCase, into: Path) -> Path | None:
    """A writable copy of the case's root directory (None: the case has none)."""
    if case.root is None:
        return None
    target = into / "root"
    shutil.copytree(case.root, target, symlinks=True)
    for path in [target, *target.rglob("*")]:  # the shared copy is read-only
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR | stat.S_IRUSR
                       | (stat.S_IXUSR if path.is_dir() else 0))
    return target


def judge(case: SuiteCase, run: CaseRun) -> CaseRun:
    if run.error is not None:
        run.problems.append(f"error: {run.error}")
    elif run.exit_code != case.exit_code:
        run.problems.append(f"exit code {run.exit_code}, expected {case.exit_code}")
    if case.stdout is not None and not run.stdout.startswith(case.stdout.encode()):
        run.problems.append(f"stdout {run.stdout[:80]!r} does not start with {case.stdout!r}")
    return run


def run_case(case: SuiteCase, engine: str, *, timeout_s: float | None = None,
             budget_s: float | None = None) -> CaseRun:
    """Run ``case`` in-process through :mod:`wapc_cli.runtime.command` and judge it.

    ``timeout_s``: the timeout limit (only engines that interrupt take it
    in-process); ``budget_s``: a bound on the guest's sleeps alone.
    """
    from wapc_cli.engines import Limits
    from wapc_cli.errors import WapcError
    from wapc_cli.runtime.command import load_command
    from wapc_cli.runtime.wasi import DirGrant, WasiOptions

    out, err = bytearray(), bytearray()
    with tempfile.TemporaryDirectory(prefix="wasi-suite-") as scratch:
        root = fresh_root(case, Path(scratch))
        options = WasiOptions(
            args=case.args, env=dict(case.env), program_name=case.wasm.name,
            dirs=() if root is None else (DirGrant(str(root), "/", writable=True),),
        )
        try:
            command = load_command(case.wasm, engine=engine, limits=Limits(timeout_s=timeout_s))
            result = command.run(options, stdout=out.extend, stderr=err.extend,
                                 budget_s=budget_s)
        except WapcError as exc:
            return judge(case, CaseRun(None, bytes(out), bytes(err), error=str(exc)))
        except Exception as exc:  # a host bug: still one failed case, with its reason
            error = f"host raised {type(exc).__name__}: {exc}"
            return judge(case, CaseRun(None, bytes(out), bytes(err), error=error))
    return judge(case, CaseRun(result.exit_code, bytes(out), bytes(err)))


def summary(engine: str, verbose: bool = False) -> Iterator[str]:
    totals: dict[str, list[int]] = {}
    for case in cases():
        run = run_case(case, engine)
        passed, count = totals.setdefault(case.language, [0, 0])
        totals[case.language] = [passed + run.passed, count + 1]
        if verbose and not run.passed:
            yield f"FAIL {case.id}: {'; '.join(run.problems)}"
    for language, (passed, count) in totals.items():
        yield f"{engine} {language}: {passed}/{count}"
    yield f"{engine} total: {sum(p for p, _ in totals.values())}/" \
          f"{sum(c for _, c in totals.values())}"


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    engine = sys.argv[sys.argv.index("--engine") + 1] if "--engine" in sys.argv else "wasmtime"
    for line in summary(engine, verbose="-v" in sys.argv):
        print(line, flush=True)
