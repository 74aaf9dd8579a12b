"""The ``validate`` payload kwctl builds from an AdmissionReview and settings, and the verdict.

kwctl ``run`` (``src/config/pull_and_run.rs``, ``src/command/run/evaluator.rs``)
reads the request file as JSON: an ``AdmissionReview`` (``kind:
AdmissionReview``) gives its ``request``, anything else is the
AdmissionRequest itself. Settings come from a YAML or JSON file (an object, or
null for ``{}``). policy-evaluator then calls ``validate`` with
``{"request": <AdmissionRequest>, "settings": {...}}`` (``runtime.rs``), and
reads the guest's ``ValidationResponse`` (``accepted``, ``message``, ``code``,
``mutated_object``, ``audit_annotations``, ``warnings``): a mutation becomes a
JSONPatch against ``request.object``.

Before ``validate``, policy-server (and ``kwctl run``) calls the policy's
``validate_settings`` with the settings alone; settings it refuses are
reported as policy-server words them (:func:`check_settings`), and ``validate``
is not called.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...errors import GuestError, GuestTrap, InputFileError, WapcError
from ...runtime.payload import read_user_file

#: The largest AdmissionReview or settings file read.
MAX_REQUEST_BYTES = 64 << 20


def _text(path: Path, what: str) -> str:
    data = read_user_file(str(path), what, max_bytes=MAX_REQUEST_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: {what} is not UTF-8 text "
                             f"(bad byte at offset {exc.start})") from None


def admission_request(path: Path) -> Any:
    """The AdmissionRequest of a request file (the ``request`` of an AdmissionReview)."""
    try:
        document = json.loads(_text(path, "admission request"))
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: admission request is not JSON (line {exc.lineno}, "
                             f"column {exc.colno}: {exc.msg})") from None
    if isinstance(document, dict) and document.get("kind") == "AdmissionReview":
        if not isinstance(document.get("request"), dict):
            raise InputFileError(f"{path}: the AdmissionReview has no request object")
        return document["request"]
    if not isinstance(document, dict):
        raise InputFileError(f"{path}: expected an AdmissionReview or an AdmissionRequest "
                             "(a JSON object)")
    return document


def settings(path: Path | None) -> dict[str, Any]:
    """The policy's settings (YAML or JSON): an object; null or no file is ``{}``."""
    if path is None:
        return {}
    try:
        value = yaml.safe_load(_text(path, "settings"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InputFileError(f"{path}: settings are not YAML or JSON{where}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputFileError(f"{path}: settings must be a mapping (a JSON object)")
    return value


def validate_payload(request_file: Path, settings_file: Path | None) -> bytes:
    """``{"request": ..., "settings": ...}``, as policy-evaluator sends ``validate``."""
    return kwctl_payloads(request_file, settings_file)[0]


def kwctl_payloads(request_file: Path, settings_file: Path | None) -> tuple[bytes, bytes]:
    """The ``validate`` payload and the ``validate_settings`` one (the settings alone)."""
    policy_settings = settings(settings_file)
    document = {"request": admission_request(request_file), "settings": policy_settings}
    return _json_bytes(document), _json_bytes(policy_settings)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


# -- validate_settings, before validate --------------------------------------------------
#: The export policy-server calls once per policy, with its settings, before any request.
SETTINGS_OPERATION = "validate_settings"
#: policy-server's words for a policy whose settings were refused (``evaluation_environment.rs``
#: ``validate_settings``); with ``--continue-on-errors`` it rejects each request with them.
INVALID_SETTINGS = "Policy settings are invalid: {message}"


class InvalidSettings(GuestError):
    """The policy's ``validate_settings`` refused its settings (exit 1, as ``kwctl run``)."""


def check_settings(call: Callable[[str, bytes], bytes], settings_payload: bytes) -> None:
    """Call ``validate_settings`` as policy-server does before it evaluates a request;
    raises :class:`InvalidSettings` when the policy finds its settings invalid.

    A guest error counts as invalid settings (policy-evaluator: ``Error invoking
    settings validation callback: ...``); a trap or a limit stays what it is,
    marked as happening in ``validate_settings``.
    """
    try:
        response = call(SETTINGS_OPERATION, settings_payload)
    except (GuestError, GuestTrap) as exc:
        raise settings_problem(None, exc) or exc from None
    problem = settings_problem(response, None)
    if problem is not None:
        raise problem


def settings_problem(response: bytes | None, error: WapcError | None) -> WapcError | None:
    """What ``validate_settings`` answering ``response`` (or failing with ``error``) means:
    None when the settings are valid, else the error to report."""
    if isinstance(error, GuestTrap):
        if error.phase == "call":
            error.phase = SETTINGS_OPERATION  # "... (during validate_settings)"
        return error
    if isinstance(error, GuestError):
        message = f"Error invoking settings validation callback: {error.message}"
    elif error is not None:
        return error  # not the guest's answer (a stub table's failure, ...)
    else:
        verdict = read_settings_verdict(response or b"")
        if verdict is None:
            message = ("error: the response is not a SettingsValidationResponse "
                       '({"valid": bool, "message": str|null})')
        elif verdict[0]:
            return None
        else:
            message = verdict[1] if verdict[1] is not None else "no message"
    text = INVALID_SETTINGS.format(message=message)
    return InvalidSettings(text, text.encode("utf-8"))


def read_settings_verdict(response: bytes) -> tuple[bool, str | None] | None:
    """``(valid, message)`` of a SettingsValidationResponse; None when it is not one."""
    try:
        value = json.loads(response.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("valid"), bool):
        return None
    message = value.get("message")
    if message is not None and not isinstance(message, str):
        return None  # serde refuses a message that is not a string or null
    return value["valid"], message


@dataclass(frozen=True)
class Verdict:
    """A policy's ``ValidationResponse``, read."""

    accepted: bool
    message: str | None
    code: int | None
    mutated: bool
    patch_operations: int
    patch_bytes: int
    warnings: tuple[str, ...]
    audit_annotations: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "message": self.message, "code": self.code,
                "mutated": self.mutated, "patch_operations": self.patch_operations,
                "patch_bytes": self.patch_bytes, "warnings": list(self.warnings),
                "audit_annotations": dict(self.audit_annotations)}


class NotAVerdict(ValueError):
    """The response is not a ValidationResponse (Kubewarden rejects it with a 500)."""


def read_verdict(response: bytes, payload: bytes | None) -> Verdict:
    """The verdict in ``response``; ``payload`` (the validate payload) for the patch."""
    try:
        value = json.loads(response.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise NotAVerdict("the response is not JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("accepted"), bool):
        raise NotAVerdict("the response has no boolean 'accepted'")
    code = value.get("code")
    message = value.get("message")
    mutated_object = value.get("mutated_object")
    operations = size = 0
    if mutated_object is not None:
        original = _request_object(payload)
        import jsonpatch  # only for a mutating verdict

        patch = jsonpatch.make_patch(original, mutated_object)
        operations = len(patch.patch)
        size = len(json.dumps(patch.patch, separators=(",", ":")).encode("utf-8")) \
            if operations else 0
    warnings = value.get("warnings") or []
    annotations = value.get("audit_annotations") or {}
    return Verdict(
        accepted=value["accepted"],
        message=message if isinstance(message, str) else None,
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        mutated=mutated_object is not None and operations > 0,
        patch_operations=operations, patch_bytes=size,
        warnings=tuple(str(w) for w in warnings if isinstance(warnings, list)),
        audit_annotations={str(k): str(v) for k, v in annotations.items()}
        if isinstance(annotations, dict) else {},
    )


def _request_object(payload: bytes | None) -> Any:
    try:
        value = json.loads(payload or b"null")
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("request"), dict):
        return value["request"].get("object")
    return None
