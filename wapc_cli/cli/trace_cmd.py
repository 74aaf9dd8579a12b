"""``wapc trace``: run one exchange and show every ABI step as it happens."""

from __future__ import annotations

import sys
import time
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from ..runtime.hostcalls import HostCallHandler, HostCallRequest, HostReply
from ..runtime.payload import Encoding
from ..runtime.session import HostAbort
from .call import CallOutcome, _error_json, run_call
from .options import (
    ArgOpt,
    DirOpt,
    EncodeOpt,
    EngineOpt,
    EnvOpt,
    ForceOpt,
    FuelOpt,
    MaxMemoryOpt,
    ModuleArg,
    OperationArg,
    PayloadHexOpt,
    PayloadJsonOpt,
    PayloadOpt,
    PresetOpt,
    RecordOpt,
    StubsOpt,
    TimeoutOpt,
)
from .runspec import RunSpec, build_runspec

if TYPE_CHECKING:  # the renderers load only when `trace` runs, keeping start-up quick
    from .render import TraceSink


class TraceFormat(str, Enum):
    rich = "rich"
    jsonl = "jsonl"


FormatOpt = Annotated[
    TraceFormat,
    typer.Option(
        "--format", "-f", case_sensitive=False,
        help="rich: a timeline (plain text when piped or NO_COLOR); jsonl: one JSON object "
        "per step.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)


def trace(
    module: ModuleArg,
    operation: OperationArg,
    payload: PayloadOpt = None,
    payload_hex: PayloadHexOpt = None,
    payload_json: PayloadJsonOpt = None,
    encode: EncodeOpt = Encoding.json,
    engine: EngineOpt = "auto",
    stubs: StubsOpt = None,
    preset: PresetOpt = None,
    record: RecordOpt = None,
    force: ForceOpt = False,
    timeout: TimeoutOpt = None,
    fuel: FuelOpt = None,
    max_memory: MaxMemoryOpt = None,
    env: EnvOpt = None,
    arg: ArgOpt = None,
    dir: DirOpt = None,
    format: FormatOpt = TraceFormat.rich,
) -> None:
    """Call OPERATION on MODULE and show every ABI step, live, with a closing summary."""
    spec = build_runspec(
        module=module, operation=operation, payload=payload, payload_hex=payload_hex,
        payload_json=payload_json, encode=encode.value, engine=engine, timeout=timeout, fuel=fuel,
        max_memory=max_memory, env=env, args=arg, dirs=dir, stubs=stubs, preset=preset,
        record=record, force=force,
    )
    from .render import JsonlSink, TraceResult

    sink: TraceSink
    if format is TraceFormat.jsonl:
        sink = JsonlSink(sys.stdout)
    else:
        from .render.trace_rich import RichTimeline, make_console

        sink = RichTimeline(make_console())
    outcome = _run_traced(spec, sink)
    error = outcome.error
    stubs_state = getattr(spec.host, "stubs", None)
    preset_state = stubs_state.preset.summary() if stubs_state and stubs_state.preset else None
    details = None if error is None else _error_json(error)
    sink.finish(TraceResult(
        exit_code=outcome.exit_code,
        kind="ok" if details is None else details["kind"],
        message=None if error is None else str(error),
        response=outcome.response,
        warnings=tuple(outcome.warnings),
        error=details,
        preset=preset_state,
    ))
    if error is not None:
        raise error  # one line on stderr, the documented exit code
    raise typer.Exit(0)


def _run_traced(spec: RunSpec, sink: TraceSink) -> CallOutcome:
    """The call with the sink told about the module and fed every event, live.

    On wasmer with a limit the run happens in a supervised child process
    (wapc_cli.isolation.supervisor) whose events stream to the sink as they happen; a
    guest killed at the timeout still shows its steps up to then.
    """
    from ..isolation.supervisor import needs_supervision
    from .render import RunInfo

    host = spec.host.with_handler(_abort_aware(spec.host.handler, sink))
    traced = spec.with_host(host)
    # The child keeps its own clock: drawing a step here does not hold the guest up.
    sink.concurrent = needs_supervision(spec.engine, spec.limits)

    def started(engine: str) -> None:
        sink.start(RunInfo(str(spec.module), spec.operation, engine, spec.payload,
                           host.describe))

    # logs are steps of the timeline, not lines on stderr
    return run_call(traced, quiet=True, tracer=sink, on_start=started)


def _abort_aware(handler: HostCallHandler, sink: TraceSink) -> HostCallHandler:
    """Show the host call on which a stub table stops the run (the core emits nothing)."""

    def handle(request: HostCallRequest) -> bytes | HostReply:
        started = time.perf_counter_ns()
        try:
            return handler(request)
        except HostAbort as exc:
            sink.host_abort(request, str(exc.error), time.perf_counter_ns() - started)
            raise

    return handle
