"""Payloads the user gets wrong, and responses that do not decode: one line, exit 2, no hang.

Each case here once ended in exit 70 with a Python exception's text, hung, or
sent something the user did not mean (``NaN`` as a "JSON" payload). Every one
must now be one ``wapc: error:`` line on stderr and exit 2, or, for a response
that does not decode, a note and the bytes as hex.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
import wasmtime
from stub_guests import ECHO_WAT
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import InputFileError, UsageError
from wapc_cli.runtime import payload as payload_mod
from wapc_cli.runtime.payload import (
    MAX_NESTING,
    DecodeError,
    decode_response,
    display_text,
    read_user_file,
    resolve_payload,
)
from wapc_cli.runtime.userfiles import format_bytes, read_user_bytes


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guests") / "echo.wasm"
    path.write_bytes(wasmtime.wat2wasm(ECHO_WAT))
    return path


def invoke(echo: Path, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["call", str(echo), "echo", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def assert_usage_line(code: int, err: str, needle: str) -> None:
    assert code == 2, err
    assert err.startswith("wapc: error: ") and err.count("\n") == 1, err
    assert needle in err and "Traceback" not in err and "internal error" not in err, err


def run_wapc(
    args: list[str] | list[bytes], tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m wapc_cli ARGS`` in a real process; ``args`` may be raw bytes (argv)."""
    argv = [os.fsencode(sys.executable), b"-m", b"wapc_cli", *map(os.fsencode, args)]
    return subprocess.run(argv, capture_output=True, timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "WAPC_NO_CACHE": "1", **(env or {})})


# -- (12) exit 2 where exit 70 was -----------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--payload-json", '"\\ud800"'], "lone surrogate (U+D800)"),
        (["--payload-json", '"\\udc80"', "--encode", "msgpack"], "lone surrogate (U+DC80)"),
        (["--payload-json", "1" + "0" * 23, "--encode", "msgpack"], "64-bit range"),
        (["--payload-json", "-" + "9" * 30, "--encode", "msgpack"], "64-bit range"),
        (["--payload-json", "[" * 100_000 + "]" * 100_000], f"deeper than {MAX_NESTING}"),
        (["--payload-json", "[" * 600 + "]" * 600, "--encode", "msgpack"], "deeper than"),
        (["-p", "@"], "a file name is missing after '@'"),
        (["--payload-json", "@"], "a file name is missing after '@'"),
        (["-p", "@/dev/zero"], "'/dev/zero' is a character device, not a file"),
        (["--payload-json", "@/dev/zero"], "'/dev/zero' is a character device"),
    ],
)
def test_bad_payloads_are_one_usage_line(echo: Path, args: list[str], needle: str) -> None:
    code, _, err = invoke(echo, *args)
    assert_usage_line(code, err, needle)


@pytest.mark.skipif(not hasattr(sys, "get_int_max_str_digits"),
                    reason="this Python converts integers of any length")
def test_integer_past_pythons_digit_limit(echo: Path) -> None:
    code, _, err = invoke(echo, "--payload-json", "1" * 5000)
    assert_usage_line(code, err, "for integer string conversion")


def test_deeply_nested_json_payload_file(echo: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = invoke(echo, "--payload-json", f"@{deep}")
    assert_usage_line(code, err, f"nested deeper than {MAX_NESTING} levels")


def test_json_payload_file_must_be_utf8(echo: Path, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'"caf\xe9"')
    code, _, err = invoke(echo, "--payload-json", f"@{latin1}")
    assert_usage_line(code, err, "is not UTF-8 text (bad byte at offset 4)")


def test_nesting_up_to_the_limit_is_sent(echo: Path) -> None:
    text = "[" * MAX_NESTING + "]" * MAX_NESTING
    for encode in ("json", "msgpack"):
        code, _, err = invoke(echo, "--payload-json", text, "--encode", encode, "-d", "hex")
        assert code == 0, err
    code, _, err = invoke(echo, "--payload-json", "[" + text + "]")
    assert_usage_line(code, err, f"nested deeper than {MAX_NESTING} levels")


def test_closed_stdin_is_a_usage_error(echo: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" <&-', sys.executable, "-m", "wapc_cli", "call", str(echo),
         "echo", "-p", "@-"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "WAPC_NO_CACHE": "1"},
    )
    assert_usage_line(result.returncode, result.stderr, "standard input is closed")


