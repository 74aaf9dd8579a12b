"""Init after instantiation: the deferred start function, then the init exports, in order.

Which exports run, and what a ``proc_exit(0)`` or a failure in one of them
means, is the spec's (``abi.INIT_EXPORTS``; exit 0 is a command's normal end)
unless a host profile (:mod:`.profile_rules`) says otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import abi
from ..errors import WapcError
from .wasi_types import ProcExit

if TYPE_CHECKING:
    from ..engines import EngineInstance
    from .profile_rules import ProfileRules
    from .session import WapcSession

#: (step, started perf_counter_ns, duration ns, outcome): an init step for the trace.
StepReport = Callable[[str, int, int, str], None]


class InitSteps:
    """Runs one instance's init; ``classify`` turns what ended a step early into its error."""

    def __init__(
        self, session: WapcSession, flush: Callable[[], None], report: StepReport,
        classify: Callable[[BaseException, str], WapcError], rules: ProfileRules | None,
    ) -> None:
        self.session = session
        self.flush = flush
        self.report = report
        self.classify = classify
        self.rules = rules

    def run(self, instance: EngineInstance, start_export: str | None) -> None:
        """The start function (when deferred to an export), then each init export present."""
        if start_export is not None:
            self.run_one(instance, start_export, step="start section")
        rules = self.rules
        for name in abi.INIT_EXPORTS:
            if not instance.has_func(name):
                continue
            if rules is not None and (
                name not in rules.profile.init_exports or rules.closed_code is not None
            ):
                rules.skipped_init(name)
                self.report(name, 0, 0, "skipped")
                continue
            self.run_one(instance, name)

    def run_one(self, instance: EngineInstance, name: str, step: str | None = None) -> None:
        step = step or name
        started = time.perf_counter_ns()
        outcome = "ok"
        try:
            instance.call(name)
        except BaseException as exc:
            fault = self.session.fault or exc
            if isinstance(fault, ProcExit) and fault.code == 0:
                outcome = "exit(0)"  # a command module's normal end
                self.session.fault = None
                if self.rules is not None:
                    self.rules.init_exited(0)
            else:
                self.flush()
                self.report(step, started, time.perf_counter_ns() - started, "trap")
                error = self.classify(exc, step)
                if self.rules is not None:
                    error = self.rules.init_error(error, name)
                raise error from None
        self.report(step, started, time.perf_counter_ns() - started, outcome)
