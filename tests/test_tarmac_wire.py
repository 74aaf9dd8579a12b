"""Go's JSON and base64 as Tarmac's replies use them (wire.py)."""

from __future__ import annotations

import datetime

import pytest

from wapc_cli.tools.tarmac.wire import (
    GoBase64Error,
    GoJSONError,
    go_b64decode,
    go_float,
    go_json,
    go_unmarshal,
)


@pytest.mark.parametrize("value, text", [
    (1.0, "1"), (100.0, "100"), (0.1, "0.1"), (2.5, "2.5"), (-0.0, "-0"),
    (1e20, "100000000000000000000"),
    (1e21, "1e+21"), (1.5e-7, "1.5e-7"), (0.000001, "0.000001"), (123456789.125, "123456789.125"),
])
def test_floats_as_encoding_json_writes_them(value: float, text: str) -> None:
    assert go_float(value) == text


def test_strings_bytes_maps_and_times() -> None:
    assert go_json("<a&b>\u2028\x01\"") == '"\\u003ca\\u0026b\\u003e\\u2028\\u0001\\""'
    assert go_json(b"\x00\x01") == '"AAE="'
    assert go_json({"b": 1, "a": None}, sort_keys=True) == '{"a":null,"b":1}'
    assert go_json({"b": 1, "a": None}) == '{"b":1,"a":null}'
    stamp = datetime.datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=datetime.timezone.utc)
    assert go_json(stamp) == '"2024-01-02T03:04:05.12Z"'
    assert go_json(datetime.time(10, 30)) == '"0000-01-01T10:30:00Z"'


@pytest.mark.parametrize("text, decoded", [
    ("aGk=", b"hi"), ("aGVsbG8=", b"hello"), ("", b""), ("aG\nk=", b"hi"), ("aG==", b"h"),
])
def test_base64_like_go(text: str, decoded: bytes) -> None:
    assert go_b64decode(text) == decoded


@pytest.mark.parametrize("text, offset", [("aGk", 0), ("!!", 0), ("aGk=x", 4), ("aGk=aGk=", 4),
                                          ("a===", 1), ("aGVsbG8", 4)])
def test_base64_errors_name_gos_offset(text: str, offset: int) -> None:
    with pytest.raises(GoBase64Error, match=f"^illegal base64 data at input byte {offset}$"):
        go_b64decode(text)


def test_unmarshal_like_ffjson() -> None:
    fields = {"key": "", "n": 0.0}
    assert go_unmarshal(b'{"KEY":"x","other":1}', fields) == {"key": "x", "n": 0.0}
    assert go_unmarshal(b"null", fields) == {"key": "", "n": 0.0}
    assert go_unmarshal(b'{"key":null,"n":2}', fields) == {"key": "", "n": 2.0}
    for bad in (b"[]", b'{"key":1}', b'{"n":"1"}', b"{", b'{"n":NaN}'):
        with pytest.raises(GoJSONError):
            go_unmarshal(bad, fields)
