"""Stub table loading: every problem at file:line:column, and the JSON Schema in step."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from wapc_cli.tools.stubs import StubTableError, check_stub_file, load_stub_file
from wapc_cli.tools.stubs.model import subset

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def schema() -> dict[str, Any]:
    text = resources.files("wapc_cli").joinpath("schemas/stubs.schema.json").read_text("utf-8")
    return dict(json.loads(text))


def write(tmp_path: Path, text: str, name: str = "stubs.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    _, source = check_stub_file(write(tmp_path, text))
    return [str(p) for p in source.problems]


# -- the three broken tables the issue names ---------------------------------------------
def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'calls:\n  - match: "a:b:c"\n    reply: {text: "x"\n')
    with pytest.raises(StubTableError) as info:
        load_stub_file(path)
    assert str(info.value).startswith(f"{path}:4:1: YAML syntax:")
    assert info.value.exit_code == 2


def test_unknown_key_names_line_column_and_suggests(tmp_path: Path) -> None:
    found = problems(tmp_path, 'calls:\n  - match: "a:b:c"\n    repy: "x"\n')
    assert any(":3:5: calls[0]: unknown key 'repy' (did you mean 'reply'?)" in p for p in found)


def test_reply_with_two_forms(tmp_path: Path) -> None:
    found = problems(tmp_path, 'calls:\n  - match: "a:b:c"\n    reply: {text: x, json: {a: 1}}\n')
    assert found == [f"{tmp_path / 'stubs.yaml'}:3:12: calls[0].reply: has 2 forms (text, json); "
                     "give exactly one"]


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("default: eror\n", ":1:10:", "expected one of error, empty, fail"),
        ("calls:\n  - match: a:b\n    reply: x\n", ":2:12:", "binding:namespace:operation"),
        ("calls:\n  - match: a:b:c\n    reply: x\n    error: y\n", ":4:5:", "both 'reply' and"),
        ("calls:\n  - match: a:b:c\n", ":2:5:", "needs one of reply, replies, error"),
        ("calls:\n  - match: a:b:c\n    reply: x\n    body: y\n", ":4:5:", "'body' goes with"),
        ("calls:\n  - match: a:b:c\n    reply: x\n    times: -1\n", ":4:12:", ">= 0"),
        ("calls:\n  - match: a:b:c\n    reply: {hex: zz}\n", ":3:18:", "not valid hex"),
        ("calls:\n  - match: a:b:c\n    reply: {base64: '!!'}\n", ":3:21:", "not valid base64"),
        ("calls:\n  - match: a:b:c\n    reply: {file: nope.bin}\n", ":3:19:", "no such file"),
        ("calls:\n  - match: a:b:c\n    when: {regex: '('}\n    reply: x\n", ":3:19:", "regular"),
        ("calls:\n  - match: a:b:c\n    reply: {exec: [no-such-program-xyz]}\n", ":3:19:",
         "not found on PATH"),
        ("calls:\n  - match: a:b:c\n    reply: {echo: true, timeout_s: 1}\n", ":3:25:",
         "'timeout_s' goes with 'exec' only"),
        ("calls:\n  - match: a:b:c\n    reply: 42\n", ":3:12:", "expected a string or a mapping"),
        ("calls:\n  - match: a:b:c\n    replies: []\n", ":3:14:", "non-empty list"),
        ("calls:\n  - match: a:b:c\n    reply: x\n  - match: a:b:c\n    reply: x\n    reply: y\n",
         ":6:5:", "duplicate key 'reply'"),
        ("- just a list\n", ":1:1:", "stub table: expected a mapping"),
        ("", ":1:1:", "empty stub table"),
    ],
)
def test_problems_name_the_place(tmp_path: Path, text: str, where: str, words: str) -> None:
    found = problems(tmp_path, text)
    assert any(where in p and words in p for p in found), found


def test_all_problems_are_collected_in_order(tmp_path: Path) -> None:
    text = "default: nope\ncalls:\n  - match: a:b:c\n    repy: x\n  - match: a\n    reply: x\n"
    found = problems(tmp_path, text)
    lines = [int(p.split(":")[1]) for p in found]
    assert len(found) >= 3 and lines == sorted(lines)
    with pytest.raises(StubTableError, match=r"and \d+ more problems"):
        load_stub_file(tmp_path / "stubs.yaml")


def test_a_valid_table_loads(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01")
    table = load_stub_file(write(tmp_path, """
default: empty
calls:
  - name: first
    match: {binding: tarmac, operation: "g*"}
    when: {json: {key: greeting}, regex: "gree"}
    reply: {json: {data: "aGk="}}
    delay_ms: 1
  - match: "b:ns:file"
    reply: {file: blob.bin}
  - match: "b:ns:seq"
    replies: ["one", {hex: "0a0b"}, {error: "three", body: {msgpack: [1, 2]}}]
    times: 2
  - match: "b:ns:down"
    error: backend down
