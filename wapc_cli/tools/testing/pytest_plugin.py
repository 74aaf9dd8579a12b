"""The pytest plugin (entry point ``pytest11``, name ``wapc``): ``*.wapc.yaml`` suites as tests.

``pytest`` collects every ``*.wapc.yaml`` file it is given or finds while
walking its test paths: one item per case and engine, run with the same
runner and judged with the same expectations as ``wapc test``, a failure
reported with the same text. It works under ``pytest -n N`` (pytest-xdist):
each worker loads the suites it is handed. ``--wapc-update`` updates
``response_file`` snapshots; ``--wapc-engine NAME`` runs every case on NAME
instead of the suite's engines. A project that keeps ``*.wapc.yaml`` files
that are not suites under its test paths sets ``wapc_collect = false`` in its
pytest configuration (or runs ``pytest -p no:wapc``).

The ``wapc_guest`` fixture gives Python-written tests a loaded guest::

    def test_echo(wapc_guest):
        guest = wapc_guest("build/guest.wasm")          # relative to the test file
        assert guest.call("echo", b"hi") == b"hi"

This module is a tool like the others (it never prints); importing it loads
neither an engine nor the runner, so a pytest run that collects no suite
pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ...runtime.guest import Guest
    from ...runtime.hostcalls import HostCallHandler
    from .model import Case, CaseResult, Suite
    from .runner import ModulePool
    from .snapshots import Snapshots

SUITE_SUFFIX = ".wapc.yaml"  # as suite_loader.SUITE_SUFFIX, without importing it here
_POOL = pytest.StashKey["ModulePool"]()
_SNAPSHOTS = pytest.StashKey["Snapshots"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wapc", "waPC guest test suites (*.wapc.yaml)")
    group.addoption("--wapc-update", action="store_true", default=False,
                    help="write actual responses into response_file snapshots")
    group.addoption("--wapc-engine", action="append", default=[], metavar="NAME",
                    help="run every suite case on NAME (repeatable) instead of the "
                    "suite's engines")
    parser.addini("wapc_collect", type="bool", default=True,
                  help="collect *.wapc.yaml files as waPC test suites (default: true)")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if not file_path.name.endswith(SUITE_SUFFIX):
        return None
    if not parent.config.getini("wapc_collect"):
        return None
    return WapcSuiteFile.from_parent(parent, path=file_path)


class WapcSuiteFile(pytest.File):
    """One suite file: loaded (every problem at file:line:column) when collected."""

    def collect(self) -> Iterator[pytest.Item]:
        from .suite_loader import SuiteError, load_suite

        try:
            suite = load_suite(self.path)
        except SuiteError as exc:
            raise self.CollectError(
                "bad test suite:\n" + "\n".join(str(p) for p in exc.problems)
            ) from None
        except Exception as exc:  # an unreadable file: one line, not a traceback
            raise self.CollectError(f"{self.path}: {exc}") from None
        from .diffs import visible

        engines = tuple(self.config.getoption("wapc_engine") or ()) or suite.engines
        for case in suite.cases:
            for engine in engines:  # a name reaches the terminal: its controls escaped
                yield WapcCaseItem.from_parent(
                    self, name=f"{visible(case.name, keep='')}[{engine}]", suite=suite,
                    case=case, engine=engine,
                )


class WapcCaseFailed(Exception):
    """A case did not meet its expectations; carries the verdict."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.failure)
        self.result = result


class WapcCaseItem(pytest.Item):
    """One case on one engine."""

    def __init__(self, *, suite: Suite, case: Case, engine: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.case = case
        self.engine = engine

    def runtest(self) -> None:
        from .expectations import evaluate
        from .runner import run_case

        outcome = run_case(self.suite, self.case, self.engine, _pool(self.config))
        result = evaluate(self.suite, self.case, outcome, _snapshots(self.config))
        if not result.passed:
            raise WapcCaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, WapcCaseFailed):
            from .diffs import visible

            result = excinfo.value.result
            return f"{visible(f'{result.suite} > {result.title}', keep='')}\n{result.failure}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        from .diffs import visible

        return self.path, self.case.line - 1, f"{visible(self.case.name, keep='')} [{self.engine}]"


def _pool(config: pytest.Config) -> ModulePool:
    if _POOL not in config.stash:
        from .runner import ModulePool

        config.stash[_POOL] = ModulePool()
    return config.stash[_POOL]


def _snapshots(config: pytest.Config) -> Snapshots:
    if _SNAPSHOTS not in config.stash:
        from .snapshots import Snapshots

        config.stash[_SNAPSHOTS] = Snapshots(update=bool(config.getoption("wapc_update")))
    return config.stash[_SNAPSHOTS]


@pytest.fixture
def wapc_guest(request: pytest.FixtureRequest) -> Callable[..., Guest]:
    """A factory: ``wapc_guest(module, engine=..., stubs=..., host_call=..., ...)`` -> Guest.

    ``module`` is relative to the test file. ``stubs`` names stub table files
    (relative to the test file too) that answer host calls; ``host_call`` is a
    Python handler instead. ``host`` runs the guest as that host profile would,
    as a suite's ``host:`` does (a platform's preset included). Compiled modules
    are shared by the whole session.
    """
    base = Path(str(request.path)).parent

    def make(
        module: str | Path, *, engine: str = "auto", stubs: list[str | Path] | None = None,
        preset: str | None = None, host_call: HostCallHandler | None = None,
        limits: Any = None, wasi: Any = None, host: str = "wapc",
    ) -> Guest:
        from ...engines.base import Limits
        from ..stubs.host import build_host_setup

        profile = None  # the default, wapc: no profile loads
        if host != "wapc":
            from ...runtime.profiles import get_profile

            profile = get_profile(host)  # an unknown name: UsageError naming the choices
            preset = preset or profile.preset  # a platform brings its own, as in a suite
        handler = host_call
        if handler is None and (stubs or preset):
            setup = build_host_setup([base / s for s in stubs or ()], preset, None,
                                     profile=profile)
            handler = setup.handler
        path = base / module
        loaded = _pool(request.config).module(path, engine, limits or Limits())
        return loaded.instantiate(handler, wasi=wasi, profile=profile)

    return make
