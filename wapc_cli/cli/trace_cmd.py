"""``wapc trace``: run one exchange and show every ABI step as it happens."""

from __future__ import annotations

import dataclasses
import sys
import time
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from ..guest import Guest, WapcModule
from ..hostcalls import HostCallHandler, HostCallRequest, HostReply
from ..payload import Encoding
from ..protocol import EventSink, HostAbort, LogSink
from .call import _error_json, run_call
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
    from ..trace import TraceSink


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
    from ..trace import JsonlSink, TraceResult

    sink: TraceSink
    if format is TraceFormat.jsonl:
        sink = JsonlSink(sys.stdout)
    else:
        from ..trace.rich_view import RichTimeline, make_console

        sink = RichTimeline(make_console())
    outcome = run_call(_traced(spec, sink), quiet=True)  # logs are steps of the timeline
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


@dataclasses.dataclass
class _TracedSpec(RunSpec):
    """The same run, with the sink told about the module and fed every event."""

    sink: TraceSink | None = None

    def load(self) -> WapcModule:
        from ..trace import RunInfo

        module = super().load()
        if self.sink is not None:
            self.sink.start(RunInfo(str(self.module), self.operation, module.engine_name,
                                    self.payload, self.host.describe))
        return module

    def instantiate(
        self, module: WapcModule, on_log: LogSink | None, tracer: EventSink | None = None
    ) -> Guest:
        return super().instantiate(module, on_log, self.sink)


def _traced(spec: RunSpec, sink: TraceSink) -> _TracedSpec:
    host = dataclasses.replace(spec.host, handler=_abort_aware(spec.host.handler, sink))
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(RunSpec)}
    fields["host"] = host
    return _TracedSpec(**fields, sink=sink)


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
