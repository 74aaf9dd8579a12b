"""The kvstore callbacks and protobuf replies against the code they replaced, byte for byte.

``OldKVStore`` is ``wapc_cli/tools/tarmac/kvstore.py`` as it was, on the old
protobuf sniff (``old_parse``/``old_has_field``: vtprotobuf's rules as
``messages.py`` had them), the old replies (the protobuf package builds every
protobuf reply; the general encoder writes every JSON one) and the old JSON
and base64 readers from ``test_tarmac_fast_wire``. Both stores get the same
generated requests, JSON and protobuf, well and badly formed; every reply and
the store left behind must be the same.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_tarmac_fast_wire import (
    FUZZ,
    TEXT,
    old_go_b64decode,
    old_go_json,
    old_go_unmarshal,
    old_json_reply,
    reply_outcome,
)

from wapc_cli.runtime.hostcalls import HostReply
from wapc_cli.tools.tarmac import messages, wire
from wapc_cli.tools.tarmac.kv_backends import KVBackend, KVError, MemoryKV
from wapc_cli.tools.tarmac.kvstore import KVStore

# -- the oracle: the code as it was ------------------------------------------------------
OLD_KINDS = {"tarmac.kvstore.KVStoreGet": {1: ("key", "string")},
             "tarmac.kvstore.KVStoreSet": {1: ("key", "string"), 2: ("data", "bytes")},
             "tarmac.kvstore.KVStoreDelete": {1: ("key", "string")}}


def old_parse(full_name: str, payload: bytes) -> Any | None:
    kinds = OLD_KINDS[full_name]
    fields = _old_vt_fields(payload, frozenset(kinds))
    if fields is None:
        return None
    values = {kinds[number][0]: (raw.decode("utf-8", "replace")
                                 if kinds[number][1] == "string" else raw)
              for number, raw in fields.items()}
    return messages.build(full_name, **values)


def _old_vt_fields(payload: bytes, known: frozenset[int]) -> dict[int, bytes] | None:
    found: dict[int, bytes] = {}
    index, end = 0, len(payload)
    while index < end:
        start = index
        tag, index = _old_go_varint(payload, index)
        if tag is None:
            return None
        number = ((tag >> 3) + (1 << 31)) % (1 << 32) - (1 << 31)
        wire_type = tag & 7
        if wire_type == 4 or number <= 0:
            return None
        if number in known:
            if wire_type != 2:
                return None
            length, index = _old_go_varint(payload, index)
            if length is None or index + length > end:
                return None
            found[number] = payload[index:index + length]
            index += length
        else:
            skipped = _old_vt_skip(payload, start)
            if skipped is None or skipped > end:
                return None
            index = skipped
    return found


def _old_vt_skip(data: bytes, index: int) -> int | None:
    depth, end = 0, len(data)
    while index < end:
        tag, index = _old_go_varint(data, index)
        if tag is None:
            return None
        wire_type = tag & 7
        if wire_type == 0:
            value, index = _old_go_varint(data, index)
            if value is None:
                return None
        elif wire_type == 1:
            index += 8
        elif wire_type == 2:
            length, index = _old_go_varint(data, index)
            if length is None or length >= 1 << 63:
                return None
            index += length
        elif wire_type == 3:
            depth += 1
        elif wire_type == 4:
            if depth == 0:
                return None
            depth -= 1
        elif wire_type == 5:
            index += 4
        else:
            return None
        if depth == 0:
            return index
    return None


def _old_go_varint(data: bytes, index: int) -> tuple[int | None, int]:
    value = shift = 0
    while True:
        if shift >= 64 or index >= len(data):
            return None, index
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & ((1 << 64) - 1), index
        shift += 7


def old_has_field(payload: bytes, number: int) -> bool:
    fields = _old_vt_fields(payload, frozenset({number}))
    return fields is not None and number in fields


def old_status_reply(full_name: str, code: int, text: str, **fields: Any) -> HostReply:
    reply = messages.build(full_name, status=messages.build("tarmac.Status", code=code,
                                                            status=text), **fields)
    return HostReply(reply.SerializeToString(), None if code == 200 else text, wire.SOURCE)


def _status(code: int, text: str) -> dict[str, Any]:
    return {"code": code, "status": text}


class OldKVStore:
    def __init__(self, backend: KVBackend) -> None:
        self.backend = backend

    def answer(self, operation: str, payload: bytes) -> HostReply:
        return getattr(self, operation)(payload)  # type: ignore[no-any-return]

    def get(self, payload: bytes) -> HostReply:
        msg = old_parse("tarmac.kvstore.KVStoreGet", payload)
        if msg is None:
            return self._get_json(payload)
        code, text, data = 200, "OK", b""
        if not msg.key:
            code, text = 400, "key cannot be nil"
        else:
            try:
                data = self.backend.get(msg.key)
            except KVError as exc:
                code, text = 404, f"Unable to fetch key {exc}"
        return old_status_reply("tarmac.kvstore.KVStoreGetResponse", code, text, data=data)

    def _get_json(self, payload: bytes) -> HostReply:
        code, text, data = 200, "OK", ""
        try:
            key = old_go_unmarshal(payload, {"key": ""})["key"]
        except wire.GoJSONError:
            code, text = 400, "Error Parsing Input"
        if code == 200:
            try:
                data = base64.b64encode(self.backend.get(key)).decode("ascii")
            except KVError as exc:
                code, text = 404, f"Unable to fetch key {key} - {exc}"
        return old_json_reply(code, text, {"status": _status(code, text), "data": data})

    def set(self, payload: bytes) -> HostReply:
        msg = old_parse("tarmac.kvstore.KVStoreSet", payload)
        if msg is None:
            return self._set_json(payload)
        code, text = 200, "OK"
        if not msg.key:
            code, text = 400, "key cannot be nil"
        if not old_has_field(payload, 2):
            code, text = 400, "Data cannot be nil"
        if code == 200:
            try:
                self.backend.set(msg.key, msg.data)
            except KVError as exc:
                code, text = 500, f"Unable to store data - {exc}"
        return old_status_reply("tarmac.kvstore.KVStoreSetResponse", code, text)

    def _set_json(self, payload: bytes) -> HostReply:
        code, text = 200, "OK"
        try:
            request = old_go_unmarshal(payload, {"key": "", "data": ""})
        except wire.GoJSONError:
            code, text = 400, "Error Parsing Input"
            request = {"key": "", "data": ""}
        data = b""
        try:
            data = old_go_b64decode(request["data"])
        except wire.GoBase64Error as exc:
            code, text = 400, f"Unable to decode data - {exc}"
        if code == 200:
            try:
                self.backend.set(request["key"], data)
            except KVError as exc:
                code, text = 500, f"Unable to store data using key {request['key']} - {exc}"
        return old_json_reply(code, text, {"status": _status(code, text)})

    def delete(self, payload: bytes) -> HostReply:
        msg = old_parse("tarmac.kvstore.KVStoreDelete", payload)
        if msg is None:
            return self._delete_json(payload)
        code, text = 200, "OK"
        if not msg.key:
            code, text = 400, "key cannot be nil"
        else:
            try:
                self.backend.delete(msg.key)
            except KVError as exc:
                code, text = 404, f"Unable to delete key {exc}"
        return old_status_reply("tarmac.kvstore.KVStoreDeleteResponse", code, text)

    def _delete_json(self, payload: bytes) -> HostReply:
        code, text = 200, "OK"
        key = ""
        try:
            key = old_go_unmarshal(payload, {"key": ""})["key"]
        except wire.GoJSONError:
            code, text = 400, "Error Parsing Input"
        if code == 200:
            try:
                self.backend.delete(key)
            except KVError as exc:
                code, text = 404, f"Unable to delete key {key} - {exc}"
        return old_json_reply(code, text, {"status": _status(code, text)})

    def keys(self, payload: bytes) -> HostReply:
        code, text = 200, "OK"
        try:
            keys = self.backend.keys()
        except KVError as exc:
            code, text, keys = 500, f"Unable to fetch keys - {exc}", None
        if not payload:
            return old_json_reply(code, text, {"keys": keys, "status": _status(code, text)})
        return old_status_reply("tarmac.kvstore.KVStoreKeysResponse", code, text,
                                keys=keys or [])


# -- generated requests -------------------------------------------------------------------
STORED = st.sampled_from(["greeting", "seeded", "<&>", "k"])  # seeded, or set by a call
KEY_TEXT = st.one_of(STORED, STORED, STORED, st.sampled_from(["", "K", "a b"]), TEXT,
                     st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                             min_size=95, max_size=110))


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _record(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, bytes]:
    operation = draw(st.sampled_from(["get", "set", "delete", "keys"]))
    form = draw(st.sampled_from(["plain", "json", "proto", "raw", "craft"]))
    key = draw(KEY_TEXT)
    data = draw(st.binary(max_size=12))
    if form == "plain":
        return operation, b'{"key":"' + key.encode("utf-8", "surrogatepass") + b'"}'
    if form == "json":
        encoded = draw(st.one_of(st.just(base64.b64encode(data).decode("ascii")), TEXT))
        name = draw(st.sampled_from(["key", "KEY", "Key", "kEy"]))
        body = {name: key, "data": encoded} if operation == "set" else {name: key}
        if draw(st.booleans()):
            body = {"other": draw(TEXT), **body}
        payload = old_go_json(body).encode("utf-8", "surrogatepass")  # \u003c and all
        return operation, draw(st.sampled_from([payload, payload.replace(b":", b": "),
                                                b" " + payload, payload + b"x"]))
    if form == "proto":
        raw_key = key.encode("utf-8", "surrogatepass") if draw(st.booleans()) else \
            draw(st.binary(max_size=8))
        parts = [_record(1, raw_key)] if draw(st.booleans()) or not raw_key else []
        if operation == "set" and draw(st.booleans()):
            parts.append(_record(2, data))
        extra = draw(st.sampled_from([b"", b"\x18\x05", b"\x1b\x1c", b"\x1c", b"\x08",
                                      b"\x25abcd", b"\x21" + b"\x00" * 8, b"\x0a\x05ab"]))
        parts.insert(draw(st.integers(0, len(parts))), extra)
        return operation, b"".join(parts)
    if form == "craft":  # a JSON-looking payload whose bytes close the group and parse
        filler = draw(st.integers(95, 110))
        tail = draw(st.sampled_from([b'|%ab"}', b'|"}', b"|", b'%ab"}', b'|\x25\x22\x7d']))
        return operation, b'{"key":"' + b"a" * filler + tail
    return operation, draw(st.binary(max_size=40))


SEED = {"greeting": b"hi", "seeded": b"s", "<&>": b"\x00\xff"}


@FUZZ
@given(st.lists(requests(), min_size=1, max_size=8))
def test_every_kvstore_reply_and_the_store_are_as_before(
        calls: list[tuple[str, bytes]]) -> None:
    new_backend, old_backend = MemoryKV(SEED), MemoryKV(SEED)
    new, old = KVStore(new_backend), OldKVStore(old_backend)
    for operation, payload in calls:
        assert reply_outcome(new.answer, operation, payload) == \
            reply_outcome(old.answer, operation, payload), (operation, payload)
    assert new_backend.data == old_backend.data


def test_an_empty_store_and_keys_needing_escapes() -> None:
    for seed in ({}, {"a\u2028<b>": b"1", "plain": b"2"}, {"x" * 200: b""}):
        new, old = KVStore(MemoryKV(seed)), OldKVStore(MemoryKV(seed))
        for payload in (b"", b"x"):
            assert reply_outcome(new.keys, payload) == reply_outcome(old.keys, payload)


def test_escaped_surrogates_and_odd_json_requests() -> None:
    # json reads "\ud800" as a lone surrogate; the reply that names the key cannot be
    # encoded, and fails the same way it did.
    for payload in (b'{"key":"\\ud800"}', b'{"key":"\\ud800","data":"aGk="}', b'{"Key":"k"}',
                    b'{"key":"greeting","key":"seeded"}', b'{"key":"k\\u003c"}', b"null",
                    b'{"key":null}', b'{"key":"a\\"b"}', b'{"key": "greeting"}'):
        for operation in ("get", "set", "delete"):
            new, old = KVStore(MemoryKV(SEED)), OldKVStore(MemoryKV(SEED))
            assert reply_outcome(new.answer, operation, payload) == \
                reply_outcome(old.answer, operation, payload), (operation, payload)


def test_a_json_looking_request_that_parses_as_protobuf_gets_protobuf() -> None:
    # 116 bytes: the key's "|" ends the group, "%ab\"}" is a fixed32 record: UnmarshalVT
    # accepts it (an empty key), so Tarmac answers protobuf, and so must the fast path.
    payload = b'{"key":"' + b"a" * 102 + b'|%ab"}'
    assert old_parse("tarmac.kvstore.KVStoreGet", payload) is not None
    assert wire.plain_key_request(payload) is None
    reply = KVStore(MemoryKV(SEED)).get(payload)
    assert reply == OldKVStore(MemoryKV(SEED)).get(payload)
    assert reply.error == "key cannot be nil" and not reply.body.startswith(b"{")


@FUZZ
@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
               max_size=wire.PLAIN_KEY_MAX_LENGTH))
def test_plain_key_requests_are_never_protobuf_and_read_as_json(key: str) -> None:
    payload = b'{"key":"' + key.encode("ascii") + b'"}'
    found = wire.plain_key_request(payload)
    if found is None:
        assert len(payload) > wire.PLAIN_KEY_MAX_LENGTH or '"' in key or "\\" in key
        return
    for name in OLD_KINDS:
        assert old_parse(name, payload) is None
    assert found == old_go_unmarshal(payload, {"key": ""})["key"]


# -- protobuf replies ---------------------------------------------------------------------
INT32 = st.one_of(st.sampled_from([0, 200, 404, -1, 2**31 - 1, -(2**31)]), st.integers())
FIELD_VALUES = st.one_of(st.binary(max_size=300), TEXT, st.integers(), st.booleans(),
                         st.none(), st.lists(TEXT, max_size=4),
                         st.lists(st.one_of(TEXT, st.binary(max_size=3)), max_size=3),
                         st.lists(TEXT, max_size=3).map(tuple),
                         st.sampled_from([2**63 - 1, -(2**63), 2**63, b"", "", []]))


RESPONSES = ["tarmac.kvstore.KVStoreGetResponse", "tarmac.kvstore.KVStoreSetResponse",
             "tarmac.kvstore.KVStoreDeleteResponse", "tarmac.kvstore.KVStoreKeysResponse",
             "tarmac.kvstore.KVStoreGet", "tarmac.sql.SQLExecResponse",
             "tarmac.sql.SQLQueryResponse", "tarmac.http.HTTPClientResponse"]


@FUZZ
@given(st.sampled_from(RESPONSES), INT32, st.one_of(st.just("OK"), TEXT),
       st.dictionaries(st.sampled_from(["data", "keys", "columns", "last_insert_id",
                                        "rows_affected", "headers", "body", "nope"]),
                       FIELD_VALUES, max_size=3))
def test_status_replies_are_the_protobuf_packages_bytes(
        name: str, code: int, text: str, fields: dict[str, Any]) -> None:
    assert reply_outcome(wire.status_reply, name, code, text, **fields) == \
        reply_outcome(old_status_reply, name, code, text, **fields)


@pytest.mark.parametrize("message, fields", [
    ("tarmac.sql.SQLQueryResponse", {"data": b"[]", "columns": ["a", "b"]}),
    ("tarmac.sql.SQLQueryResponse", {"columns": ["\u2028"], "data": b"x" * 200}),
    ("tarmac.sql.SQLExecResponse", {"last_insert_id": -5, "rows_affected": 2**40}),
    ("tarmac.kvstore.KVStoreKeysResponse", {"keys": ["", "a", "é" * 100]}),
    ("tarmac.kvstore.KVStoreGetResponse", {"data": b"\x00" * 130}),
])
def test_status_replies_with_several_fields(message: str, fields: dict[str, Any]) -> None:
    for code, text in ((200, "OK"), (206, "x" * 200), (0, ""), (-3, "\ud800")):
        assert reply_outcome(wire.status_reply, message, code, text, **fields) == \
            reply_outcome(old_status_reply, message, code, text, **fields)
