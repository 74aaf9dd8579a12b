"""What ``wapc trace`` does, without typer: both the typer command and the fast entry run it."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WapcError
from ..runtime.hostcalls import HostCallHandler, HostCallRequest, HostReply
from ..runtime.session import HostAbort
from .calling import CallOutcome, run_call
from .console import terminal
from .messages import for_user
from .render.call_output import error_json
from .run_options import RunOptions
from .runspec import RunSpec, build_runspec

if TYPE_CHECKING:  # the renderers load only when `trace` runs, keeping start-up quick
    from ..tools.trace import TraceSink


class TraceFormat(str, Enum):
    rich = "rich"
    jsonl = "jsonl"


def trace_command(options: RunOptions, format: TraceFormat, export: Path | None = None) -> int:
    """Call OPERATION on MODULE and show every ABI step, live; the exit code (errors raise)."""
    from ..tools.trace import TraceResult
    from . import crash_bundle, trace_extras

    sink: TraceSink
    if format is TraceFormat.jsonl:
        from .render.trace_jsonl import JsonlSink

        sink = JsonlSink(terminal.stdout)
    else:
        from .render.trace_rich import RichTimeline

        sink = RichTimeline(terminal.rich_console(terminal.stdout, markup=False))
    try:
        spec = build_runspec(options)
        if options.core is not None:
            crash_bundle.check_free(options.core, spec, force=options.force)
        sink, recorded = trace_extras.extend(sink, options, export)
        outcome = _run_traced(spec, sink, keep_memory=recorded is not None)
    except WapcError as exc:
        # Usage, not a guest: nothing ran. JSON lines still end in their summary.
        if format is TraceFormat.jsonl:
            sink.finish(TraceResult(exit_code=int(exc.exit_code), kind=exc.kind,
                                    message=for_user(exc), response=None,
                                    error=error_json(exc)))
        raise
    error = outcome.error
    details = None if error is None else error_json(error)
    sink.finish(TraceResult(
        exit_code=outcome.exit_code,
        kind="ok" if details is None else details["kind"],
        message=None if error is None else for_user(error),
        response=outcome.response,
        warnings=tuple(for_user(w) for w in outcome.warnings),
        error=details,
        preset=spec.host.preset_state(),
    ))
    if recorded is not None and options.core is not None:
        crash_bundle.write_if_trapped(options.core, outcome, recorded, force=options.force)
    if error is not None:
        raise error  # one line on stderr, the documented exit code
    return 0


def _run_traced(spec: RunSpec, sink: TraceSink, keep_memory: bool = False) -> CallOutcome:
    """The call with the sink told about the module and fed every event, live.

    On wasmer with a limit the run happens in a supervised child process
    (wapc_cli.isolation) whose events stream to the sink as they happen; a
    guest killed at the timeout still shows its steps up to then.
    """
    from ..runtime.limits import needs_supervision
    from ..tools.trace import RunInfo

    host = spec.host.with_handler(_abort_aware(spec.host.handler, sink))
    traced = spec.with_host(host)
    # The child keeps its own clock: drawing a step here does not hold the guest up.
    sink.concurrent = needs_supervision(spec.engine, spec.limits)

    def started(engine: str) -> None:
        described = host.describe if spec.profile is None else \
            f"{host.describe} · as {spec.profile.label} would ({spec.profile.library})"
        sink.start(RunInfo(str(spec.module), spec.operation, engine, spec.payload, described))

    # logs are steps of the timeline, not lines on stderr
    return run_call(traced, quiet=True, tracer=sink, on_start=started, keep_memory=keep_memory)


def _abort_aware(handler: HostCallHandler, sink: TraceSink) -> HostCallHandler:
    """Show the host call on which a stub table stops the run (the core emits nothing)."""

    def handle(request: HostCallRequest) -> bytes | HostReply:
        started = time.perf_counter_ns()
        try:
            return handler(request)
        except HostAbort as exc:
            sink.host_abort(request, for_user(exc.error), time.perf_counter_ns() - started)
            raise

    return handle
