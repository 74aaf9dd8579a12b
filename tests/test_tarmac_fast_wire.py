"""The Tarmac preset's faster wire code against the code it replaced, byte for byte.

The ``old_*`` functions below are copies of ``wapc_cli/tools/tarmac/wire.py``
before the exact-type dispatch, the reply templates, the cached JSON decoder
and the binascii base64 path (``go_float`` and ``go_time`` did not change and
are used as they are). Every test feeds generated values to both and wants
the same text, or the same exception with the same message.
"""

from __future__ import annotations

import base64
import collections
import datetime
import enum
import json
import re
import types
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wapc_cli.runtime.hostcalls import HostReply
from wapc_cli.tools.tarmac import wire
from wapc_cli.tools.tarmac.wire import go_float, go_time

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- the oracle: the code as it was ------------------------------------------------------
_OLD_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                "<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                "\u2028": "\\u2028", "\u2029": "\\u2029"}
_OLD_NEEDS_ESCAPE = re.compile('["\\\\<>&\u2028\u2029\x00-\x1f]')


def old_go_string(text: str) -> str:
    if _OLD_NEEDS_ESCAPE.search(text) is None:
        return f'"{text}"'
    return '"' + _OLD_NEEDS_ESCAPE.sub(_old_escape_one, text) + '"'


def _old_escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _OLD_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def old_go_json(value: Any, *, sort_keys: bool = False) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return old_go_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return old_go_string(base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return old_go_string(go_time(value))
    if isinstance(value, Mapping):
        items = sorted(value.items()) if sort_keys else list(value.items())
        return "{" + ",".join(f"{old_go_string(str(k))}:{old_go_json(v, sort_keys=sort_keys)}"
                              for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(old_go_json(item, sort_keys=sort_keys) for item in value) + "]"
    return old_go_string(str(value))


def old_json_reply(code: int, text: str, fields: dict[str, Any]) -> HostReply:
    body = old_go_json(fields).encode("utf-8")
    return HostReply(body, None if code == 200 else text, wire.SOURCE)


def _old_no_constants(name: str) -> Any:
    raise wire.GoJSONError(f"invalid character '{name[0]}' looking for beginning of value")


def old_go_unmarshal(payload: bytes, fields: Mapping[str, Any]) -> dict[str, Any]:
    text = payload.decode("utf-8", "replace")
    try:
        value = json.loads(text, parse_constant=_old_no_constants)
    except json.JSONDecodeError as exc:
        raise wire.GoJSONError(str(exc)) from None
    result = {name: (dict(zero) if isinstance(zero, dict) else zero)
              for name, zero in fields.items()}
    if value is None:
        return result
    if not isinstance(value, dict):
        raise wire.GoJSONError("cannot unmarshal into a struct")
    lowered = {name.lower(): name for name in fields}
    for key, item in value.items():
        name = key if key in fields else lowered.get(key.lower())
        if name is None:
            continue
        if item is None:
            continue
        result[name] = _old_typed(fields[name], item, name)
    return result


def _old_typed(zero: Any, item: Any, name: str) -> Any:
    if isinstance(zero, bool):
        if isinstance(item, bool):
            return item
    elif isinstance(zero, float):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            return float(item)
    elif isinstance(zero, str):
        if isinstance(item, str):
            return item
    elif isinstance(zero, dict) and isinstance(item, dict) and all(
            isinstance(v, str) or v is None for v in item.values()):
        return {k: v or "" for k, v in item.items()}
    raise wire.GoJSONError(f"cannot unmarshal {type(item).__name__} into field {name}")


_OLD_ALPHABET = {c: i for i, c in enumerate(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def old_go_b64decode(text: str) -> bytes:
    src = text.encode("utf-8", "surrogatepass")
    out = bytearray()
    si = 0
    while True:
        quantum: list[int] = []
        while len(quantum) < 4:
            if si == len(src):
                if not quantum:
                    return bytes(out)
                raise wire.GoBase64Error(si - len(quantum), bytes(out))
            char = src[si]
            si += 1
            if char in _OLD_ALPHABET:
                quantum.append(_OLD_ALPHABET[char])
                continue
            if char in (0x0A, 0x0D):
                continue
            if char != 0x3D or len(quantum) < 2:
                raise wire.GoBase64Error(si - 1, bytes(out))
            if len(quantum) == 2:
                while si < len(src) and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == len(src):
                    raise wire.GoBase64Error(len(src), bytes(out))
                if src[si] != 0x3D:
                    raise wire.GoBase64Error(si - 1, bytes(out))
                si += 1
            while si < len(src) and src[si] in (0x0A, 0x0D):
                si += 1
            value = 0
            for index, sextet in enumerate(quantum):
                value |= sextet << (18 - 6 * index)
            out += value.to_bytes(3, "big")[: len(quantum) - 1]
            if si < len(src):
                raise wire.GoBase64Error(si, bytes(out))
            return bytes(out)
        value = quantum[0] << 18 | quantum[1] << 12 | quantum[2] << 6 | quantum[3]
        out += value.to_bytes(3, "big")


# -- comparing ----------------------------------------------------------------------------
def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What a call gives: its value, or its exception's type, text and Go offsets."""
    try:
        return ("value", function(*args, **kwargs))
    except Exception as exc:  # the same failure, with the same text, is the same outcome
        return ("raised", type(exc), str(exc), getattr(exc, "offset", None),
                getattr(exc, "partial", None))


def reply_outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    found = outcome(function, *args, **kwargs)
    if found[0] == "value":
        reply = found[1]
        return ("value", reply.body, reply.error, reply.source)
    return found


# -- generated values ---------------------------------------------------------------------
#: Characters encoding/json escapes or that sit next to the escapes' edges.
SPECIAL = st.sampled_from(['"', "\\", "<", ">", "&", "\u2028", "\u2029", "\x00", "\x1f",
                           "\x08", "\x0c", "\n", "\r", "\t", "\x7f", "\u2027", "\ufffd",
                           "\ud800", "\udfff", "é", "\U0001f600", "/", "="])
TEXT = st.text(st.one_of(st.characters(), SPECIAL), max_size=24)


class Level(enum.IntEnum):
    LOW = 1


class Shown:
    def __str__(self) -> str:
        return "<shown & told>"


class Text(str):
    pass


class Number(int):
    pass


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-10, 10),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([float("nan"), float("inf"), -0.0, 1e21, 1e-7, 5e-324]),
    TEXT, st.binary(max_size=16), st.binary(max_size=8).map(bytearray),
    st.binary(max_size=8).map(memoryview),
    st.datetimes(timezones=st.sampled_from([None, datetime.timezone.utc,
                                            datetime.timezone(datetime.timedelta(hours=-5))])),
    st.dates(), st.times(),
    st.sampled_from([Level.LOW, Shown(), Text("<sub>"), Number(7), complex(3, 0)]),
)
KEYS = st.one_of(TEXT, st.integers(-5, 5), st.sampled_from(["a", "b", "code", "status"]))


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5), st.lists(children, max_size=5).map(tuple),
        st.lists(TEXT, max_size=5),
        st.dictionaries(TEXT, children, max_size=5),
        st.dictionaries(KEYS, children, max_size=4),
        st.dictionaries(TEXT, children, max_size=3).map(collections.OrderedDict),
        st.dictionaries(TEXT, children, max_size=3).map(types.MappingProxyType),
    )


