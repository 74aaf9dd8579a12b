"""Short, one-line previews of payloads: UTF-8 text, JSON, MessagePack, else hex.

A preview is always one line of printable text: control characters a guest put
in its bytes are escaped (:mod:`..safe_text`), newlines and tabs as ``\\n``, ``\\t``.
"""

from __future__ import annotations

import json
from typing import Any

from ...runtime.payload import as_text, jsonable
from ..safe_text import one_line


def preview(data: bytes, limit: int = 120) -> tuple[str, str]:
    """``(kind, text)``: kind is empty, text, json, msgpack or hex; text fits ``limit``."""
    if not data:
        return "empty", ""
    text = as_text(data)
    if text is not None:
        value = _json(text)
        if value is not None:
            shown = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            return "json", _cut(one_line(shown), limit)
        return "text", _cut(one_line(text), limit)
    value = _msgpack(data)
    if value is not None:
        shown = json.dumps(jsonable(value), separators=(",", ":"), ensure_ascii=False)
        return "msgpack", _cut(one_line(shown), limit)
    return "hex", _cut(data[: limit // 2 + 1].hex(" "), limit)


def _json(text: str) -> Any:
    if text.lstrip()[:1] not in ("{", "["):
        return None  # plain words and numbers read better as text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _msgpack(data: bytes) -> Any:
    import msgpack

    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception:  # not MessagePack (or not all of it): show hex
        return None
    # One byte decodes as a small int or nil: too weak a sign to claim MessagePack.
    return value if isinstance(value, (dict, list, str, bytes)) else None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def human_ns(ns: int) -> str:
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.0f}µs" if ns >= 10_000 else f"{ns / 1_000:.1f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f}ms" if ns >= 10_000_000 else f"{ns / 1_000_000:.2f}ms"
    return f"{ns / 1_000_000_000:.2f}s"


def human_bytes(n: int) -> str:
    if n < 10_000:
        return f"{n} B"
    if n < 10_000_000:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"
