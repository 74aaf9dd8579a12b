"""The host-call handler built from stub tables (and a preset): first matching rule wins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...errors import StubFailure
from ...runtime import budget
from ...runtime.hostcalls import HostCallError, HostCallRequest, HostReply
from ...runtime.session import HostAbort
from .model import Rule, StubTable

if TYPE_CHECKING:  # the preset (and protobuf) load only when a run asks for it
    from ..tarmac.preset import TarmacPreset


class StubHandler:
    """Answers host calls: stub rules, then the preset, then ``default``.

    Later tables win: their rules are tried first and their ``default`` replaces
    an earlier one. Per-run state: how many times each rule answered.
    """

    def __init__(self, tables: Sequence[StubTable], preset: TarmacPreset | None = None) -> None:
        self.tables = list(tables)
        self.rules: list[Rule] = [rule for table in reversed(self.tables) for rule in table.rules]
        self.default = next(
            (t.default for t in reversed(self.tables) if t.default is not None), "error"
        )
        self.preset = preset
        self.counts: dict[int, int] = {}

    def __call__(self, request: HostCallRequest) -> HostReply:
        for index, rule in enumerate(self.rules):
            if rule.matches(request):
                return self._answer(index, rule, request)
        if self.preset is not None:
            reply = self.preset.answer(request)
            if reply is not None:
                return reply
        if self.default == "empty":
            return HostReply(b"", None, "default: empty")
        if self.default == "fail":
            raise HostAbort(
                StubFailure(f"host call {request.key} matched no stub rule (default: fail)")
            )
        return HostReply(error=f"no stub answers {request.key}", source="default: error")

    def _answer(self, index: int, rule: Rule, request: HostCallRequest) -> HostReply:
        count = self.counts.get(index, 0)
        self.counts[index] = count + 1
        answer = rule.answers[min(count, len(rule.answers) - 1)]  # the last one repeats
        if rule.delay_s:
            # No longer than the exchange's time budget (then the run ends with the timeout).
            budget.sleep(rule.delay_s)
        try:
            body = answer.body.produce(request)
        except HostCallError as exc:
            return HostReply(exc.body, exc.message, rule.label)
        return HostReply(body, answer.error, rule.label)

    def unmet(self) -> list[str]:
        """Every ``times:`` expectation the run did not meet, described."""
        problems = []
        for index, rule in enumerate(self.rules):
            if rule.times is not None and self.counts.get(index, 0) != rule.times:
                got = self.counts.get(index, 0)
                problems.append(
                    f"stub rule {rule.label} ({rule.pattern}) expected exactly {rule.times} "
                    f"call{'s' if rule.times != 1 else ''}, got {got}"
                )
        return problems