VALUES = st.recursive(SCALARS, containers, max_leaves=25)


@FUZZ
@given(VALUES, st.booleans())
def test_go_json_writes_what_the_old_encoder_wrote(value: Any, sort_keys: bool) -> None:
    assert outcome(wire.go_json, value, sort_keys=sort_keys) == \
        outcome(old_go_json, value, sort_keys=sort_keys)


@FUZZ
@given(TEXT)
def test_go_string_escapes_as_before(text: str) -> None:
    assert wire.go_string(text) == old_go_string(text)


def test_the_escapes_encoding_json_makes() -> None:
    for char in ['"', "\\", "<", ">", "&", "\u2028", "\u2029", *map(chr, range(0x20)), "\x7f"]:
        text = f"a{char}b"
        assert wire.go_string(text) == old_go_string(text)
        assert wire.go_json([text, text]) == old_go_json([text, text])
        assert wire.go_json({text: text}) == old_go_json({text: text})


CODES = st.one_of(st.sampled_from([200, 400, 404, 500, 206]), st.integers())


@FUZZ
@given(CODES, st.one_of(st.just("OK"), TEXT), st.one_of(st.none(), TEXT))
def test_status_first_replies_as_the_general_encoder_did(code: int, text: str,
                                                         data: str | None) -> None:
    fields: dict[str, Any] = {"status": {"code": code, "status": text}}
    if data is not None:
        fields["data"] = data
    assert reply_outcome(wire.status_first_reply, code, text, data) == \
        reply_outcome(old_json_reply, code, text, fields)


