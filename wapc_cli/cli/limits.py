"""The limit flags (``--timeout``, ``--fuel``, ``--max-memory``) parsed into :class:`Limits`.

Each flag has a largest value, refused above with one clear line (exit 2)
rather than passed on to an engine that would wrap it: ``--timeout`` at most
:data:`MAX_TIMEOUT_S` (30 days; ``none`` sets no limit), ``--fuel`` at most
:data:`~wapc_cli.engines.base.MAX_FUEL` (2**64-1, wasmtime's fuel counter),
``--max-memory`` at most 4GiB (a 32-bit memory).
"""

from __future__ import annotations

import math
import re

from ..engines.base import MAX_FUEL, Limits
from ..errors import UsageError
from ..runtime.limits import DEFAULT_TIMEOUT_S

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
}
#: The most a 32-bit memory can hold.
_MAX_SIZE = 4 * 1024**3
#: The longest ``--timeout`` accepted: 30 days. Longer is no limit in practice
#: (say ``--timeout none``), and every timer down the line stays in range.
MAX_TIMEOUT_S = 30 * 24 * 3600


def parse_size(text: str, option: str = "--max-memory") -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise UsageError(f"{option}: '{text}' is not a size (e.g. 65536, 64KiB, 16MiB, 1GiB)")
    number = float(match.group(1)) * _UNITS[unit]
    if not math.isfinite(number) or number > _MAX_SIZE:  # 1e400 overflows to inf
        raise UsageError(f"{option}: {text} is larger than a 32-bit memory (4GiB)")
    value = int(number)
    if value <= 0:
        raise UsageError(f"{option}: must be greater than zero")
    if value > _MAX_SIZE:
        raise UsageError(f"{option}: {text} is larger than a 32-bit memory (4GiB)")
    return value


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
    if value > MAX_TIMEOUT_S:
        raise UsageError(
            f"--timeout: {text} is more than the maximum of {MAX_TIMEOUT_S} seconds (30 days); "
            "use --timeout none for no limit"
        )
    return value


def build_limits(
    timeout: str | None,
    fuel: int | None,
    max_memory: str | None,
    default_timeout: float | None = DEFAULT_TIMEOUT_S,
) -> Limits:
    if fuel is not None and fuel <= 0:
        raise UsageError("--fuel: must be a positive number of units")
    if fuel is not None and fuel > MAX_FUEL:
        raise UsageError(f"--fuel: {fuel} is more than the maximum of {MAX_FUEL} units (2**64-1)")
    return Limits(
        max_memory_bytes=parse_size(max_memory) if max_memory is not None else None,
        fuel=fuel,
        timeout_s=parse_timeout(timeout, default_timeout),
    )
