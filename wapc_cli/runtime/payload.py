"""Payload input (``--payload``, ``--payload-hex``, ``--payload-json``) and response display.

Whatever the user gives, the payload is either bytes for the guest or one
:class:`~wapc_cli.errors.UsageError` line (exit 2): never an exception from
the JSON or MessagePack libraries, never an unbounded read. Decoding a response
for display never raises anything but :class:`DecodeError`, which the CLI shows
as a note before falling back to hex.
"""

from __future__ import annotations

# json is imported by the functions that need it: a plain call never loads it.
import binascii
import math
import sys
from enum import Enum
from typing import Any, BinaryIO

from ..errors import InputFileError, UsageError
from .userfiles import read_standard_input, read_user_bytes

#: The most a payload file or standard input may hold. The waPC ABI carries
#: lengths as u32 and the guest must hold the payload in its (at most 4 GiB)
#: memory; the bound also stops ``@-`` fed from an endless stream.
MAX_PAYLOAD_BYTES = 1 << 30
#: Deeper JSON or MessagePack than this is refused as a payload and not decoded
#: for display: the JSON encoder and decoder recurse once per level, so far
#: deeper input would exhaust the interpreter's stack.
MAX_NESTING = 256


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


def read_user_file(
    spec: str, what: str, stdin: BinaryIO | None = None, max_bytes: int = MAX_PAYLOAD_BYTES
) -> bytes:
    """Read ``@FILE`` / ``@-`` style input (``spec`` without the ``@``).

    ``-`` is standard input (``stdin`` when given). Devices, directories and
    anything over ``max_bytes`` are refused with one :class:`InputFileError`.
    """
    if spec == "-":
        stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        return read_standard_input(stream, what, max_bytes)
    return read_user_bytes(spec, what, max_bytes)


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
            return _text_bytes(text[1:])  # '@@x' is the literal text '@x'
        if text.startswith("@"):
            name = _file_name(text, "payload file", ", @@text sends the text '@text'")
            return read_user_file(name, "payload file", stdin)
        return _text_bytes(text)
    if hex_text is not None:
        cleaned = "".join(hex_text.split())
        if cleaned[:2].lower() == "0x":
            cleaned = cleaned[2:]
        try:
            return binascii.unhexlify(cleaned)
        except (binascii.Error, ValueError):
            raise UsageError(f"--payload-hex: not valid hex: {_preview(hex_text)}") from None
    if json_text is not None:
        return encode_value(parse_json_payload(json_text, stdin), encode)
    return b""