@FUZZ
@given(st.binary(max_size=64))
def test_ok_data_reply_is_the_old_get_reply(data: bytes) -> None:
    encoded = base64.b64encode(data).decode("ascii")
    assert wire.ok_data_reply(data) == \
        old_json_reply(200, "OK", {"status": {"code": 200, "status": "OK"}, "data": encoded})


# -- reading requests ---------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(TEXT, children, max_size=3)),
    max_leaves=8)
FIELD_NAMES = st.sampled_from(["key", "KEY", "Key", "data", "DATA", "query", "name", "value",
                               "action", "headers", "insecure", "other", "kEy"])


@st.composite
def json_requests(draw: st.DrawFn, fields: tuple[str, ...] = ()) -> bytes:
    shape = draw(st.sampled_from(["object", "object", "value", "raw", "tweaked"]))
    if shape == "raw":
        return draw(st.binary(max_size=40))
    if shape == "value":
        document = draw(JSON_VALUES)
    else:
        names = st.one_of(FIELD_NAMES, st.sampled_from(fields)) if fields else FIELD_NAMES
        document = draw(st.dictionaries(names, JSON_VALUES, max_size=4))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    if shape == "tweaked":
        text = draw(st.sampled_from(["\ufeff", " ", "\n", ""])) + text + draw(
            st.sampled_from(["", " ", "x", "}", "NaN", "\t"]))
        text = text.replace("0", draw(st.sampled_from(["0", "NaN", "Infinity", "-Infinity"])), 1)
    return text.encode("utf-8", "surrogatepass")


STRUCTS = st.sampled_from([{"key": ""}, {"key": "", "data": ""}, {"query": ""},
                           {"name": "", "value": 0.0}, {"name": "", "action": ""},
                           {"method": "", "headers": {}, "url": "", "body": "", "insecure": False},
                           {"key": "", "KEY": ""}])


@FUZZ
@given(STRUCTS, st.data())
def test_go_unmarshal_reads_as_before(fields: dict[str, Any], data: st.DataObject) -> None:
    payload = data.draw(json_requests(tuple(fields)))
    assert outcome(wire.go_unmarshal, payload, fields) == \
        outcome(old_go_unmarshal, payload, fields)


@given(STRUCTS)
def test_go_unmarshal_every_field_given_every_type(fields: dict[str, Any]) -> None:
    for name in fields:
        for item in ('"s"', "1", "2.5", "true", "null", "{}", '{"a":"b","c":null}', '{"a":1}',
                     "[]"):
            payload = f'{{"{name}":{item},"{name.upper()}":{item}}}'.encode()
            assert outcome(wire.go_unmarshal, payload, fields) == \
                outcome(old_go_unmarshal, payload, fields)


def test_go_unmarshal_edge_payloads() -> None:
    fields = {"key": "", "data": ""}
    for payload in (b"\xef\xbb\xbf{}", "\ufeff{}".encode(), b"", b"null", b" null ", b"NaN",
                    b'{"key":NaN}', b'{"key":"a","key":"b"}', b'{"KEY":"a","key":"b"}',
                    b'{"key":"\\ud800"}', b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b"{}x"):
        assert outcome(wire.go_unmarshal, payload, fields) == \
            outcome(old_go_unmarshal, payload, fields)


B64_TEXT = st.one_of(
    st.binary(max_size=40).map(lambda data: base64.b64encode(data).decode("ascii")),
    st.text(st.sampled_from("AZaz09+/=\r\n -_.\x00é"), max_size=20),
    st.binary(max_size=20).map(lambda data: base64.b64encode(data).decode("ascii")).flatmap(
        lambda text: st.integers(0, len(text)).map(
            lambda cut: text[:cut] + "\n" + text[cut:])),
    st.text(max_size=6),
)


@FUZZ
@given(B64_TEXT)
def test_go_b64decode_as_before(text: str) -> None:
    assert outcome(wire.go_b64decode, text) == outcome(old_go_b64decode, text)


def test_go_b64decode_noncanonical_tails_and_padding() -> None:
    for text in ("aGl=", "aGk", "aG=", "aG==", "aGk==", "a===", "====", "aGk=\n", "\naGk=",
                 "aG=\n=", "aGk=aGk=", "aGVsbG8", "YQ", "YR==", "YWI=", "YWJ=", "\ud800"):
        assert outcome(wire.go_b64decode, text) == outcome(old_go_b64decode, text)
