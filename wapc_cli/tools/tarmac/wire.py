"""Tarmac's JSON as Go writes and reads it: encoding/json bytes, Go's base64, replies.

Tarmac (Go) marshals its JSON replies with ffjson, which writes struct fields
in declaration order and falls back to ``encoding/json`` for maps (keys
sorted), ``[]byte`` (base64) and ``time.Time`` (RFC 3339). Strings are escaped
the way ``encoding/json`` escapes them (``<``, ``>``, ``&``, U+2028/9 as
``\\uXXXX``), floats are formatted as Go formats them. A request is read the
way ffjson reads it: unknown keys ignored, keys matched case-insensitively
when no exact match, a wrong type is an error.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ...runtime.hostcalls import HostReply
from . import messages

SOURCE = "preset:tarmac"

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
            "\u2028": "\\u2028", "\u2029": "\\u2029"}
#: Every character encoding/json writes escaped: the ones above and the C0 controls.
_NEEDS_ESCAPE = re.compile('["\\\\<>&\u2028\u2029\x00-\x1f]')


def go_string(text: str) -> str:
    # Most strings need no escape at all: one scan of a character class (linear
    # time) finds that out, instead of a Python loop over every character.
    if _needs_escape(text) is None:
        return f'"{text}"'
    return '"' + _NEEDS_ESCAPE.sub(_escape_one, text) + '"'


_needs_escape = _NEEDS_ESCAPE.search  # bound once: go_string runs for every key and value


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def go_float(value: float) -> str:
    """A float64 as ``encoding/json`` writes it: the shortest digits that round-trip,
    in plain notation unless it is below 1e-6 or from 1e21 on (then ``1e-7``/``1e+21``)."""
    if math.isnan(value) or math.isinf(value):
        shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise ValueError(f"json: unsupported value: {shown}")  # Go's Marshal fails too
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(value)  # Python's repr uses an exponent in these ranges, like Go's 'e'
        mantissa, _, exponent = text.partition("e")
        if exponent.startswith("-0"):
            exponent = "-" + exponent[2:]
        return f"{mantissa}e{exponent}"
    text = format(decimal.Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def go_time(value: datetime.datetime | datetime.date | datetime.time) -> str:
    """A ``time.Time`` as ``encoding/json`` writes it (RFC 3339, nanoseconds trimmed)."""
    if isinstance(value, datetime.time):
        # lib/pq gives a time of day as a time.Time on day 0000-01-01 (Python has no year 0).
        offset = value.utcoffset()
        base = "0000-01-01T" + value.strftime("%H:%M:%S")
    else:
        if not isinstance(value, datetime.datetime):
            value = datetime.datetime(value.year, value.month, value.day)
        offset = value.utcoffset()
        base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        base += f".{value.microsecond:06d}".rstrip("0")
    if offset is None or offset == datetime.timedelta(0):
        return base + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{base}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def go_json(value: Any, *, sort_keys: bool = False) -> str:
    """``value`` as Go's JSON. Dicts keep their order (Go structs) unless ``sort_keys``
    (Go maps); bytes become base64; None is ``null``."""
    return _encode(value, sort_keys)


_ONLY_STR = frozenset({str})


def _encode(value: Any, sort_keys: bool) -> str:
    # The exact built-in types a reply or a row holds come first, matched by type
    # identity (one comparison each); everything else, subclasses included, takes
    # the general isinstance chain in _encode_other, so its output is unchanged.
    kind = type(value)
    if kind is str:
        return go_string(value)
    if kind is dict:
        parts = []
        for key, item in (sorted(value.items()) if sort_keys else list(value.items())):
            if type(key) is not str:
                key = str(key)
            parts.append(go_string(key) + ":" + _encode(item, sort_keys))
        return "{" + ",".join(parts) + "}"
    if kind is int:
        return str(value)
    if kind is list or kind is tuple:
        if value and set(map(type, value)) == _ONLY_STR and _needs_escape("".join(value)) is None:
            return '["' + '","'.join(value) + '"]'  # strings without escapes (store keys)
        return "[" + ",".join([_encode(item, sort_keys) for item in value]) + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is float:
        return go_float(value)
    if kind is bytes:
        return f'"{base64.b64encode(value).decode("ascii")}"'  # base64 needs no escape
    return _encode_other(value, sort_keys)


def _encode_other(value: Any, sort_keys: bool) -> str:
    """The general rules, in their order, for what _encode does not match exactly."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return go_string(base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return go_string(go_time(value))
    if isinstance(value, Mapping):
        items = sorted(value.items()) if sort_keys else list(value.items())
        return "{" + ",".join([f"{go_string(str(k))}:{_encode(v, sort_keys)}"
                               for k, v in items]) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([_encode(item, sort_keys) for item in value]) + "]"
    return go_string(str(value))


