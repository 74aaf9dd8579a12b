"""The host-call handler built from stub tables (and a preset): first matching rule wins.

The rules are compiled once, when the handler is made (docs/performance.md,
"Stub tables"): which rules a ``binding:namespace:operation`` can match depends
on the name alone, so it is worked out (globs and all) the first time a name is
seen and kept; a rule whose answer never changes (one fixed reply, no delay, no
``times``) has its :class:`HostReply` built at load and handed out as is; only
the rules whose answer depends on how often they answered (``replies``,
``times``) are counted. What a rule answers, and in which order rules are
tried, is exactly what :meth:`Rule.matches` and the answers say.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ...errors import StubFailure
from ...runtime import budget
from ...runtime.hostcalls import HostCallError, HostCallRequest, HostReply
from ...runtime.session import HostAbort
from .model import PayloadTest, Rule, StubTable

if TYPE_CHECKING:  # the preset (and protobuf) load only when a run asks for it
    from ..kubewarden.preset import KubewardenPreset
    from ..nested import NestedRunner
    from ..tarmac.preset import TarmacPreset

    Preset = TarmacPreset | KubewardenPreset

#: Distinct host-call names whose candidate rules are kept. A guest chooses the
#: names, so the memo is bounded: past this, a new name is matched afresh each
#: time (as every call was before the memo), never stored.
MAX_REMEMBERED_NAMES = 4096

_GLOB_CHARACTERS = frozenset("*?[")

PayloadMatcher = Callable[[bytes], bool]


class _Prepared:
    """One rule as the hot path uses it: its payload tests as plain functions and,
    when the answer never changes, the reply itself."""

    __slots__ = ("counted", "index", "reply", "rule", "tests")

    def __init__(self, index: int, rule: Rule) -> None:
        self.index = index
        self.rule = rule
        self.tests: tuple[PayloadMatcher, ...] = tuple(_matcher(t) for t in rule.when)
        #: Its answer depends on how often it answered, or ``times`` checks that.
        self.counted = rule.times is not None or len(rule.answers) > 1
        self.reply: HostReply | None = None
        answer = rule.answers[0]
        body = answer.body
        if not self.counted and not rule.delay_s and not body.per_call:
            self.reply = HostReply(body.data, answer.error, rule.label)


def _matcher(test: PayloadTest) -> PayloadMatcher:
    """``test.matches`` as the cheapest equivalent function."""
    if test.kind == "hex":
        expected: bytes = test.expected
        return lambda payload: payload == expected
    if test.kind == "text":
        # A payload decodes to exactly this text if and only if it is exactly
        # the text's UTF-8 bytes (the strict decoder is the encoder's inverse).
        try:
            encoded = str(test.expected).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no payload decodes to it
            return lambda payload: False
        return lambda payload: payload == encoded
    return test.matches


def _has_glob(part: str) -> bool:
    return not _GLOB_CHARACTERS.isdisjoint(part)


class StubHandler:
    """Answers host calls: stub rules, then the preset, then ``default``.

    Later tables win: their rules are tried first and their ``default`` replaces
    an earlier one. Per-run state: how many times each counted rule (one with
    ``replies`` or ``times``) answered.
    """

    def __init__(self, tables: Sequence[StubTable], preset: Preset | None = None) -> None:
        self.tables = list(tables)
        self.rules: list[Rule] = [rule for table in reversed(self.tables) for rule in table.rules]
        self.default = next(
            (t.default for t in reversed(self.tables) if t.default is not None), "error"
        )
        self.preset = preset
        self.counts: dict[int, int] = {}
        self.prepared = tuple(_Prepared(index, rule) for index, rule in enumerate(self.rules))
        # name -> the reply (when the first candidate answers unconditionally and
        # always the same) or the candidate rules in order; see _candidates.
        self.by_name: dict[tuple[str, str, str], HostReply | tuple[_Prepared, ...]] = {}
        self.empty_reply = HostReply(b"", None, "default: empty")
        #: Runs ``reply: {guest: ...}`` answers (set by the host setup when a rule has one).
        self.guests: NestedRunner | None = None

    def __call__(self, request: HostCallRequest) -> HostReply:
        name = (request.binding, request.namespace, request.operation)
        found = self.by_name.get(name)
        if found is None:
            found = self._candidates(name)
        if found.__class__ is HostReply:
            return found  # type: ignore[return-value]
        for entry in found:  # type: ignore[union-attr]
            payload = request.payload
            for test in entry.tests:
                if not test(payload):
                    break
            else:
                reply = entry.reply
                return reply if reply is not None else self._answer(entry, request)
        return self._unmatched(request)

    def _candidates(
        self, name: tuple[str, str, str]
    ) -> HostReply | tuple[_Prepared, ...]:
        """The rules that can match ``name`` (the payload decides the rest), in order;
        or the reply itself, when the first of them always answers the same."""
        binding, namespace, operation = name
        candidates = tuple(
            entry for entry in self.prepared
            if _part_matches(binding, entry.rule.binding)
            and _part_matches(namespace, entry.rule.namespace)
            and _part_matches(operation, entry.rule.operation)
        )
        found: HostReply | tuple[_Prepared, ...] = candidates
        if candidates and not candidates[0].tests and candidates[0].reply is not None:
            found = candidates[0].reply
        if len(self.by_name) < MAX_REMEMBERED_NAMES:
            self.by_name[name] = found
        return found

    def _unmatched(self, request: HostCallRequest) -> HostReply:
        if self.preset is not None:
            reply = self.preset.answer(request)
            if reply is not None:
                return reply
        if self.default == "empty":
            return self.empty_reply
        if self.default == "fail":
            raise HostAbort(
                StubFailure(f"host call {request.key} matched no stub rule (default: fail)")
            )
        return HostReply(error=f"no stub answers {request.key}", source="default: error")

    def _answer(self, entry: _Prepared, request: HostCallRequest) -> HostReply:
        rule = entry.rule
        count = 0
        if entry.counted:
            count = self.counts.get(entry.index, 0)
            self.counts[entry.index] = count + 1
        answer = rule.answers[min(count, len(rule.answers) - 1)]  # the last one repeats
        if rule.delay_s:
            # No longer than the exchange's time budget (then the run ends with the timeout).
            budget.sleep(rule.delay_s)
        try:
            body = answer.body.produce(request, self.guests)
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


def _part_matches(value: str, pattern: str) -> bool:
    """One part of a rule's ``match`` against the same part of a host-call name
    (what :meth:`Rule.matches` does, without the regex for a plain name)."""
    if _has_glob(pattern):
        return fnmatch.fnmatchcase(value, pattern)
    return value == pattern