def _text_bytes(text: str) -> bytes:
    """The payload text as bytes: UTF-8, and argv bytes that were not UTF-8 as they came.

    Python decodes command-line bytes that are not valid UTF-8 (under
    ``LC_ALL=C``, or a Latin-1 file name pasted in) to lone surrogates; encoding
    with ``surrogateescape`` gives those bytes back unchanged, as a shell's
    ``printf`` would send them.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"--payload: text has a lone surrogate (U+{ord(text[exc.start]):04X}) "
            f"at character {exc.start}, which UTF-8 cannot encode"
        ) from None


def _file_name(spec: str, what: str, hint: str = "") -> str:
    name = spec[1:]
    if not name:
        raise InputFileError(
            f"{what}: a file name is missing after '@' (@FILE reads a file, @- standard "
            f"input{hint})"
        )
    return name


def parse_json_payload(json_text: str, stdin: BinaryIO | None = None) -> Any:
    """The JSON value of ``--payload-json`` (text, ``@FILE`` or ``@-``), strictly JSON."""
    import json
    source = json_text
    if json_text.startswith("@"):
        where = _file_name(json_text, "JSON payload file")
        data = read_user_file(where, "JSON payload file", stdin)
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputFileError(
                f"JSON payload file '{where}' is not UTF-8 text (bad byte at offset {exc.start})"
            ) from None
    try:
        value = json.loads(source, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--payload-json: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise UsageError(f"--payload-json: nested deeper than {MAX_NESTING} levels") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise UsageError(f"--payload-json: {_first_sentence(exc)}") from None
    if nested_deeper_than(value, MAX_NESTING):
        raise UsageError(f"--payload-json: nested deeper than {MAX_NESTING} levels")
    return value


def _refuse_constant(name: str) -> Any:
    raise UsageError(
        f"--payload-json: {name} is not JSON (JSON numbers are finite; send it as a string)"
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UsageError(
            f"--payload-json: the number {_preview(text)} is too large for a 64-bit float"
        )
    return value


def encode_value(value: Any, encoding: str) -> bytes:
    """``value`` as compact JSON or MessagePack; what neither can encode is a UsageError."""
    import json
    if encoding not in ("json", "msgpack"):
        raise UsageError(f"--encode: unknown encoding '{encoding}' (choose from: json, msgpack)")
    try:
        if encoding == "json":
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode("utf-8")
        import msgpack

        return bytes(msgpack.packb(value, use_bin_type=True))
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"--payload-json: a string holds a lone surrogate "
            f"(U+{ord(exc.object[exc.start]):04X}), which UTF-8 cannot encode"
        ) from None
    except OverflowError:
        raise UsageError(
            "--payload-json: an integer is outside MessagePack's 64-bit range "
            "(-2**63 to 2**64-1); send it as a string"
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise UsageError(f"--payload-json: cannot encode as {encoding}: {exc}") from None


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _first_sentence(exc: Exception) -> str:
    return str(exc).split(";")[0]


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists/dicts in ``value`` nest more than ``limit`` levels (without recursing)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, (list, tuple)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in item if isinstance(
                child, (list, tuple, dict)))
    return False


def jsonable(value: Any) -> Any:
    """Make a decoded msgpack value JSON-serialisable (bytes become base64 strings)."""
    if isinstance(value, bytes):
        return {"$base64": binascii.b2a_base64(value, newline=False).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class DecodeError(ValueError):
    pass


def decode_response(data: bytes, mode: str) -> Any:
    """Decode for display: returns str for text/hex, a JSON value for json/msgpack.

    A JSON value is never nested deeper than :data:`MAX_NESTING`, so it can
    always be encoded again; anything that cannot be decoded is a DecodeError
    with the reason.
    """
    if mode == "text":
        return data.decode("utf-8", "replace")
    if mode == "hex":
        return data.hex()
    if mode == "json":
        value = _decode_json(data)
    elif mode == "msgpack":
        value = _decode_msgpack(data)
    else:
        raise ValueError(mode)
    if nested_deeper_than(value, MAX_NESTING):
        raise DecodeError(f"response is nested deeper than {MAX_NESTING} levels; not decoded")
    return jsonable(value) if mode == "msgpack" else value


def _decode_json(data: bytes) -> Any:
    import json
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DecodeError(f"response is not JSON: {exc}") from None
    except RecursionError:
        raise DecodeError(
            f"response is nested deeper than {MAX_NESTING} levels; not decoded"
        ) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise DecodeError(f"response is not decodable JSON: {_first_sentence(exc)}") from None


def _decode_msgpack(data: bytes) -> Any:
    import msgpack

    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except msgpack.StackError:
        raise DecodeError(
            f"response is nested deeper than {MAX_NESTING} levels; not decoded"
        ) from None
    except msgpack.FormatError:
        raise DecodeError(
            "response is not MessagePack: it holds a byte that starts no MessagePack value"
        ) from None
    except msgpack.ExtraData as exc:
        raise DecodeError(
            f"response is not MessagePack: {len(exc.extra)} byte(s) follow the first value"
        ) from None
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        if not data:
            reason = "the response is empty"
        elif "exceeds max_" in reason:  # the unpacker bounds every length by the input's
            reason = f"it declares a length longer than the whole response ({reason})"
        raise DecodeError(f"response is not MessagePack: {reason}") from None


def display_text(data: bytes, mode: str) -> tuple[str, str | None]:
    """The response as shown with ``mode`` (text, hex, json or msgpack), and a note.

    JSON and MessagePack values are shown as JSON, a top-level string quoted
    like any other. When the bytes do not decode, the text is their hex and the
    note says why.
    """
    import json
    try:
        value = decode_response(data, mode)
    except DecodeError as exc:
        return data.hex(), f"{exc}; showing hex"
    if mode in ("text", "hex"):
        return str(value), None
    return json.dumps(value, indent=2, ensure_ascii=False), None


def as_text(data: bytes) -> str | None:
    """The bytes as text when they are valid UTF-8 without control characters."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        return None
    return text