"""))
    assert table.default == "empty"
    first, blob, seq, down = table.rules
    assert first.label == "first" and (first.binding, first.namespace) == ("tarmac", "*")
    assert first.answers[0].body.data == b'{"data":"aGk="}'
    assert first.delay_s == pytest.approx(0.001)
    assert blob.answers[0].body.data == b"\x00\x01" and blob.label == "stubs.yaml:9"
    assert [a.error for a in seq.answers] == [None, None, "three"]
    assert seq.answers[1].body.data == b"\n\x0b" and seq.answers[2].body.data == b"\x92\x01\x02"
    assert seq.times == 2
    assert down.answers[0].error == "backend down"


def test_kvstore_seed_inline_and_from_file(tmp_path: Path) -> None:
    write(tmp_path, '{"from_file": "yes"}', "seed.json")
    inline = load_stub_file(write(tmp_path, "kvstore:\n  a: hi\n  b: {hex: '00ff'}\n"))
    assert inline.kvstore == {"a": b"hi", "b": b"\x00\xff"}
    seeded = load_stub_file(write(tmp_path, "kvstore: seed.json\n", "t2.yaml"))
    assert seeded.kvstore == {"from_file": b"yes"}
    bad = problems(tmp_path, "kvstore:\n  a: {echo: true}\n")
    assert any(":2:7:" in p and "unknown key 'echo'" in p for p in bad)


def test_json_subset() -> None:
    assert subset({"key": "k"}, {"key": "k", "data": "x"})
    assert not subset({"key": "k"}, {"key": "other"})
    assert subset([1, {"a": 1}], [1, {"a": 1, "b": 2}])
    assert not subset([1], [1, 2])
    assert not subset(True, 1) and not subset(1, True)
    assert subset(1, 1.0)


# -- the JSON Schema agrees with the loader ------------------------------------------------
VALID = [
    "default: fail\n",
    "calls:\n",
    "calls:\n  - match: '*'\n    reply: ''\n",
    "calls:\n  - match: 'a:b:c'\n    replies: [x, {json: 1}, {error: e, body: {hex: '00'}}]\n",
    "calls:\n  - match: {namespace: kv}\n    when: {text: t, hex: '0x00'}\n    error: e\n"
    "    body: x\n    times: 0\n    delay_ms: 2.5\n",
    "calls:\n  - match: 'a:b:c'\n    reply: {exec: [cat], timeout_s: 2}\n",
    "calls:\n  - match: 'a:b:c'\n    reply: {echo: true}\n",
    "preset: tarmac\nkvstore: {a: x, b: {base64: aGk=}}\n",
    "preset: tarmac\ntarmac: {sql: 'sqlite:///x.db', kvstore: 'redis://h:6379', "
    "allow_http: ['127.0.0.1:8080', '*']}\n",
    "tarmac: {allow_http: example.com}\n",
]
INVALID = [
    "default: eror\n",
    "unknown: 1\n",
    "calls:\n  - reply: x\n",
    "calls:\n  - match: 'a:b'\n    reply: x\n",
    "calls:\n  - match: 'a:b:c'\n    repy: x\n",
    "calls:\n  - match: 'a:b:c'\n    reply: {text: x, json: 1}\n",
    "calls:\n  - match: 'a:b:c'\n    reply: {}\n",
    "calls:\n  - match: 'a:b:c'\n    reply: x\n    error: y\n",
    "calls:\n  - match: 'a:b:c'\n",
    "calls:\n  - match: 'a:b:c'\n    reply: x\n    body: y\n",
    "calls:\n  - match: 'a:b:c'\n    reply: x\n    times: -1\n",
    "calls:\n  - match: 'a:b:c'\n    reply: x\n    times: 1.5\n",
    "calls:\n  - match: 'a:b:c'\n    reply: {echo: false}\n",
    "calls:\n  - match: 'a:b:c'\n    reply: {text: x, timeout_s: 1}\n",
    "calls:\n  - match: 'a:b:c'\n    replies: []\n",
    "calls:\n  - match: 'a:b:c'\n    replies: [{error: e, extra: 1}]\n",
    "calls:\n  - match: 'a:b:c'\n    reply: 42\n",
    "calls:\n  - match: {ns: x}\n    reply: x\n",
    "calls:\n  - match: 'a:b:c'\n    when: {}\n    reply: x\n",
    "calls:\n  - match: 'a:b:c'\n    when: {hex: zz}\n    reply: x\n",
    "calls: {match: 'a:b:c'}\n",
    "preset: nope\n",
    "kvstore: {a: {echo: true}}\n",
    "calls:\n  - match: 'a:b:c'\n    reply: {exec: []}\n",
    "tarmac: {sqll: x}\n",
    "tarmac: {allow_http: 80}\n",
    "tarmac: {functions: [a.wasm]}\n",
    "tarmac: {sql: ''}\n",
]


@pytest.mark.parametrize("text", VALID)
def test_schema_and_loader_accept(tmp_path: Path, text: str) -> None:
    jsonschema.validate(yaml.safe_load(text) or {}, schema())
    load_stub_file(write(tmp_path, text))


@pytest.mark.parametrize("text", INVALID)
def test_schema_and_loader_reject(tmp_path: Path, text: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(text), schema())
    with pytest.raises(StubTableError):
        load_stub_file(write(tmp_path, text))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text("utf-8")), schema())
    load_stub_file(path)


def test_schema_is_itself_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
