"""A Kubewarden policy's verdict, readably: accepted or rejected, message, code, patch size.

Shown for a ``validate`` call answered by the kubewarden preset (or built from
``--admission-request``): one line on stderr after the response (``wapc call``),
and a ``verdict`` member in ``--json``. A response that is not a
ValidationResponse is said so: Kubewarden would reject the request with 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..console import terminal
from ..safe_text import one_line

if TYPE_CHECKING:
    from ...tools.kubewarden.admission import Verdict
    from ..calling import CallOutcome

VALIDATE = "validate"


def applies(outcome: CallOutcome) -> bool:
    """Whether the call was a Kubewarden ``validate`` that answered."""
    spec = outcome.spec
    return (spec.operation == VALIDATE and outcome.response is not None
            and spec.host.preset_name == "kubewarden")


def verdict(outcome: CallOutcome) -> tuple[Verdict | None, str | None]:
    """The verdict, or why the response is not one."""
    from ...tools.kubewarden.admission import NotAVerdict, read_verdict

    try:
        return read_verdict(outcome.response or b"", outcome.spec.payload), None
    except NotAVerdict as exc:
        return None, str(exc)


def describe(found: Verdict) -> str:
    parts = ["accepted" if found.accepted else "rejected"]
    if found.code is not None:
        parts.append(f"code {found.code}")
    if found.message:
        parts.append(f"message: {one_line(found.message)}")
    if found.mutated:
        parts.append(f"patch: {found.patch_operations} operation"
                     f"{'s' if found.patch_operations != 1 else ''}, {found.patch_bytes} B")
    if found.warnings:
        parts.append(f"{len(found.warnings)} warning{'s' if len(found.warnings) != 1 else ''}")
    return " · ".join(parts)


def write_verdict(outcome: CallOutcome) -> None:
    """The verdict line on stderr (nothing unless :func:`applies`)."""
    if not applies(outcome):
        return
    found, problem = verdict(outcome)
    if found is None:
        line = (f"kubewarden verdict: not a ValidationResponse ({problem}); Kubewarden "
                "rejects the request with code 500")
    else:
        line = f"kubewarden verdict: {describe(found)}"
    stream = terminal.stderr
    try:
        stream.write(f"wapc: {line}\n")
        stream.flush()
    except OSError:
        pass


def verdict_json(outcome: CallOutcome) -> dict[str, Any] | None:
    """The ``verdict`` member of ``--json`` (None unless :func:`applies`)."""
    if not applies(outcome):
        return None
    found, problem = verdict(outcome)
    if found is None:
        return {"valid": False, "problem": problem}
    return {"valid": True, **found.as_json()}
