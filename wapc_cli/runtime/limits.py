"""Limit values shown to the user, and whether a run must be supervised.

Parsing the user's text into :class:`~wapc_cli.engines.base.Limits` is the
CLI's business (:mod:`wapc_cli.cli.limits`); here is what every layer shares.
"""

from __future__ import annotations

from ..engines import ENGINE_NAMES, declared_capabilities
from ..engines.base import Limits

DEFAULT_TIMEOUT_S = 30.0


def format_size(value: int) -> str:
    """A byte count the way a user would write it back as a max-memory limit."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= scale and value % (scale // 16) == 0:
            return f"{value / scale:g}{unit}"
    return f"{value} bytes"


def format_seconds(value: float) -> str:
    return f"{value:g}s"


def needs_supervision(engine: str, limits: Limits) -> bool:
    """Whether a run with these limits must go through a child process.

    The engine's declared capabilities answer (an engine that cannot interrupt
    a guest, or cannot limit memory itself, needs a child for a timeout or a
    max-memory limit). Declared in the engine registry, so asking loads no
    engine, except ``auto``, which must find out which engine it is. An unknown
    name needs none: loading it reports the error. Here rather than in
    :mod:`wapc_cli.isolation` so that a one-shot call on wasmtime can ask
    without importing the supervisor.
    """
    if limits.timeout_s is None and limits.max_memory_bytes is None:
        return False
    if engine not in ENGINE_NAMES:
        return False
    return declared_capabilities(engine).needs_child_process(limits)
