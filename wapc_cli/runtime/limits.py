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


def needs_supervision(engine: str, limits: Limits, *, stoppable: bool = True) -> bool:
    """Whether a run with these limits must go through a child process.

    The engine's declared capabilities answer: an engine that cannot interrupt
    a guest needs a child for a timeout, one that cannot limit memory itself
    for a max-memory limit. A ``stoppable`` run (every run the CLI makes: a
    Ctrl-C must end it) needs one on an engine that cannot interrupt a guest
    even without limits, since only killing the child then stops an endless
    guest. Declared in the engine registry, so asking loads no engine, except
    ``auto``, which must find out which engine it is. An unknown name needs
    none: loading it reports the error. Here rather than in
    :mod:`wapc_cli.isolation` so that a one-shot call on wasmtime can ask
    without importing the supervisor.
    """
    if engine not in ENGINE_NAMES:
        return False
    unlimited = limits.timeout_s is None and limits.max_memory_bytes is None
    if unlimited and not stoppable:
        return False
    capabilities = declared_capabilities(engine)
    if stoppable and not capabilities.interrupts:
        return True
    return capabilities.needs_child_process(limits)
