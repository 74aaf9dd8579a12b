"""YAML stub tables -> :class:`StubTable`, with every problem at ``file:line:column``.

The format is documented in docs/stubs.md and described by
``wapc_cli/schemas/stubs.schema.json``; tests keep the two in step.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

import yaml

from ...errors import InputFileError
from ...runtime.payload import read_user_file
from .linear_regex import compile_pattern
from .model import DEFAULTS, PRESETS, Answer, Body, PayloadTest, Rule, StubTable
from .reply_forms import exec_body, guest_body
from .source import Node, Source

TOP_KEYS = ("default", "preset", "kvstore", "tarmac", "calls")
RULE_KEYS = ("name", "match", "when", "reply", "replies", "error", "body", "delay_ms", "times")
MATCH_KEYS = ("binding", "namespace", "operation")
WHEN_KEYS = ("text", "regex", "hex", "json", "msgpack")
FORMS = ("text", "hex", "base64", "file", "json", "msgpack", "echo", "exec", "guest")
DATA_FORMS = ("text", "hex", "base64", "file", "json", "msgpack")  # no per-call forms
#: Bounds of the two durations a table sets (a day): larger figures are typos,
#: and ``time.sleep`` / ``select`` refuse some of them with an OverflowError.
MAX_DELAY_MS = 86_400_000.0
#: The largest stub table read: PyYAML composes in pure Python, so a far larger
#: file would keep a run waiting for minutes before the guest even starts.
MAX_TABLE_BYTES = 64 << 20


def load_stub_file(path: Path) -> StubTable:
    """Load and check one table; raises StubTableError listing every problem."""
    source = Source(path)
    table = parse_table(source, _read_text(source, "stub table"))
    source.raise_if_any()
    assert table is not None
    return table


def check_stub_file(path: Path) -> tuple[StubTable | None, Source]:
    """Like :func:`load_stub_file`, but hands back the problems instead of raising."""
    source = Source(path)
    table = parse_table(source, _read_text(source, "stub table"))
    source.problems.sort(key=lambda p: (p.file, p.line, p.column))
    return (table if not source.problems else None), source


def _read_text(source: Source, what: str) -> str:
    data = read_user_file(str(source.path), what, max_bytes=MAX_TABLE_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{source.display}: {what} is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def parse_table(source: Source, text: str) -> StubTable | None:
    root = source.compose(text)
    if root is None:
        if not source.problems:
            source.problem(None, "empty stub table; expected a mapping with 'calls:'")
        return None
    if isinstance(root, yaml.SequenceNode):  # by its shape, maybe a kwctl session file
        from ..kubewarden.session import looks_like_session, parse_session_node

        if not looks_like_session(root):
            return parse_table_node(source, root)
        exchanges = parse_session_node(source, root)
        if exchanges is None:
            return None
        return StubTable(str(source.path), preset="kubewarden", kwctl_session=exchanges)
    return parse_table_node(source, root)


def parse_table_node(source: Source, root: Node) -> StubTable | None:
    """A table from an already-composed node (a test suite's inline ``stubs:``).

    Problems go to ``source``, at the node's own line and column.
    """
    entries = source.mapping(root, "stub table")
    if entries is None:
        return None
    source.only_keys(entries, TOP_KEYS, "stub table")
    default = _choice(source, entries, "default", DEFAULTS)
    preset = _choice(source, entries, "preset", PRESETS)
    kvstore = None
    if "kvstore" in entries:
        kvstore = _kvstore(source, entries["kvstore"][1])
    tarmac = None
    if "tarmac" in entries:
        from .tarmac_block import parse_tarmac_block

        tarmac = parse_tarmac_block(source, entries["tarmac"][1])
    rules: list[Rule] = []
    if "calls" in entries:
        calls = entries["calls"][1]
        if isinstance(calls, yaml.SequenceNode):
            for index, node in enumerate(calls.value):
                rule = _rule(source, node, index)
                if rule is not None:
                    rules.append(rule)
        elif not _is_null(calls):
            source.problem(calls, f"calls: expected a list of rules, got {source.kind_of(calls)}")
    return StubTable(str(source.path), tuple(rules), default, preset, kvstore, tarmac)


def _is_null(node: Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _choice(
    source: Source, entries: dict[str, tuple[Node, Node]], key: str, choices: tuple[str, ...]
) -> str | None:
    if key not in entries:
        return None
    node = entries[key][1]
    value = source.string(node, key)
    if value is not None and value not in choices:
        source.problem(node, f"{key}: expected one of {', '.join(choices)}, got '{value}'")
        return None
    return value


# -- rules ---------------------------------------------------------------------
def _rule(source: Source, node: Node, index: int) -> Rule | None:
    what = f"calls[{index}]"
    entries = source.mapping(node, what)
    if entries is None:
        return None
    before = len(source.problems)
    source.only_keys(entries, RULE_KEYS, what)
    name = source.string(entries["name"][1], f"{what}.name") if "name" in entries else None
    if "match" not in entries:
        source.problem(node, f"{what}: missing 'match' (binding:namespace:operation)")
        key: tuple[str, str, str] | None = None
    else:
        key = _match(source, entries["match"][1], f"{what}.match")
    when = _when(source, entries["when"][1], f"{what}.when") if "when" in entries else ()
    answers = _answers(source, node, entries, what)
    delay = times = None
    if "delay_ms" in entries:
        delay = source.number(entries["delay_ms"][1], f"{what}.delay_ms", maximum=MAX_DELAY_MS)
    if "times" in entries:
        times = source.integer(entries["times"][1], f"{what}.times")
    if len(source.problems) > before or key is None or answers is None:
        return None
    label = name or f"{Path(source.display).name}:{node.start_mark.line + 1}"
    return Rule(label, *key, when, answers, (delay or 0.0) / 1000.0, times)


def _match(source: Source, node: Node, what: str) -> tuple[str, str, str] | None:
    if isinstance(node, yaml.MappingNode):
        entries = source.mapping(node, what)
        if entries is None or not source.only_keys(entries, MATCH_KEYS, what):
            return None
        parts = []
        for key in MATCH_KEYS:
            value = source.string(entries[key][1], f"{what}.{key}") if key in entries else "*"
            if value is None:
                return None
            parts.append(value)
        return parts[0], parts[1], parts[2]
    text = source.string(node, what)
    if text is None:
        return None
    if text == "*":
        return "*", "*", "*"
    parts = text.split(":", 2)  # the operation may itself contain ':'
    if len(parts) != 3:
        source.problem(
            node,
            f"{what}: expected 'binding:namespace:operation' (each part may be a glob), "
            f"got '{text}'",
        )
        return None
    return parts[0], parts[1], parts[2]


def _when(source: Source, node: Node, what: str) -> tuple[PayloadTest, ...]:
    entries = source.mapping(node, what)
    if entries is None:
        return ()
    source.only_keys(entries, WHEN_KEYS, what)
    if not entries:
        source.problem(node, f"{what}: expected at least one of {', '.join(WHEN_KEYS)}")
    tests = []
    for kind, (_, value_node) in entries.items():
        where = f"{what}.{kind}"
        if kind == "text":
            text = source.string(value_node, where)
            if text is not None:
                tests.append(PayloadTest("text", text))
        elif kind == "regex":
            pattern = source.string(value_node, where)
            if pattern is not None:
                compiled, problem = compile_pattern(pattern)
                if compiled is not None:
                    tests.append(PayloadTest("regex", compiled))
                else:
                    source.problem(value_node, f"{where}: {problem}")
        elif kind == "hex":
            data = _hex(source, value_node, where)
            if data is not None:
                tests.append(PayloadTest("hex", data))
        elif kind in ("json", "msgpack"):
            tests.append(PayloadTest(kind, source.value(value_node)))
    return tuple(tests)


def _answers(
    source: Source, node: Node, entries: dict[str, tuple[Node, Node]], what: str
) -> tuple[Answer, ...] | None:
    given = [k for k in ("reply", "replies", "error") if k in entries]
    if len(given) != 1:
        if given:
            source.problem(
                entries[given[1]][0],
                f"{what}: has both '{given[0]}' and '{given[1]}'; give exactly one of "
                "reply, replies, error",
            )
        else:
            source.problem(node, f"{what}: needs one of reply, replies, error")
        return None
    if "body" in entries and given[0] != "error":
        source.problem(entries["body"][0], f"{what}: 'body' goes with 'error' only")
        return None
    kind = given[0]
    value = entries[kind][1]
    if kind == "reply":
        body = parse_body(source, value, f"{what}.reply")
        return (Answer(body),) if body is not None else None
    if kind == "error":
        answer = _error_answer(source, value, entries.get("body"), what)
        return (answer,) if answer is not None else None
    if not isinstance(value, yaml.SequenceNode) or not value.value:
        source.problem(value, f"{what}.replies: expected a non-empty list of replies")
        return None
    answers = []
    for index, item in enumerate(value.value):
        answer = _sequence_item(source, item, f"{what}.replies[{index}]")
        if answer is not None:
            answers.append(answer)
    return tuple(answers) if len(answers) == len(value.value) else None


def _sequence_item(source: Source, node: Node, what: str) -> Answer | None:
    if isinstance(node, yaml.MappingNode):
        keys = {str(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        if "error" in keys:
            entries = source.mapping(node, what)
            if entries is None or not source.only_keys(entries, ("error", "body"), what):
                return None
            return _error_answer(source, entries["error"][1], entries.get("body"), what)
    body = parse_body(source, node, what)
    return Answer(body) if body is not None else None


def _error_answer(
    source: Source, node: Node, body: tuple[Node, Node] | None, what: str
) -> Answer | None:
    message = source.string(node, f"{what}.error")
    parsed = parse_body(source, body[1], f"{what}.body") if body is not None else Body()
    if message is None or parsed is None:
        return None
    return Answer(parsed, message)


# -- reply bodies ----------------------------------------------------------------
def parse_body(
    source: Source, node: Node, what: str, forms: tuple[str, ...] = FORMS
) -> Body | None:
    """A reply: a plain string (UTF-8 text) or a mapping with exactly one form."""
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):
        return Body(str(node.value).encode("utf-8"))
    if not isinstance(node, yaml.MappingNode):
        source.problem(
            node, f"{what}: expected a string or a mapping with one of {', '.join(forms)}; "
            f"got {source.kind_of(node)}",
        )
        return None
    entries = source.mapping(node, what)
    if entries is None:
        return None
    modifiers = ("timeout_s", "operation") if "exec" in forms else ()
    if not source.only_keys(entries, forms + modifiers, what):
        return None
    given = [k for k in entries if k in forms]
    if len(given) != 1:
        if given:
            source.problem(
                node, f"{what}: has {len(given)} forms ({', '.join(given)}); give exactly one"
            )
        else:
            source.problem(node, f"{what}: expected one of {', '.join(forms)}")
        return None
    form = given[0]
    value = entries[form][1]
    where = f"{what}.{form}"
    if "timeout_s" in entries and form != "exec":
        source.problem(entries["timeout_s"][0], f"{what}: 'timeout_s' goes with 'exec' only")
        return None
    if "operation" in entries and form != "guest":
        source.problem(entries["operation"][0], f"{what}: 'operation' goes with 'guest' only")
        return None
    if form == "guest":
        return guest_body(source, value, entries.get("operation"), where)
    if form == "exec":
        return exec_body(source, value, entries.get("timeout_s"), where)
    if form == "echo":
        if source.value(value) is not True:
            source.problem(value, f"{where}: expected true")
            return None
        return Body(echo=True)
    data = _data(source, form, value, where)
    return Body(data) if data is not None else None


def _data(source: Source, form: str, node: Node, where: str) -> bytes | None:
    if form == "text":
        text = source.string(node, where)
        return text.encode("utf-8") if text is not None else None
    if form == "hex":
        return _hex(source, node, where)
    if form == "base64":
        text = source.string(node, where)
        if text is None:
            return None
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            source.problem(node, f"{where}: not valid base64")
            return None
    if form == "file":
        name = source.string(node, where)
        return source.relative_file(node, name, where) if name is not None else None
    value = source.value(node)
    try:
        if form == "json":
            return json.dumps(
                value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode("utf-8")
        import msgpack

        return bytes(msgpack.packb(value, use_bin_type=True))
    # OverflowError: msgpack has no integer beyond 64 bits.
    except (TypeError, ValueError, OverflowError) as exc:
        source.problem(node, f"{where}: this value cannot be encoded as {form}: {exc}")
        return None


def _hex(source: Source, node: Node, where: str) -> bytes | None:
    text = source.string(node, where)
    if text is None:
        return None
    cleaned = "".join(text.split())
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        source.problem(node, f"{where}: not valid hex (expected pairs of 0-9a-f)")
        return None


# -- the tarmac preset's key/value seed ------------------------------------------------
def _kvstore(source: Source, node: Node) -> dict[str, bytes] | None:
    """``kvstore:`` is a mapping key -> value, or the path of a JSON/YAML file holding one.

    A seed file is read like a ``file:`` reply (a regular file inside the table's
    folder), and its problems never quote what it holds.
    """
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):
        name = str(node.value)
        data = source.relative_file(node, name, "kvstore")
        if data is None:
            return None
        seed = Source(source.base_dir / name, quote_values=False)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            source.problem(node, f"kvstore: seed file '{name}' is not UTF-8 text "
                                 f"(bad byte at offset {exc.start})")
            return None
        root = seed.compose(text)
        values = _kv_mapping(seed, root, "kvstore seed") if root is not None else {}
        source.problems.extend(seed.problems)
        return values
    return _kv_mapping(source, node, "kvstore")


def _kv_mapping(source: Source, node: Node, what: str) -> dict[str, bytes] | None:
    entries = source.mapping(node, what)
    if entries is None:
        return None
    values: dict[str, bytes] = {}
    for index, (key, (_, value_node)) in enumerate(entries.items()):
        where = f"{what}.{key}" if source.quote_values else f"{what} value #{index + 1}"
        body = parse_body(source, value_node, where, DATA_FORMS)
        if body is not None:
            values[key] = body.data
    return values
