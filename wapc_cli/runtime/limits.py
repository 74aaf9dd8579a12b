"""Parsing of limit values given by the user (sizes, durations)."""

from __future__ import annotations

import math
import re

from ..engines.base import Limits
from ..errors import UsageError

DEFAULT_TIMEOUT_S = 30.0
#: Engines whose limits only a child process can enforce (see :mod:`wapc_cli.isolation.supervisor`).
SUPERVISED_ENGINES = frozenset({"wasmer"})
WASM_PAGE = 65536
_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
}


def parse_size(text: str, option: str = "--max-memory") -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise UsageError(f"{option}: '{text}' is not a size (e.g. 65536, 64KiB, 16MiB, 1GiB)")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise UsageError(f"{option}: must be greater than zero")
    if value > 4 * 1024**3:
        raise UsageError(f"{option}: {text} is larger than a 32-bit memory (4GiB)")
    return value


def format_size(value: int) -> str:
    """A byte count the way a user would write it back to ``--max-memory``."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= scale and value % (scale // 16) == 0:
            return f"{value / scale:g}{unit}"
    return f"{value} bytes"


def format_seconds(value: float) -> str:
    return f"{value:g}s"


def parse_timeout(text: str | None, default: float | None = DEFAULT_TIMEOUT_S) -> float | None:
    if text is None:
        return default
    if text.strip().lower() in ("0", "none", "off", "inf"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--timeout: '{text}' is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--timeout: '{text}' must be a positive number of seconds")
    return value


def build_limits(
    timeout: str | None,
    fuel: int | None,
    max_memory: str | None,
    default_timeout: float | None = DEFAULT_TIMEOUT_S,
) -> Limits:
    if fuel is not None and fuel <= 0:
        raise UsageError("--fuel: must be a positive number of units")
    return Limits(
        max_memory_bytes=parse_size(max_memory) if max_memory is not None else None,
        fuel=fuel,
        timeout_s=parse_timeout(timeout, default_timeout),
    )


def needs_supervision(engine: str, limits: Limits) -> bool:
    """Whether a run with these limits must go through a child process.

    Here rather than in :mod:`wapc_cli.isolation.supervisor` (which re-exports it) so that a
    one-shot call on wasmtime can ask without importing the supervisor.
    """
    if limits.timeout_s is None and limits.max_memory_bytes is None:
        return False
    if engine == "auto":
        from ..engines import get_engine

        engine = get_engine("auto").name
    return engine in SUPERVISED_ENGINES