def test_c_locale_argv_bytes_are_sent_as_given(echo: Path, tmp_path: Path) -> None:
    """Under LC_ALL=C, argv bytes that are not UTF-8 reach Python as lone surrogates."""
    raw = b"caf\xe9 \xff\xfe"
    result = run_wapc([b"call", os.fsencode(echo), b"echo", b"-p", raw],
                      tmp_path, env={"LC_ALL": "C"})
    assert (result.returncode, result.stdout, result.stderr) == (0, raw, b"")
    literal = run_wapc([b"call", os.fsencode(echo), b"echo", b"-p", b"@@" + raw],
                       tmp_path, env={"LC_ALL": "C"})
    assert (literal.returncode, literal.stdout) == (0, b"@" + raw), literal.stderr
    utf8 = run_wapc(["call", str(echo), "echo", "-p", "café"], tmp_path, env={"LC_ALL": "C"})
    assert (utf8.returncode, utf8.stdout) == (0, "café".encode()), utf8.stderr


def test_c_locale_json_that_is_not_utf8(echo: Path, tmp_path: Path) -> None:
    result = run_wapc([b"call", os.fsencode(echo), b"echo",
                       b"--payload-json", b'"caf\xe9"'], tmp_path, env={"LC_ALL": "C"})
    assert_usage_line(result.returncode, result.stderr.decode(), "lone surrogate (U+DCE9)")


def test_payload_from_dev_zero_ends_at_once(echo: Path, tmp_path: Path) -> None:
    result = run_wapc(["call", str(echo), "echo", "-p", "@/dev/zero"], tmp_path)
    assert_usage_line(result.returncode, result.stderr.decode(), "is a character device")


def test_a_pipe_is_read_but_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf piped > '{fifo}'"])
    try:
        assert read_user_file(str(fifo), "payload file") == b"piped"
    finally:
        writer.wait(timeout=30)
    assert read_user_file("-", "payload file", io.BytesIO(b"x" * 10), max_bytes=10) == b"x" * 10
    with pytest.raises(InputFileError, match="'-' is larger than 9 bytes"):
        read_user_file("-", "payload file", io.BytesIO(b"x" * 10), max_bytes=9)
    big = tmp_path / "big.bin"
    big.write_bytes(b"y" * 2048)
    with pytest.raises(InputFileError, match="is larger than 1 KiB"):
        read_user_bytes(big, "payload file", 1024)


def test_payload_size_bound_is_named(monkeypatch: pytest.MonkeyPatch, echo: Path) -> None:
    monkeypatch.setattr(payload_mod, "MAX_PAYLOAD_BYTES", 4)
    monkeypatch.setattr(payload_mod.read_user_file, "__defaults__", (None, 4))
    code, _, err = invoke(echo, "-p", "@-", stdin=b"12345")
    assert_usage_line(code, err, "payload file '-' is larger than 4 bytes")
    assert format_bytes(1 << 30) == "1 GiB"


def test_read_user_file_keeps_its_messages(tmp_path: Path) -> None:
    """tools/stubs/loader.py calls read_user_file(path, what): same errors as before."""
    with pytest.raises(InputFileError, match=r"^stub table '.*nope\.yaml': no such file$"):
        read_user_file(str(tmp_path / "nope.yaml"), "stub table")
    with pytest.raises(InputFileError, match=r"is a directory, not a file$"):
        read_user_file(str(tmp_path), "stub table")
    (tmp_path / "t.yaml").write_text("calls: []\n")
    assert read_user_file(str(tmp_path / "t.yaml"), "stub table") == b"calls: []\n"


