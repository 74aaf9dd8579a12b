"""The bounded YAML reader: large-but-legal documents load in linear time, and each
refusal (too deep, too many values, an alias bomb, too long) names its own reason."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.tools.kubewarden.requests import ChannelRequest
from wapc_cli.tools.kubewarden.session import Exchange, dump_session
from wapc_cli.tools.stubs import bounded_yaml
from wapc_cli.tools.stubs.bounded_yaml import YamlTooLarge, compose_bounded
from wapc_cli.tools.stubs.loader import check_stub_file, load_stub_file

SAMPLES = [
    "", "a: 1", "--- 1\n", "'quoted'", "|\n  literal\n", "? complex\n: v\n",
    "- 1\n- [2, {x: y}]\n- !custom bar\n- &a {k: v}\n- *a\n",
    "x: !!binary aGVsbG8=\ny: 2001-12-14\nz: ~\n<<: {a: 1}\n",
    "a: &x 1\nb: *x\nc: [*x, &y {q: *x}, *y]\n",
    "key: 'ünï'\n  # a comment\nk2: \"é\\n\"\nk3: >\n  folded\n  text\n",
]


def same_tree(ours: yaml.Node | None, theirs: yaml.Node | None) -> None:
    assert type(ours) is type(theirs)
    if ours is None or theirs is None:
        return
    assert (ours.tag, ours.start_mark.line, ours.start_mark.column) == (
        theirs.tag, theirs.start_mark.line, theirs.start_mark.column)
    if isinstance(ours, yaml.ScalarNode):
        assert (ours.value, ours.style) == (theirs.value, theirs.style)
    elif isinstance(ours, yaml.SequenceNode):
        assert len(ours.value) == len(theirs.value)
        for mine, other in zip(ours.value, theirs.value, strict=False):
            same_tree(mine, other)
    else:
        assert len(ours.value) == len(theirs.value)
        for (key, value), (other_key, other_value) in zip(ours.value, theirs.value, strict=False):
            same_tree(key, other_key)
            same_tree(value, other_value)


@pytest.fixture(params=["libyaml", "pure-python"])
def event_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both parsers the reader may run on: libyaml's when PyYAML has it, else PyYAML's."""
    if request.param == "pure-python":
        monkeypatch.setattr(bounded_yaml, "_EVENT_LOADER", yaml.SafeLoader)
    else:
        assert getattr(yaml, "CSafeLoader", None) is not None, "PyYAML built without libyaml"
    return str(request.param)


@pytest.mark.parametrize("text", SAMPLES)
def test_the_nodes_are_those_pyyaml_composes(text: str, event_loader: str) -> None:
    same_tree(compose_bounded(text), yaml.compose(text, Loader=yaml.SafeLoader))


@pytest.mark.parametrize(("text", "words"), [
    ("a: [1", "expected ',' or ']'"),
    ("a: *nowhere", "found undefined alias 'nowhere'"),
    ("--- 1\n--- 2\n", "expected a single document in the stream"),
    ("a: &x 1\nb: &x 2\n", "found duplicate anchor 'x'"),
])
def test_yaml_errors_are_pyyamls(text: str, words: str, event_loader: str) -> None:
    with pytest.raises(yaml.MarkedYAMLError) as info:
        compose_bounded(text)
    assert words in str(info.value)


def test_what_libyaml_refuses_pyyaml_reads_again() -> None:
    """A lone surrogate escape: PyYAML reads it (a stub condition that matches nothing),
    libyaml refuses it; a small text gets PyYAML's reading, as before."""
    node = compose_bounded('text: "\\ud800"')
    assert isinstance(node, yaml.MappingNode) and node.value[0][1].value == "\ud800"


def test_a_large_text_keeps_libyamls_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded_yaml, "PURE_PYTHON_RETRY_CHARS", 4)
    with pytest.raises(yaml.MarkedYAMLError, match="invalid Unicode character escape"):
        compose_bounded('text: "\\ud800"')


# -- issue: a large legal document was refused as an alias bomb, after ~40 s -------------
def test_more_values_than_a_million_load_and_fast() -> None:
    """1.2 million values, no alias: the old reader counted them against its alias bound
    and refused the document as "once every alias (*name) is expanded"."""
    count = 1_200_000
    started = time.monotonic()
    root = compose_bounded("[" + "1," * count + "]")
    elapsed = time.monotonic() - started
    assert isinstance(root, yaml.SequenceNode) and len(root.value) == count
    assert elapsed < 20.0, elapsed  # ~1.5 s here; PyYAML's own composer took ~20 s


def test_too_many_values_says_so_without_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded_yaml, "MAX_NODES", 1000)
    with pytest.raises(YamlTooLarge) as info:
        compose_bounded("[" + "1," * 1001 + "]")
    assert info.value.message == ("more than 1000 values (mappings, lists and scalars); "
                                  "the document is too large to load")
    assert info.value.mark.column == 1999  # the 1000th value (the list is the first)


