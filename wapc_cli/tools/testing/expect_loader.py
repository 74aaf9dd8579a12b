"""A case's ``expect:`` block and its payload forms, read from marked YAML nodes.

``expect`` keys: one of ``response`` / ``response_hex`` / ``response_json``
(subset match) / ``response_msgpack`` (subset match) / ``response_file`` (a
snapshot); at most one of ``error`` / ``trap`` (text the message contains) and
``limit`` (timeout, fuel, memory); ``exit`` (the exit code ``wapc call`` would
give); ``host_calls`` (in order: ``match`` as in stub tables, optional
``payload`` / ``payload_hex`` / ``payload_json`` / ``payload_msgpack``);
``logs`` (text each of which some log line contains).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from ...runtime.confined_files import ConfinedFileError, read_confined_file
from ..stubs.model import PayloadTest
from ..stubs.source import Node, Source
from .model import LIMIT_NAMES, Expect, HostCallExpect, ResponseExpect

RESPONSE_KEYS = ("response", "response_hex", "response_json", "response_msgpack", "response_file")
OUTCOME_KEYS = ("error", "trap", "limit")
EXPECT_KEYS = (*RESPONSE_KEYS, *OUTCOME_KEYS, "exit", "host_calls", "logs")
HOST_CALL_KEYS = ("match", "payload", "payload_hex", "payload_json", "payload_msgpack")
MATCH_KEYS = ("binding", "namespace", "operation")


def parse_expect(source: Source, node: Node, what: str) -> Expect | None:
    entries = source.mapping(node, what)
    if entries is None:
        return None
    source.only_keys(entries, EXPECT_KEYS, what)
    responses = [k for k in RESPONSE_KEYS if k in entries]
    outcomes = [k for k in OUTCOME_KEYS if k in entries]
    for group in (responses, outcomes):
        if len(group) > 1:
            source.problem(entries[group[1]][0],
                           f"{what}: has both '{group[0]}' and '{group[1]}'; give one")
            return None
    if responses and outcomes:
        source.problem(entries[outcomes[0]][0], f"{what}: '{outcomes[0]}' and '{responses[0]}' "
                                                "cannot both hold (a failed call has no response)")
        return None
    outcome, outcome_text = "ok", None
    if outcomes:
        outcome = outcomes[0]
        value_node = entries[outcome][1]
        outcome_text = source.string(value_node, f"{what}.{outcome}")
        if outcome == "limit" and outcome_text is not None and outcome_text not in LIMIT_NAMES:
            source.problem(value_node, f"{what}.limit: expected one of {', '.join(LIMIT_NAMES)}, "
                                       f"got '{outcome_text}'")
    response = _response(source, responses[0], entries[responses[0]][1], what) \
        if responses else None
    exit_code = None
    if "exit" in entries:
        exit_code = source.integer(entries["exit"][1], f"{what}.exit")
    host_calls = None
    if "host_calls" in entries:
        host_calls = _host_calls(source, entries["host_calls"][1], f"{what}.host_calls")
    logs: tuple[str, ...] = ()
    if "logs" in entries:
        logs_node = entries["logs"][1]
        if isinstance(logs_node, yaml.SequenceNode):
            logs = tuple(t for item in logs_node.value
                         if (t := source.string(item, f"{what}.logs")) is not None)
        else:
            text = source.string(logs_node, f"{what}.logs")
            logs = (text,) if text is not None else ()
    return Expect(outcome, outcome_text, response, exit_code, host_calls, logs)


def _response(source: Source, key: str, node: Node, what: str) -> ResponseExpect | None:
    where = f"{what}.{key}"
    if key == "response_file":
        name = source.string(node, where)
        if name is None:
            return None
        if not name or "\0" in name:
            source.problem(node, f"{where}: expected a file name")
            return None
        # The snapshot need not exist yet (--update creates it); where it may be is checked
        # when it is read or written (inside the suite's folder).
        return ResponseExpect("file", source.base_dir / name, name)
    if key in ("response_json", "response_msgpack"):
        return ResponseExpect(key.removeprefix("response_"), source.value(node))
    data = payload_bytes(source, node, "payload" if key == "response" else "payload_hex", where)
    return ResponseExpect("text" if key == "response" else "hex", data) if data is not None \
        else None


def payload_bytes(
    source: Source, node: Node, form: str, where: str, encode: str = "json",
    folder_is: str = "the suite's folder",
) -> bytes | None:
    """The bytes of ``payload`` (text), ``payload_hex``, ``payload_file`` or ``payload_json``."""
    if form == "payload":
        text = source.string(node, where)
        return text.encode("utf-8") if text is not None else None
    if form == "payload_hex":
        text = source.string(node, where)
        if text is None:
            return None
        cleaned = "".join(text.split())
        cleaned = cleaned[2:] if cleaned[:2].lower() == "0x" else cleaned
        try:
            return bytes.fromhex(cleaned)
        except ValueError:
            source.problem(node, f"{where}: not valid hex (expected pairs of 0-9a-f)")
            return None
    if form == "payload_file":
        name = source.string(node, where)
        if name is None:
            return None
        try:
            return read_confined_file(source.base_dir, name, folder_is=folder_is)
        except ConfinedFileError as exc:
            source.problem(node, f"{where}: {exc}")
            return None
    return encode_node_value(source, node, encode, where)


def encode_node_value(source: Source, node: Node, encoding: str, where: str) -> bytes | None:
    value = source.value(node)
    try:
        if encoding == "json":
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode("utf-8")
        import msgpack

        return bytes(msgpack.packb(value, use_bin_type=True))
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError) as exc:
        source.problem(node, f"{where}: this value cannot be encoded as {encoding}: {exc}")
        return None


def _host_calls(source: Source, node: Node, what: str) -> tuple[HostCallExpect, ...] | None:
    if not isinstance(node, yaml.SequenceNode):
        source.problem(node, f"{what}: expected a list of host calls (empty: none at all), got "
                             f"{source.kind_of(node)}")
        return None
    calls = []
    for index, item in enumerate(node.value):
        call = _host_call(source, item, f"{what}[{index}]")
        if call is not None:
            calls.append(call)
    return tuple(calls)


def _host_call(source: Source, node: Node, what: str) -> HostCallExpect | None:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):  # just the match
        key = _match_text(source, node, str(node.value), what)
        return HostCallExpect(*key) if key is not None else None
    entries = source.mapping(node, what)
    if entries is None:
        return None
    source.only_keys(entries, HOST_CALL_KEYS, what)
    if "match" not in entries:
        source.problem(node, f"{what}: missing 'match' (binding:namespace:operation)")
        return None
    key = _match(source, entries["match"][1], f"{what}.match")
    forms = [k for k in HOST_CALL_KEYS[1:] if k in entries]
    if len(forms) > 1:
        source.problem(entries[forms[1]][0], f"{what}: has both '{forms[0]}' and '{forms[1]}'")
        return None
    test, shown = None, ""
    if forms:
        form = forms[0]
        value_node = entries[form][1]
        if form in ("payload_json", "payload_msgpack"):
            value = source.value(value_node)
            test = PayloadTest(form.removeprefix("payload_"), value)
            shown = f"{form}: {_compact(value)}"
        else:
            data = payload_bytes(source, value_node, form, f"{what}.{form}")
            if data is not None:
                test = PayloadTest("hex", data)
                shown = f"{form}: {value_node.value}"
    if key is None:
        return None
    return HostCallExpect(*key, payload=test, payload_shown=shown)


def _compact(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return repr(value)


def _match(source: Source, node: Node, what: str) -> tuple[str, str, str] | None:
    if isinstance(node, yaml.MappingNode):
        entries = source.mapping(node, what)
        if entries is None or not source.only_keys(entries, MATCH_KEYS, what):
            return None
        parts = [source.string(entries[k][1], f"{what}.{k}") if k in entries else "*"
                 for k in MATCH_KEYS]
        if any(p is None for p in parts):
            return None
        return str(parts[0]), str(parts[1]), str(parts[2])
    text = source.string(node, what)
    return _match_text(source, node, text, what) if text is not None else None


def _match_text(source: Source, node: Node, text: str, what: str) -> tuple[str, str, str] | None:
    """``binding:namespace:operation``, each part a glob, as a stub rule's ``match``."""
    if text == "*":
        return "*", "*", "*"
    parts = text.split(":", 2)  # the operation may itself contain ':'
    if len(parts) != 3:
        source.problem(node, f"{what}: expected 'binding:namespace:operation' (each part may "
                             f"be a glob), got '{text}'")
        return None
    return parts[0], parts[1], parts[2]
