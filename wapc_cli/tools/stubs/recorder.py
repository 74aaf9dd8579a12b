"""``--record``: every host call of a run and its answer, written as a stub table.

Calls are grouped by (key, exact payload); each group becomes one rule whose
``replies`` repeat the answers in order and whose ``times`` pins the count, with
``default: fail`` so a replay that strays from the recording stops loudly.
With the ``kwctl`` format, the Kubewarden host calls that reach the callback
channel are written as a kwctl session file instead (:mod:`..kubewarden.record`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from ... import __version__
from ...runtime.hostcalls import HostCallError, HostCallHandler, HostCallRequest, HostReply
from ...runtime.payload import as_text
from .record_file import RecordFile


class Recorder:
    """Wraps a handler, keeping every call and its answer; :meth:`write` saves the table.

    The record file is claimed here, before the guest runs (see
    :mod:`.record_file`), so a bad name is reported at once.
    """

    def __init__(self, inner: HostCallHandler, path: Path, force: bool,
                 format: str = "stubs") -> None:
        self.inner = inner
        self.path = path
        self.format = format
        self.file = RecordFile(path, overwrite=force)
        self.calls: list[tuple[HostCallRequest, HostReply]] = []

    def __call__(self, request: HostCallRequest) -> bytes | HostReply:
        try:
            answer = self.inner(request)
        except HostCallError as exc:
            answer = HostReply(exc.body, exc.message)
        reply = answer if isinstance(answer, HostReply) else HostReply(bytes(answer))
        self.calls.append((request, reply))
        return reply

    def table(self) -> dict[str, Any]:
        groups: dict[tuple[str, str, str, bytes], list[HostReply]] = {}
        for request, reply in self.calls:
            key = (request.binding, request.namespace, request.operation, request.payload)
            groups.setdefault(key, []).append(reply)
        rules = []
        for (binding, namespace, operation, payload), replies in groups.items():
            rule: dict[str, Any] = {
                "match": _match(binding, namespace, operation),
                "when": _when(payload),
            }
            answers = [_answer(reply) for reply in replies]
            while len(answers) > 1 and answers[-1] == answers[-2]:
                answers.pop()  # the last answer repeats by itself
            if len(answers) == 1:
                rule.update(answers[0] if "error" in answers[0] else {"reply": answers[0]["reply"]})
            else:
                rule["replies"] = [a if "error" in a else a["reply"] for a in answers]
            rule["times"] = len(replies)
            rules.append(rule)
        return {"default": "fail", "calls": rules}

    def write(self) -> None:
        if self.format == "kwctl":
            from ..kubewarden.record import session_file

            self.file.write(session_file(self.calls).encode("utf-8"))
            return
        header = (
            f"# Recorded by wapc {__version__} (--record): {len(self.calls)} host call(s).\n"
            "# Replay with: --stubs THIS_FILE\n"
        )
        self.file.write((header + dump_table(self.table())).encode("utf-8"))


class _RoundTripDumper(yaml.SafeDumper):
    """A SafeDumper that double-quotes (and so escapes) text it could not write plainly."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # YAML reads U+0085, U+2028 and U+2029 as line breaks and drops a BOM, so a
    # payload holding them, written plainly, would not load back as itself. In
    # double quotes PyYAML writes every non-printable character as an escape.
    printable = all(c.isprintable() or c == "\n" for c in text)
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=None if printable else '"')


_RoundTripDumper.add_representer(str, _represent_text)


def dump_table(table: dict[str, Any]) -> str:
    """``table`` as YAML that loads back to exactly ``table``."""
    return yaml.dump(table, Dumper=_RoundTripDumper, sort_keys=False, allow_unicode=True,
                     width=100)


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _match(binding: str, namespace: str, operation: str) -> str | dict[str, str]:
    parts = [_glob_escape(p) for p in (binding, namespace, operation)]
    if ":" in binding or ":" in namespace:  # the string form could not be split back
        return dict(zip(("binding", "namespace", "operation"), parts, strict=True))
    return ":".join(parts)


def _when(payload: bytes) -> dict[str, str]:
    text = as_text(payload)
    return {"text": text} if text is not None else {"hex": payload.hex()}


def _body(data: bytes) -> Any:
    text = as_text(data)
    return text if text is not None else {"base64": base64.b64encode(data).decode("ascii")}


def _answer(reply: HostReply) -> dict[str, Any]:
    if reply.error is None:
        return {"reply": _body(reply.body)}
    answer: dict[str, Any] = {"error": reply.error}
    if reply.body:
        answer["body"] = _body(reply.body)
    return answer