def test_a_billion_laughs_still_names_the_aliases() -> None:
    lol = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        name, inner = chr(ord("a") + level), chr(ord("a") + level - 1)
        lol.append(f"{name}: &{name} [" + ", ".join([f"*{inner}"] * 10) + "]")
    started = time.monotonic()
    with pytest.raises(YamlTooLarge) as info:
        compose_bounded("\n".join(lol))
    assert time.monotonic() - started < 5.0
    assert info.value.message == (f"more than {bounded_yaml.MAX_ALIAS_VALUES} values once "
                                  "every alias (*name) is expanded")


def test_modest_aliases_count_their_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded_yaml, "MAX_ALIAS_VALUES", 10)
    compose_bounded("a: &v [1, 2, 3, 4]\nb: *v\nc: *v\n")  # 2 x 5 copied values: at the bound
    with pytest.raises(YamlTooLarge, match="once every alias"):
        compose_bounded("a: &v [1, 2, 3, 4]\nb: *v\nc: *v\nd: *v\n")


def test_depth_as_written_and_through_an_alias_are_told_apart() -> None:
    limit = bounded_yaml.MAX_DEPTH
    compose_bounded("[" * limit + "]" * limit)
    with pytest.raises(YamlTooLarge) as info:
        compose_bounded("[" * (limit + 1) + "]" * (limit + 1))
    assert info.value.message == f"nested deeper than {limit} levels"
    deep = "[" * (limit - 1) + "]" * (limit - 1)
    with pytest.raises(YamlTooLarge) as info:
        compose_bounded(f"a: &deep {deep}\nb: [[*deep]]\n")
    assert info.value.message == f"nested deeper than {limit} levels once the alias *deep " \
                                 "is expanded"


def test_a_huge_deep_text_is_refused_for_its_depth(tmp_path: Path) -> None:
    """2 million ``[``: libyaml's scanner stops at its own nesting limit before any event."""
    path = tmp_path / "deep.yaml"
    path.write_text("calls: " + "[" * 2_000_000)
    started = time.monotonic()
    _, source = check_stub_file(path)
    assert time.monotonic() - started < 5.0
    (problem,) = [str(p) for p in source.problems]
    assert "nest" in problem and "alias" not in problem


def test_an_alias_inside_its_own_value_is_refused() -> None:
    with pytest.raises(YamlTooLarge, match=r"the alias \*x is inside the value it names"):
        compose_bounded("a: &x [1, *x]")


def test_the_texts_length_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded_yaml, "MAX_TEXT_CHARS", 1 << 20)
    with pytest.raises(YamlTooLarge) as info:
        compose_bounded("a: " + "x" * (1 << 20))
    assert info.value.message == "the document is longer than 1 Mi characters"


# -- kwctl session files ------------------------------------------------------------------
def small_session(count: int) -> str:
    """``count`` exchanges as small as kwctl writes them: the most values per byte."""
    exchange = dump_session([Exchange(ChannelRequest("KubernetesGetResource", (
        ("api_version", "v1"), ("kind", "Namespace"), ("name", "ns-NUMBER"),
        ("namespace", None), ("disable_cache", False))),
        json.dumps({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "ns-NUMBER"}}).encode())])
    return "".join(exchange.replace("NUMBER", str(index)) for index in range(count))


def test_a_large_session_loads_in_linear_time(tmp_path: Path) -> None:
    """20,000 exchanges (~6 MB): ~15 s with PyYAML's composer, ~2 s now."""
    path = tmp_path / "session.yml"
    path.write_text(small_session(20_000))
    assert path.stat().st_size > 5_000_000
    started = time.monotonic()
    table = load_stub_file(path)
    assert time.monotonic() - started < 10.0
    assert table.kwctl_session is not None and len(table.kwctl_session) == 20_000


def test_a_session_past_the_bound_says_too_large(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded_yaml, "MAX_NODES", 10_000)
    path = tmp_path / "session.yml"
    path.write_text(small_session(1000))  # 11 values per exchange
    result = CliRunner().invoke(app, ["stubs", "check", str(path)])
    assert result.exit_code == 2
    assert "more than 10000 values (mappings, lists and scalars)" in result.stderr
    assert "alias" not in result.stderr and "Traceback" not in result.stderr


def test_a_request_past_a_bound_names_the_bound(tmp_path: Path) -> None:
    deep = "[" * 150 + "]" * 150
    path = tmp_path / "session.yml"
    path.write_text("- type: Exchange\n  request: |\n    !KubernetesGetResource\n"
                    f"    api_version: {deep}\n"
                    "  response:\n    type: Error\n    message: not found\n")
    _, source = check_stub_file(path)
    (problem,) = [str(p) for p in source.problems]
    assert problem.endswith("exchange #1.request: YAML: nested deeper than 100 levels")