def status_json(code: int, text: str) -> dict[str, Any]:
    """A ``tarmac.Status`` struct (``code``, then ``status``)."""
    return {"code": code, "status": text}


def json_reply(code: int, text: str, fields: dict[str, Any]) -> HostReply:
    """A Tarmac JSON reply: the body as Go marshals ``fields``; failed unless code is 200.

    Tarmac's callbacks return the marshalled body together with
    ``fmt.Errorf(status)`` when the code is not 200, so the guest sees a failed
    host call that still has a response body.
    """
    return json_text_reply(code, text, go_json(fields))


def json_text_reply(code: int, text: str, body: str) -> HostReply:
    """:func:`json_reply` for a body already written as Go's JSON."""
    return HostReply(body.encode("utf-8"), None if code == 200 else text, SOURCE)


_OK_STATUS_OBJECT = '{"code":200,"status":"OK"}'


def status_object(code: int, text: str) -> str:
    """``go_json(status_json(code, text))``, written out directly."""
    if code == 200 and text == "OK":
        return _OK_STATUS_OBJECT
    return '{"code":' + str(code) + ',"status":' + go_string(text) + "}"


def status_first_reply(code: int, text: str, data: str | None = None) -> HostReply:
    """``json_reply(code, text, {"status": status_json(code, text)})``, with ``"data": data``
    after the status when ``data`` is given: the shapes of the kvstore and sql JSON
    replies, written out directly (same bytes, no general encoder)."""
    head = '{"status":' + status_object(code, text)
    body = head + "}" if data is None else head + ',"data":' + go_string(data) + "}"
    return json_text_reply(code, text, body)


#: :func:`ok_data_reply`'s body up to the base64 of the data.
_OK_DATA_HEAD = ('{"status":' + _OK_STATUS_OBJECT + ',"data":"').encode("ascii")


def ok_data_reply(data: bytes) -> HostReply:
    """``status_first_reply(200, "OK", base64 of data)`` in bytes from the start (base64
    needs no JSON escape): the reply of every successful JSON ``get``."""
    return HostReply(_OK_DATA_HEAD + binascii.b2a_base64(data, newline=False) + b'"}',
                     None, SOURCE)


def proto_reply(code: int, text: str, message: Any) -> HostReply:
    """A Tarmac protobuf reply (the message already holds ``status``)."""
    return HostReply(message.SerializeToString(), None if code == 200 else text, SOURCE)


def status_reply(full_name: str, code: int, text: str, **fields: Any) -> HostReply:
    """A Tarmac protobuf reply: a new ``full_name`` message with ``fields`` and its
    ``status`` set to ``code``/``text``; failed unless code is 200."""
    body = messages.status_response(full_name, code, text, fields)
    if body is None:  # a shape status_response does not write: the protobuf package does
        return proto_reply(code, text, messages.build(
            full_name, status=messages.status(code, text), **fields))
    return HostReply(body, None if code == 200 else text, SOURCE)


def failed(text: str, body: bytes = b"") -> HostReply:
    """A failed host call without a body (Tarmac's ``return []byte(""), err``)."""
    return HostReply(body, text, SOURCE)


# -- reading ----------------------------------------------------------------------------
class GoJSONError(ValueError):
    """The request is not JSON of the expected shape (ffjson's Unmarshal failed)."""


def _no_constants(name: str) -> Any:
    raise GoJSONError(f"invalid character '{name[0]}' looking for beginning of value")


#: What ``json.loads(text, parse_constant=_no_constants)`` builds on every call, built once.
_DECODER = json.JSONDecoder(parse_constant=_no_constants)

#: ``{"key":"..."}``, the key printable ASCII without ``"`` or ``\\``: what guests send.
_PLAIN_KEY_REQUEST = re.compile(rb'\{"key":"([ !#-\[\]-~]*)"\}')
#: Up to this length such a request is never a protobuf message to ``UnmarshalVT``:
#: its first byte ``{`` is the start-group tag of field 15 (no kvstore request has a
#: field 15, so the group is skipped), the next ``"`` a length-delimited record whose
#: length is the byte ``k`` (107), so the group would end past byte 3 + 107, and with
#: no more data ``protohelpers.Skip`` fails (io.ErrUnexpectedEOF). Longer ones may
#: parse (the key's bytes can close the group), so they take the general path.
PLAIN_KEY_MAX_LENGTH = 3 + ord("k")


