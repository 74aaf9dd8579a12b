"""Payload input (``--payload``, ``--payload-hex``, ``--payload-json``) and response display."""

from __future__ import annotations

import base64
import binascii
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputFileError, UsageError


class Encoding(str, Enum):
    json = "json"
    msgpack = "msgpack"


class Decoding(str, Enum):
    auto = "auto"
    raw = "raw"
    text = "text"
    hex = "hex"
    json = "json"
    msgpack = "msgpack"


def read_user_file(spec: str, what: str, stdin: BinaryIO | None = None) -> bytes:
    """Read ``@FILE`` / ``@-`` style input (``spec`` without the ``@``)."""
    if spec == "-":
        return (stdin or sys.stdin.buffer).read()
    path = Path(spec)
    try:
        if path.is_dir():
            raise InputFileError(f"{what} '{spec}' is a directory, not a file")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{what} '{spec}': no such file") from None
    except PermissionError:
        raise InputFileError(f"{what} '{spec}': permission denied") from None
    except OSError as exc:
        raise InputFileError(f"{what} '{spec}': cannot read ({exc.strerror})") from None


def resolve_payload(
    text: str | None,
    hex_text: str | None,
    json_text: str | None,
    encode: str = "json",
    stdin: BinaryIO | None = None,
) -> bytes:
    given = [name for name, v in (("--payload", text), ("--payload-hex", hex_text),
                                  ("--payload-json", json_text)) if v is not None]
    if len(given) > 1:
        raise UsageError(f"give only one of {', '.join(given)}")
    if text is not None:
        if text.startswith("@@"):
            return text[1:].encode("utf-8")  # '@@x' is the literal text '@x'
        if text.startswith("@"):
            return read_user_file(text[1:], "payload file", stdin)
        return text.encode("utf-8")
    if hex_text is not None:
        cleaned = "".join(hex_text.split())
        if cleaned[:2].lower() == "0x":
            cleaned = cleaned[2:]
        try:
            return binascii.unhexlify(cleaned)
        except (binascii.Error, ValueError):
            raise UsageError(f"--payload-hex: not valid hex: {_preview(hex_text)}") from None
    if json_text is not None:
        source = json_text
        if json_text.startswith("@"):
            source = read_user_file(json_text[1:], "JSON payload file", stdin).decode(
                "utf-8", "replace"
            )
        try:
            value = json.loads(source)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--payload-json: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        return encode_value(value, encode)
    return b""


def encode_value(value: Any, encoding: str) -> bytes:
    if encoding == "json":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if encoding == "msgpack":
        import msgpack

        return bytes(msgpack.packb(value, use_bin_type=True))
    raise UsageError(f"--encode: unknown encoding '{encoding}' (choose from: json, msgpack)")


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def jsonable(value: Any) -> Any:
    """Make a decoded msgpack value JSON-serialisable (bytes become base64 strings)."""
    if isinstance(value, bytes):
        return {"$base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class DecodeError(ValueError):
    pass


def decode_response(data: bytes, mode: str) -> Any:
    """Decode for display: returns str for text/hex, a JSON value for json/msgpack."""
    if mode == "text":
        return data.decode("utf-8", "replace")
    if mode == "hex":
        return data.hex()
    if mode == "json":
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DecodeError(f"response is not JSON: {exc}") from None
    if mode == "msgpack":
        import msgpack

        try:
            return jsonable(msgpack.unpackb(data, raw=False, strict_map_key=False))
        except Exception as exc:
            raise DecodeError(f"response is not MessagePack: {exc}") from None
    raise ValueError(mode)


def as_text(data: bytes) -> str | None:
    """The bytes as text when they are valid UTF-8 without control characters."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        return None
    return text