# -- (19) not JSON, not sent ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("NaN", "NaN is not JSON"),
        ("Infinity", "Infinity is not JSON"),
        ("[-Infinity]", "-Infinity is not JSON"),
        ("1e400", "the number 1e400 is too large"),
        ('{"x": -1e999}', "the number -1e999 is too large"),
    ],
)
@pytest.mark.parametrize("encode", ["json", "msgpack"])
def test_non_finite_numbers_are_refused(echo: Path, text: str, needle: str, encode: str) -> None:
    code, out, err = invoke(echo, "--payload-json", text, "--encode", encode)
    assert_usage_line(code, err, needle)
    assert out == ""


def test_core_refuses_with_usage_errors() -> None:
    with pytest.raises(UsageError):
        resolve_payload(None, None, "NaN")
    with pytest.raises(UsageError):
        resolve_payload("\ud800", None, None)  # not from argv: no bytes to give back
    assert resolve_payload("\udcff", None, None) == b"\xff"  # surrogateescape'd argv byte


# -- (20) JSON shown as JSON ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--payload-json", '"hello"', "-d", "json"], '"hello"\n'),
        (["--payload-json", '"hello"', "--encode", "msgpack", "-d", "msgpack"], '"hello"\n'),
        (["--payload-json", '"two\\nlines"', "-d", "json"], '"two\\nlines"\n'),
        (["--payload-json", "42", "-d", "json"], "42\n"),
        (["--payload-json", "null", "--encode", "msgpack", "-d", "msgpack"], "null\n"),
        (["-p", "hello", "-d", "text"], "hello\n"),
    ],
)
def test_decoded_values_print_as_json(echo: Path, args: list[str], shown: str) -> None:
    code, out, err = invoke(echo, *args)
    assert (code, out, err) == (0, shown, "")


# -- responses that do not decode: a reason, never a crash ------------------------------------
def test_deeply_nested_json_response(echo: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    code, out, err = invoke(echo, "-p", deep, "-d", "json")
    assert code == 0
    assert err == (f"wapc: warning: response is nested deeper than {MAX_NESTING} levels; "
                   "not decoded; showing hex\n")
    assert out == deep.encode().hex() + "\n"
    code, out, err = invoke(echo, "-p", deep, "-d", "json", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] and result["response"] is None and result["response_len"] == 200_000


def test_nesting_a_json_encoder_still_handles(echo: Path) -> None:
    """Deep enough to strain the indenting encoder, shallow enough for json.loads."""
    deep = "[" * 900 + "]" * 900
    code, out, err = invoke(echo, "-p", deep, "-d", "json", "--json")
    assert code == 0 and json.loads(out)["response"] is None, err
    code, out, err = invoke(echo, "-p", deep, "-d", "json")
    assert code == 0 and "nested deeper than" in err


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "response is not MessagePack: the response is empty"),
        (b"\xc1", "response is not MessagePack: it holds a byte that starts no MessagePack value"),
        (b"\x01\x02\x03", "response is not MessagePack: 2 byte(s) follow the first value"),
        (b"\x91" * 2000 + b"\xc0", f"response is nested deeper than {MAX_NESTING} levels"),
        (b"\x91" * 600 + b"\xc0", f"response is nested deeper than {MAX_NESTING} levels"),
        (b"\x92\x01", "response is not MessagePack: Unpack failed: incomplete input"),
        (b"\x92", "response is not MessagePack: it declares a length longer than the whole"),
    ],
)
def test_msgpack_decode_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as failure:
        decode_response(data, "msgpack")
    assert str(failure.value).startswith(reason)
    shown, note = display_text(data, "msgpack")
    assert shown == data.hex() and note == f"{failure.value}; showing hex"


def test_json_decode_reasons() -> None:
    for data in (b"[" * 100_000, b"{" * 100_000, b'"\xff"', b"[" * 300 + b"]" * 300):
        with pytest.raises(DecodeError):
            decode_response(data, "json")
    assert decode_response(msgpack.packb({"b": b"\x00"}), "msgpack") == {"b": {"$base64": "AA=="}}


def test_empty_msgpack_response_on_the_cli(echo: Path) -> None:
    code, out, err = invoke(echo, "-p", "", "-d", "msgpack")
    assert (code, out) == (0, "\n")
    assert err == "wapc: warning: response is not MessagePack: the response is empty; showing hex\n"
