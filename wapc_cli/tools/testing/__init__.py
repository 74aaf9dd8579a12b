"""``wapc test``: regression suites (``*.wapc.yaml``) of waPC guests, run as data, for CI.

Loading (:mod:`.suite_loader`, every problem at ``file:line:column``), running
(:mod:`.runner`, the runtime API ``wapc call`` uses), verdicts
(:mod:`.expectations`, :mod:`.snapshots`), parallel workers (:mod:`.parallel`)
and JUnit XML (:mod:`.junit`); :mod:`.pytest_plugin` runs the same suites
under pytest. Nothing here prints.

The names below are imported when first used: pytest imports the plugin (and
so this package) in every run of every project in the environment, which
should not pay for the YAML reader and the runtime unless it collects a suite.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import CaseOutcome, CaseResult, Suite, TestReport
    from .suite_loader import SUITE_SUFFIX, SuiteError, check_suite, find_suites, load_suite
    from .testrun import load_suites, run_suites
    from .units import TestOptions

#: Each public name -> the module that defines it.
_HOMES = {
    "CaseOutcome": "model", "CaseResult": "model", "Suite": "model", "TestReport": "model",
    "SUITE_SUFFIX": "suite_loader", "SuiteError": "suite_loader", "check_suite": "suite_loader",
    "find_suites": "suite_loader", "load_suite": "suite_loader",
    "load_suites": "testrun", "run_suites": "testrun", "TestOptions": "units",
}

__all__ = [
    "SUITE_SUFFIX",
    "CaseOutcome",
    "CaseResult",
    "Suite",
    "SuiteError",
    "TestOptions",
    "TestReport",
    "check_suite",
    "find_suites",
    "load_suite",
    "load_suites",
    "run_suites",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
