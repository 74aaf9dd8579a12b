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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...errors import InputFileError
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
    document = {"request": admission_request(request_file), "settings": settings(settings_file)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


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
