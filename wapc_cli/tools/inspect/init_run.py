"""``inspect --run``: the one part of inspect that executes the module (a smoke test for CI).

Compile, instantiate (which runs a start section) and run the init exports
once; what happened is returned as a :class:`RunResult`, failures included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ...engines.base import Limits
from ...errors import EngineUnavailable, WapcError
from .report import InitInfo


@dataclass(frozen=True, slots=True)
class InitRun:
    step: str  # "compile", "start" (instantiation incl. the start section), "_start", ...
    outcome: str  # "ok" | "exit(0)" | "trap" | "error" (compile)
    ms: float

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "outcome": self.outcome, "ms": round(self.ms, 3)}


@dataclass(frozen=True, slots=True)
class RunResult:
    """What instantiating the module and running its init exports did."""

    engine: str
    steps: tuple[InitRun, ...]
    logs: tuple[tuple[str, str], ...]  # (source, line)
    error: WapcError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "ok": self.ok,
            "steps": [s.as_json() for s in self.steps],
            "logs": [{"source": s, "message": m} for s, m in self.logs],
            "error": str(self.error) if self.error is not None else None,
            "exit_code": int(self.error.exit_code) if self.error is not None else 0,
        }


def run_init(
    data: bytes, name: str, *, engine: str = "auto", limits: Limits | None = None
) -> RunResult:
    """Compile, instantiate (start section) and run the init exports, once.

    Failures (the engine refusing the module, a trap) are kept in the result;
    only an engine that cannot load here raises (``EngineUnavailable``).
    """
    from ...engines import get_engine
    from ...runtime.events import InitStep
    from ...runtime.guest import WapcModule

    started = time.perf_counter()
    try:
        module = WapcModule.from_bytes(data, engine=engine, limits=limits, name=name)
    except EngineUnavailable:
        raise
    except WapcError as exc:  # the engine validates code this reader skips
        ms = (time.perf_counter() - started) * 1000
        return RunResult(get_engine(engine).name, (InitRun("compile", "error", ms),), (), exc)
    steps: list[InitRun] = [InitRun("compile", "ok", module.compile_ms)]
    logs: list[tuple[str, str]] = []

    def tracer(event: object) -> None:
        if isinstance(event, InitStep):
            steps.append(InitRun(event.step, event.outcome, event.duration_ns / 1e6))

    error: WapcError | None = None
    started = time.perf_counter()
    try:
        module.instantiate(on_log=lambda line, source: logs.append((source, line)), tracer=tracer)
    except WapcError as exc:
        error = exc
        if len(steps) == 1:  # the start section trapped: the tracer never heard of it
            steps.append(InitRun("start", "trap", (time.perf_counter() - started) * 1000))
    return RunResult(module.engine_name, tuple(steps), tuple(logs), error)


def run_init_enforced(
    data: bytes, name: str, init: InitInfo, *, engine: str, limits: Limits
) -> RunResult:
    """:func:`run_init` with ``limits`` enforced: in-process where the engine can stop a
    guest, else (wasmer) in a supervised child process that is killed at the timeout.

    ``init`` (from the static report) names the steps a killed child never reported.
    """
    from ...runtime.limits import needs_supervision

    if not needs_supervision(engine, limits):
        return run_init(data, name, engine=engine, limits=limits)
    return _run_init_supervised(data, name, init, engine, limits)


def _run_init_supervised(
    data: bytes, name: str, init: InitInfo, engine: str, limits: Limits
) -> RunResult:
    from ...isolation import run_supervised
    from ...runtime.events import Event, InitStep

    steps: list[InitRun] = []
    logs: list[tuple[str, str]] = []
    started = [time.perf_counter()]

    def tracer(event: Event) -> None:
        if isinstance(event, InitStep):
            steps.append(InitRun(event.step, event.outcome, event.duration_ns / 1e6))

    def on_start(engine_name: str) -> None:
        started[0] = time.perf_counter()

    outcome = run_supervised(
        data, name=name, engine=engine, limits=limits, mode="init",
        tracer=tracer, on_log=lambda line, source: logs.append((source, line)),
        on_start=on_start,
    )
    error = outcome.error
    if isinstance(error, EngineUnavailable):
        raise error  # as run_init does
    ms = (time.perf_counter() - started[0]) * 1000
    if not outcome.started:  # the engine refused the module
        return RunResult(outcome.engine, (InitRun("compile", "error", ms),), (), error)
    if error is not None and not any(s.outcome in ("trap", "error") for s in steps):
        # Killed (timeout, memory) or trapped in the start section: no event for that step.
        # The names Guest gives its init steps: a start section runs after instantiation.
        deferred = init.start_section and (not steps or steps[0].step == "instantiate")
        order = ["instantiate", "start section"] if deferred else ["start"]
        order += init.exports
        step = order[len(steps)] if len(steps) < len(order) else "init"
        steps.append(InitRun(step, "trap", max(0.0, ms - sum(s.ms for s in steps))))
    compiled = InitRun("compile", "ok", outcome.compile_ms)
    return RunResult(outcome.engine, (compiled, *steps), tuple(logs), error)
