"""What ``wapc call`` does, without typer: both the typer command and the fast entry run it.

Nothing here imports typer or rich, and the supervisor (only wasmer runs with
limits need it) is imported when it is used, so the common one-shot call pays
for the protocol core and the engine only.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ExitCode, GuestError, GuestTrap, LimitExceeded, WapcError
from ..runtime.guest import Guest
from ..runtime.limits import needs_supervision
from ..runtime.payload import DecodeError, as_text, decode_response
from ..runtime.session import EventSink, LogSink
from . import console
from .runspec import RunSpec, build_runspec


def call_command(
    *,
    module: Path,
    operation: str,
    payload: str | None = None,
    payload_hex: str | None = None,
    payload_json: str | None = None,
    encode: str = "json",
    decode: str = "auto",
    engine: str = "auto",
    stubs: list[Path] | None = None,
    preset: str | None = None,
    record: Path | None = None,
    force: bool = False,
    timeout: str | None = None,
    fuel: int | None = None,
    max_memory: str | None = None,
    env: list[str] | None = None,
    arg: list[str] | None = None,
    dir: list[str] | None = None,
    json_out: bool = False,
    quiet: bool = False,
    no_cache: bool = False,
) -> int:
    """Run the call and print its result; returns the exit code.

    A failure the caller's error policy reports (usage, a guest error without
    ``--json``) is raised as its :class:`~wapc_cli.errors.WapcError`.
    """
    spec = build_runspec(
        module=module, operation=operation, payload=payload, payload_hex=payload_hex,
        payload_json=payload_json, encode=encode, engine=engine, timeout=timeout, fuel=fuel,
        max_memory=max_memory, env=env, args=arg, dirs=dir, stubs=stubs, preset=preset,
        record=record, force=force, no_cache=no_cache,
    )
    outcome = run_call(spec, quiet=quiet or json_out)
    if json_out:
        sys.stdout.write(json.dumps(outcome.as_json(decode), ensure_ascii=False) + "\n")
        if outcome.error is not None:
            console.error_line(str(outcome.error))
    elif outcome.error is not None:
        for warning in outcome.warnings:
            console.warning_line(warning)
        raise outcome.error
    else:
        for warning in outcome.warnings:
            console.warning_line(warning)
        write_response(outcome.response or b"", decode)
    return outcome.exit_code


class CallOutcome:
    """The typed result of one ``call``, rendered as bytes or as JSON."""

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

    @property
    def exit_code(self) -> int:
        return int(self.error.exit_code) if self.error is not None else int(ExitCode.OK)

    def as_json(self, decode: str) -> dict[str, Any]:
        timings = self.guest.timings.as_dict() if self.guest else self.timings
        result: dict[str, Any] = {
            "ok": self.error is None,
            "module": str(self.spec.module),
            "operation": self.spec.operation,
            "engine": self.engine,
            "response": None,
            "response_b64": None,
            "response_len": None,
            "error": None,
            "warnings": self.warnings,
            "host_calls": self.guest.last.host_calls if self.guest else self.host_calls,
            "logs": self.logs,
            "timings": timings,
            "exit_code": self.exit_code,
        }
        if self.response is not None:
            result["response_b64"] = base64.b64encode(self.response).decode("ascii")
            result["response_len"] = len(self.response)
            result["response"] = _json_value(self.response, decode)
        if self.error is not None:
            result["error"] = error_json(self.error)
        return result


def _json_value(data: bytes, decode: str) -> Any:
    if decode in ("auto", "raw", "text"):
        return as_text(data) if decode != "text" else data.decode("utf-8", "replace")
    try:
        return decode_response(data, decode)
    except DecodeError:
        return None


def error_json(error: WapcError) -> dict[str, Any]:
    """An error as the ``error`` member of ``--json`` output (also used by trace)."""
    kind = {
        ExitCode.GUEST_ERROR: "guest_error",
        ExitCode.TRAP: "limit" if isinstance(error, LimitExceeded) else "trap",
        ExitCode.NOT_A_GUEST: "not_a_guest",
        ExitCode.STUB_FAILURE: "stub_failure",
    }.get(error.exit_code, "usage")
    data: dict[str, Any] = {"kind": kind, "message": str(error)}
    if isinstance(error, GuestTrap):
        data["guest_error"] = error.guest_error
        data["frames"] = list(error.frames)
        data["phase"] = error.phase
    if isinstance(error, LimitExceeded):
        data["limit"] = error.limit
        data["figure"] = error.figure
    if isinstance(error, GuestError):
        data["raw_b64"] = base64.b64encode(error.raw).decode("ascii")
    return data


def run_call(
    spec: RunSpec, *, quiet: bool = False, tracer: EventSink | None = None,
    on_start: Callable[[str], None] | None = None,
) -> CallOutcome:
    """Load, instantiate, call; guest-side failures are kept in the outcome.

    ``tracer`` gets every event, live (from the child too when the run is
    supervised); ``on_start`` the engine's name once the module has compiled.
    """
    outcome = CallOutcome(spec)

    def on_log(message: str, source: str) -> None:
        outcome.logs.append({"source": source, "message": message})
        if not quiet:
            console.log_line(message, source)

    if needs_supervision(spec.engine, spec.limits):
        _run_supervised(spec, outcome, on_log, tracer, on_start)
    else:
        module = spec.load()  # bad files and non-guests raise straight to the CLI
        outcome.engine = module.engine_name
        if on_start is not None:
            on_start(module.engine_name)
        try:
            guest = outcome.guest = spec.instantiate(module, on_log, tracer)
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


def _run_supervised(
    spec: RunSpec, outcome: CallOutcome, on_log: LogSink, tracer: EventSink | None = None,
    on_start: Callable[[str], None] | None = None,
) -> None:
    """The same call in a child process that enforces the limits (wasmer)."""
    from ..isolation.supervisor import run_supervised
    from ..runtime.guest import read_module_file

    result = run_supervised(
        read_module_file(spec.module), operation=spec.operation, payload=spec.payload,
        name=str(spec.module), engine=spec.engine, limits=spec.limits, wasi=spec.wasi,
        host_call=spec.host.handler, on_log=on_log, tracer=tracer, on_start=on_start,
    )
    if result.error is not None and result.error.exit_code in (ExitCode.USAGE,
                                                               ExitCode.NOT_A_GUEST):
        raise result.error  # as spec.load() would have
    outcome.engine = result.engine
    outcome.response = result.response
    outcome.error = result.error
    outcome.warnings = result.warnings
    outcome.timings = result.timings or None
    outcome.host_calls = result.host_calls


def write_response(data: bytes, decode: str) -> None:
    stdout_tty = console.stdout_is_tty()
    if decode == "raw" or (decode == "auto" and not stdout_tty):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if decode == "auto":
        text = as_text(data)
        shown = text if text is not None else data.hex()
    else:
        try:
            value = decode_response(data, decode)
        except DecodeError as exc:
            console.warning_line(f"{exc}; showing hex")
            value = data.hex()
        shown = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    sys.stdout.write(shown if shown.endswith("\n") else shown + "\n")
    sys.stdout.flush()
