"""What ``wapc call`` does, without typer: both the typer command and the fast entry run it.

Nothing here imports typer or rich, and the supervisor (only wasmer runs with
limits need it) is imported when it is used, so the common one-shot call pays
for the protocol core and the engine only. How the result looks is
:mod:`.render.call_output`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import ExitCode, GuestError, GuestTrap, WapcError
from ..runtime.guest import Guest
from ..runtime.limits import needs_supervision
from ..runtime.session import EventSink, LogSink
from .console import terminal
from .render import call_output
from .run_options import RunOptions
from .runspec import RunSpec, build_runspec

if TYPE_CHECKING:
    from ..isolation import SupervisedOutcome
    from ..runtime.events import Event


def call_command(options: RunOptions) -> int:
    """Run the call and print its result; returns the exit code.

    A failure the caller's error policy reports (usage, a guest error without
    ``--json``) is raised as its :class:`~wapc_cli.errors.WapcError`; with
    ``--json`` every failure is the JSON object (and its line on stderr).
    """
    if options.json_out:
        try:
            outcome = _run(options, quiet=True)
        except WapcError as exc:  # usage, not a guest: still one JSON object
            call_output.write_json_failure(exc, str(options.module), options.operation)
            raise
        call_output.write_json(outcome, options.decode)
        return outcome.exit_code
    outcome = _run(options, quiet=options.quiet)
    call_output.write_warnings(outcome.warnings)
    if outcome.error is not None:
        raise outcome.error
    call_output.write_response(outcome.response or b"", options.decode)
    if outcome.spec.host.preset_name == "kubewarden":  # a policy's verdict, readably
        from .render.kubewarden_view import write_verdict

        write_verdict(outcome)
    return outcome.exit_code


def _run(options: RunOptions, *, quiet: bool) -> CallOutcome:
    """The call; with ``--core``, recorded, and a crash bundle written if it trapped."""
    spec = build_runspec(options)
    if options.core is None:
        return run_call(spec, quiet=quiet)
    from . import crash_bundle

    crash_bundle.check_free(options.core, spec, force=options.force)  # before running
    recorded = crash_bundle.recorder()
    outcome = run_call(spec, quiet=quiet, tracer=recorded, keep_memory=True)
    crash_bundle.write_if_trapped(options.core, outcome, recorded, force=options.force)
    return outcome


class CallOutcome:
    """The typed result of one ``call`` (:mod:`.render.call_output` shows it)."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.response: bytes | None = None
        self.error: WapcError | None = None
        self.guest: Guest | None = None
        self.engine = ""
        self.logs: list[dict[str, str]] = []
        self.warnings: list[str] = []
        # Set instead of ``guest`` when the call ran in a supervised child process.
        self.timings: dict[str, float] | None = None
        self.host_calls = 0
        #: A supervised call's trapped memory, when ``keep_memory`` asked for it (--core).
        self.memory: bytes | None = None
        #: Where the ``--host`` profile departed from the spec, as the trace marks it.
        self.deviations: list[str] = []

    @property
    def exit_code(self) -> int:
        return int(self.error.exit_code) if self.error is not None else int(ExitCode.OK)


def run_call(
    spec: RunSpec, *, quiet: bool = False, tracer: EventSink | None = None,
    on_start: Callable[[str], None] | None = None, keep_memory: bool = False,
) -> CallOutcome:
    """Load, instantiate, call; guest-side failures are kept in the outcome.

    ``tracer`` gets every event, live (from the child too when the run is
    supervised); ``on_start`` the engine's name once the module has compiled.
    """
    outcome = CallOutcome(spec)
    if spec.profile is not None:  # the default applies no rule: nothing to collect
        tracer = _noting_deviations(outcome.deviations, tracer)

    def on_log(message: str, source: str) -> None:
        outcome.logs.append({"source": source, "message": message})
        if not quiet:
            terminal.log_line(message, source)

    if needs_supervision(spec.engine, spec.limits):
        _run_supervised(spec, outcome, on_log, tracer, on_start, keep_memory)
    else:
        module = spec.load()  # bad files and non-guests raise straight to the CLI
        outcome.engine = module.engine_name
        if on_start is not None:
            on_start(module.engine_name)
        try:
            guest = outcome.guest = spec.instantiate(module, on_log, tracer)
            if spec.settings is not None:  # --admission-request: policy-server checks first
                from ..tools.kubewarden.admission import check_settings

                check_settings(guest.call, spec.settings)
            outcome.response = guest.call_timed(spec.operation, spec.payload)
            outcome.warnings = list(guest.last.warnings)
        except (GuestError, GuestTrap) as exc:
            outcome.error = exc
            if outcome.guest is not None:
                outcome.warnings = list(outcome.guest.last.warnings)
        except WapcError as exc:
            outcome.error = exc
    if outcome.error is None or outcome.error.exit_code != ExitCode.USAGE:
        try:
            spec.host.finish()  # stub expectations (times:), --record
        except WapcError as exc:
            if outcome.error is None:
                outcome.error = exc
    return outcome


def _noting_deviations(found: list[str], tracer: EventSink | None) -> EventSink:
    """``tracer`` (if any), also keeping each distinct deviation the events carry."""
    from ..runtime.profile_rules import MAX_DEVIATIONS  # a profile run loads it anyway

    def note(event: Event) -> None:
        deviation = event.deviation
        if deviation is not None and deviation not in found and len(found) < MAX_DEVIATIONS:
            found.append(deviation)
        if tracer is not None:
            tracer(event)

    return note


def _run_supervised(
    spec: RunSpec, outcome: CallOutcome, on_log: LogSink, tracer: EventSink | None = None,
    on_start: Callable[[str], None] | None = None, keep_memory: bool = False,
) -> None:
    """The same call in a child process that enforces the limits (wasmer)."""
    from ..isolation import run_supervised
    from ..runtime.guest import read_module_file
    from .runspec import module_cache

    spec.host.attach(tracer, on_log)  # the parent's own guests (Tarmac's functions) too
    wasm = read_module_file(spec.module)

    def run(operation: str, payload: bytes, first: bool = True) -> SupervisedOutcome:
        return run_supervised(
            wasm, operation=operation, payload=payload,
            name=str(spec.module), engine=spec.engine, limits=spec.limits, wasi=spec.wasi,
            host_call=spec.host.handler, on_log=on_log, tracer=tracer,
            on_start=on_start if first else None, keep_memory=keep_memory,
            cache=module_cache(spec.cache), profile=spec.profile_name,
        )

    result = None
    if spec.settings is not None:  # in an instance of its own, as policy-server runs it
        from ..tools.kubewarden.admission import SETTINGS_OPERATION, settings_problem

        result = run(SETTINGS_OPERATION, spec.settings)
        problem = settings_problem(result.response, result.error)
        if problem is not None:
            result.response, result.error = None, problem
    if result is None or result.error is None:
        result = run(spec.operation, spec.payload, first=result is None)
    if result.error is not None and result.error.exit_code in (ExitCode.USAGE,
                                                               ExitCode.NOT_A_GUEST):
        raise result.error  # as spec.load() would have
    outcome.engine = result.engine
    outcome.response = result.response
    outcome.error = result.error
    outcome.warnings = result.warnings
    outcome.timings = result.timings or None
    outcome.host_calls = result.host_calls
    outcome.memory = result.memory
