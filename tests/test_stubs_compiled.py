"""The compiled stub handler answers exactly as the documented rules say.

``StubHandler`` compiles its rules (names memoised, fixed replies built at
load, only ``replies``/``times`` rules counted); :class:`Reference` below is
the plain reading of docs/stubs.md — every rule in order through
``Rule.matches``, the first match answers, every rule counted. Both answer the
same generated tables and call sequences; every reply and the ``times`` verdict
must be equal.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from wapc_cli.errors import StubFailure
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest, HostReply
from wapc_cli.runtime.session import HostAbort
from wapc_cli.tools.stubs import StubHandler, StubTable, load_stub_file
from wapc_cli.tools.stubs import handler as handler_module


class Reference:
    """docs/stubs.md's "Order of answering", written as plainly as possible."""

    def __init__(self, tables: list[StubTable]) -> None:
        self.rules = [rule for table in reversed(tables) for rule in table.rules]
        self.default = next((t.default for t in reversed(tables) if t.default), "error")
        self.counts = [0] * len(self.rules)

    def __call__(self, request: HostCallRequest) -> HostReply:
        for index, rule in enumerate(self.rules):
            if rule.matches(request):
                count = self.counts[index]
                self.counts[index] += 1
                answer = rule.answers[min(count, len(rule.answers) - 1)]
                try:
                    body = answer.body.produce(request)
                except HostCallError as exc:
                    return HostReply(exc.body, exc.message, rule.label)
                return HostReply(body, answer.error, rule.label)
        if self.default == "empty":
            return HostReply(b"", None, "default: empty")
        if self.default == "fail":
            raise HostAbort(StubFailure(f"host call {request.key} matched no stub rule"))
        return HostReply(error=f"no stub answers {request.key}", source="default: error")

    def unmet(self) -> list[str]:
        return [rule.label for index, rule in enumerate(self.rules)
                if rule.times is not None and self.counts[index] != rule.times]


NAMES = ["a", "b", "kv", "k*", "x"]
PAYLOADS = [b"", b"hi", b'{"key":"g"}', b'{"key":"g","n":1}', b"\xff\xfe", b"ab12"]
WHENS = [
    "", "{text: hi}", "{hex: '6869'}", "{json: {key: g}}", "{regex: '^a.[0-9]+$'}",
    "{text: ''}", "{json: {key: g, n: 1}}",
]
REPLIES = [
    "reply: fixed", "reply: {echo: true}", "error: down", "error: down\n    body: b",
    "replies: [one, two, {error: three}]", "reply: {hex: '00ff'}",
]


def _part(rng: random.Random) -> str:
    return rng.choice(["a", "b", "kv", "*", "k?", "[ab]", "x"])


def _table(rng: random.Random, path: Path) -> StubTable:
    lines = [f"default: {rng.choice(['error', 'empty'])}", "calls:"]
    for _ in range(rng.randint(0, 6)):
        match = "*" if rng.random() < 0.1 else f"{_part(rng)}:{_part(rng)}:{_part(rng)}"
        lines.append(f'  - match: "{match}"')
        when = rng.choice(WHENS)
        if when:
            lines.append(f"    when: {when}")
        lines.append(f"    {rng.choice(REPLIES)}")
        if rng.random() < 0.3:
            lines.append(f"    times: {rng.randint(0, 3)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_stub_file(path)


def _request(rng: random.Random) -> HostCallRequest:
    name = [rng.choice(NAMES) for _ in range(3)]
    return HostCallRequest(*name, rng.choice(PAYLOADS))


@pytest.mark.parametrize("seed", range(60))
def test_compiled_handler_answers_as_the_reference(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    tables = [_table(rng, tmp_path / f"t{i}.yaml") for i in range(rng.randint(1, 3))]
    compiled, reference = StubHandler(tables), Reference(tables)
    for _ in range(80):
        request = _request(rng)
        assert compiled(request) == reference(request), request
    assert [problem.split(" (")[0].removeprefix("stub rule ")
            for problem in compiled.unmet()] == reference.unmet()


def test_default_fail_still_stops_the_run(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text('default: fail\ncalls:\n  - {match: "a:b:c", reply: x}\n', encoding="utf-8")
    handler = StubHandler([load_stub_file(path)])
    assert handler(HostCallRequest("a", "b", "c", b"")).body == b"x"
    for _ in range(2):  # the memoised "no rule" answer raises every time
        with pytest.raises(HostAbort):
            handler(HostCallRequest("a", "b", "d", b""))


def test_names_past_the_memo_bound_are_matched_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler_module, "MAX_REMEMBERED_NAMES", 3)
    path = tmp_path / "t.yaml"
    path.write_text('calls:\n  - {match: "a:b:c*", reply: x}\n  - {match: "*", reply: y}\n',
                    encoding="utf-8")
    handler = StubHandler([load_stub_file(path)])
    for index in range(20):  # a guest choosing ever new names cannot grow the memo
        assert handler(HostCallRequest("a", "b", f"c{index}", b"")).body == b"x"
        assert handler(HostCallRequest("a", "b", f"d{index}", b"")).body == b"y"
    assert len(handler.by_name) == 3


def test_fixed_replies_are_built_once_and_sequences_counted(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        'calls:\n  - {match: "a:b:fixed", reply: x}\n'
        '  - {match: "a:b:seq", replies: [one, two]}\n'
        '  - {match: "a:b:times", reply: t, times: 2}\n', encoding="utf-8")
    handler = StubHandler([load_stub_file(path)])
    fixed = HostCallRequest("a", "b", "fixed", b"")
    assert handler(fixed) is handler(fixed)  # the reply made at load, no per-call object
    assert [handler(HostCallRequest("a", "b", "seq", b"")).body for _ in range(3)] == [
        b"one", b"two", b"two"]
    handler(HostCallRequest("a", "b", "times", b""))
    assert handler.counts == {1: 3, 2: 1}  # the fixed rule is not counted
    assert len(handler.unmet()) == 1


def test_text_condition_with_a_lone_surrogate_matches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text('calls:\n  - {match: "*", when: {text: "\\ud800"}, reply: x}\n',
                    encoding="utf-8")
    handler = StubHandler([load_stub_file(path)])
    assert handler(HostCallRequest("a", "b", "c", b"\xed\xa0\x80")).error is not None
