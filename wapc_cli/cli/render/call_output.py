"""What ``wapc call`` prints: the response bytes, or one ``--json`` object.

The raw bytes (``--decode raw``, and ``auto`` off a terminal) are the guest's,
exactly: that is what piping a response is for. A response *shown* as text
(``text``, ``json``, ``msgpack``, and ``auto`` on a terminal), terminal or not,
has its control characters escaped except newline and tab (:func:`.safe_text.lines`):
a guest's ``ESC [ 2 J`` or ``\r`` cannot clear or overwrite the screen. ``--json``
escapes DEL, C1 and bidi controls that ``json.dumps`` leaves raw.

No rich here: this is on the one-shot call path.
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING, Any

from ...errors import WapcError
from ...runtime.payload import DecodeError, as_text, decode_response, display_text
from ..console import terminal
from ..messages import for_user
from ..safe_text import json_safe, lines

if TYPE_CHECKING:
    from ..calling import CallOutcome


def write_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        terminal.warning_line(warning)


def write_response(data: bytes, decode: str) -> None:
    """The response on stdout: raw bytes when piped (``auto``), else as ``decode`` says."""
    out = terminal.stdout
    if decode == "raw" or (decode == "auto" and not terminal.is_tty(out)):
        out.flush()
        out.buffer.write(data)
        out.buffer.flush()
        return
    if decode == "auto":
        text = as_text(data)
        shown = text if text is not None else data.hex()
    else:
        shown, note = display_text(data, decode)  # JSON values as JSON: "hello" stays quoted
        if note is not None:
            terminal.warning_line(note)
    shown = lines(shown)
    out.write(shown if shown.endswith("\n") else shown + "\n")
    out.flush()


def write_json(outcome: CallOutcome, decode: str) -> None:
    """``--json``: one object on stdout, and the error's line on stderr as well."""
    import json  # only for --json: the plain call path does not load it

    document = json.dumps(outcome_json(outcome, decode), ensure_ascii=False)
    terminal.stdout.write(json_safe(document) + "\n")
    if outcome.error is not None:
        terminal.error_line(outcome.error)


def write_json_failure(
    error: WapcError, module: str | None = None, operation: str | None = None
) -> None:
    """``--json`` for a run that failed before the guest ran (a usage error, not a guest).

    Only the object: the caller raises the error, for its line on stderr.
    """
    import json

    document = failure_json(error, module, operation)
    terminal.stdout.write(json_safe(json.dumps(document, ensure_ascii=False)) + "\n")


def failure_json(
    error: WapcError, module: str | None = None, operation: str | None = None
) -> dict[str, Any]:
    """The ``--json`` object of a run that never reached the guest: the same keys, no results.

    ``engine``, ``timings`` and ``host`` are null (no engine ran); ``module`` and
    ``operation`` are null only when the command line could not be read.
    """
    return {
        "ok": False, "module": module, "operation": operation, "engine": None,
        "response": None, "response_b64": None, "response_len": None,
        "error": error_json(error), "warnings": [], "host_calls": 0, "logs": [],
        "timings": None, "exit_code": int(error.exit_code), "host": None, "deviations": [],
    }


def outcome_json(outcome: CallOutcome, decode: str) -> dict[str, Any]:
    """The ``--json`` object of one call (docs/cli.md)."""
    guest = outcome.guest
    result: dict[str, Any] = {
        "ok": outcome.error is None,
        "module": str(outcome.spec.module),
        "operation": outcome.spec.operation,
        "engine": outcome.engine,
        "response": None,
        "response_b64": None,
        "response_len": None,
        "error": None,
        "warnings": [for_user(w) for w in outcome.warnings],
        "host_calls": guest.last.host_calls if guest else outcome.host_calls,
        "logs": outcome.logs,
        "timings": guest.timings.as_dict() if guest else outcome.timings,
        "exit_code": outcome.exit_code,
        # the --host profile, and where it departed from the spec (the trace's deviations)
        "host": outcome.spec.profile_name,
        "deviations": list(outcome.deviations),
    }
    response = outcome.response
    if response is not None:
        result["response_b64"] = binascii.b2a_base64(response, newline=False).decode("ascii")
        result["response_len"] = len(response)
        result["response"] = _json_value(response, decode)
    if outcome.error is not None:
        result["error"] = error_json(outcome.error)
    if outcome.spec.host.preset_name == "kubewarden":
        from .kubewarden_view import verdict_json

        result["verdict"] = verdict_json(outcome)
    return result


def _json_value(data: bytes, decode: str) -> Any:
    if decode in ("auto", "raw", "text"):
        return as_text(data) if decode != "text" else data.decode("utf-8", "replace")
    try:
        return decode_response(data, decode)
    except DecodeError:
        return None


def error_json(error: WapcError) -> dict[str, Any]:
    """An error as the ``error`` member of ``--json`` output (also used by trace).

    ``WapcError.to_json`` without its ``type`` and ``exit_code`` (the output has
    the exit code at its top level), and the full message as the CLI shows it.
    """
    data = error.to_json()
    del data["type"], data["exit_code"]
    data["message"] = for_user(error)
    return data