def plain_key_request(payload: bytes) -> str | None:
    """The key of a ``{"key":"..."}`` request that Tarmac reads as JSON, exactly as
    :func:`go_unmarshal` reads it with ``{"key": ""}``; None for any other payload."""
    if len(payload) > PLAIN_KEY_MAX_LENGTH:
        return None
    found = _PLAIN_KEY_REQUEST.fullmatch(payload)
    return None if found is None else found.group(1).decode("ascii")


#: What a field of the request struct holds: the Go zero value says the type.
FieldTypes = Mapping[str, Any]  # name -> "" | 0.0 | False | {} (map[string]string)


def go_unmarshal(payload: bytes, fields: FieldTypes) -> dict[str, Any]:
    """Read ``payload`` into a struct with ``fields`` (Go zero values as defaults).

    Raises :class:`GoJSONError` where ffjson's Unmarshal returns an error: not
    JSON, not an object (``null`` is fine: nothing is set), a value of the
    wrong type.
    """
    text = payload.decode("utf-8", "replace")  # Go replaces invalid UTF-8 too
    try:
        if text.startswith("\ufeff"):  # json.loads's own check, before its decoder runs
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise GoJSONError(str(exc)) from None
    result = {name: (dict(zero) if isinstance(zero, dict) else zero)
              for name, zero in fields.items()}
    if value is None:
        return result
    if not isinstance(value, dict):
        raise GoJSONError("cannot unmarshal into a struct")
    lowered: dict[str, str] | None = None  # built for the first key without an exact match
    for key, item in value.items():
        if key in fields:
            name: str | None = key
        else:
            if lowered is None:
                lowered = {name.lower(): name for name in fields}
            name = lowered.get(key.lower())
        if name is None:
            continue
        if item is None:  # JSON null leaves a Go field as it is
            continue
        result[name] = _typed(fields[name], item, name)
    return result


def _typed(zero: Any, item: Any, name: str) -> Any:
    if type(item) is str and type(zero) is str:  # the usual field: what the last branch says
        return item
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
    raise GoJSONError(f"cannot unmarshal {type(item).__name__} into field {name}")


class GoBase64Error(ValueError):
    """Go's ``base64.CorruptInputError``: its text is what Tarmac puts in a status."""

    def __init__(self, offset: int, partial: bytes = b"") -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset
        self.partial = partial  # what Go's DecodeString returns along with the error


#: Base64 without newlines and, in a length that is a multiple of 4, padded as Go
#: requires: decoded by binascii, in C (one character class: a fast scan).
_PLAIN_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}").fullmatch
_ALPHABET = {c: i for i, c in enumerate(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_NEWLINES = (0x0A, 0x0D)


def go_b64decode(text: str) -> bytes:
    """``base64.StdEncoding.DecodeString`` with its error offsets (padding required,
    ``\\r``/``\\n`` skipped, anything after the padding an error)."""
    if len(text) % 4 == 0 and _PLAIN_BASE64(text) is not None:  # binascii reads it as Go
        return binascii.a2b_base64(text)
    src = text.encode("utf-8", "surrogatepass")
    out = bytearray()
    si = 0
    while True:
        quantum: list[int] = []
        while len(quantum) < 4:
            if si == len(src):
                if not quantum:
                    return bytes(out)
                raise GoBase64Error(si - len(quantum), bytes(out))  # padding is required
            char = src[si]
            si += 1
            if char in _ALPHABET:
                quantum.append(_ALPHABET[char])
                continue
            if char in _NEWLINES:
                continue
            if char != 0x3D or len(quantum) < 2:  # not '=', or '=' too early
                raise GoBase64Error(si - 1, bytes(out))
            if len(quantum) == 2:  # "==" expected: the second '=' may follow newlines
                while si < len(src) and src[si] in _NEWLINES:
                    si += 1
                if si == len(src):
                    raise GoBase64Error(len(src), bytes(out))
                if src[si] != 0x3D:
                    raise GoBase64Error(si - 1, bytes(out))
                si += 1
            while si < len(src) and src[si] in _NEWLINES:
                si += 1
            value = 0
            for index, sextet in enumerate(quantum):
                value |= sextet << (18 - 6 * index)
            out += value.to_bytes(3, "big")[: len(quantum) - 1]
            if si < len(src):  # trailing garbage: Go keeps this quantum's bytes
                raise GoBase64Error(si, bytes(out))
            return bytes(out)
        value = quantum[0] << 18 | quantum[1] << 12 | quantum[2] << 6 | quantum[3]
        out += value.to_bytes(3, "big")
