"""``--format jsonl``: one JSON object per step, written and flushed as it happens.

Schema (docs/trace.md): every line has ``event`` and ``t_ns``; each field of the
event dataclass follows, bytes as ``<field>_len`` + ``<field>_b64``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any, TextIO

from ...runtime import events as ev
from ...tools.trace import AbortedHostCall, FunctionReturn, RunInfo, TraceResult, TraceSink
from ..messages import for_user


def event_dict(event: ev.Event, phase: str) -> dict[str, Any]:
    data: dict[str, Any] = {"event": event.name, "t_ns": event.t_ns, "phase": phase}
    for item in dataclasses.fields(event):
        if item.name == "t_ns" or (item.name == "deviation" and event.deviation is None):
            continue  # a deviation only where a host profile departs from the spec
        value = getattr(event, item.name)
        if isinstance(value, bytes):
            data[f"{item.name}_len"] = len(value)
            data[f"{item.name}_b64"] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, tuple):
            data[item.name] = list(value)
        else:
            data[item.name] = value
    if isinstance(event, ev.Return):  # the core's words, naming the flag as the CLI does
        data["message"] = None if event.message is None else for_user(event.message)
        data["warnings"] = [for_user(w) for w in event.warnings]
        data["frames"] = [frame.to_json() for frame in event.frames]
    if isinstance(event, ev.HostCall):
        data["ok"] = event.result == 1
        if event.error is not None:
            data["error"] = for_user(event.error)  # e.g. naming --allow-http
        if isinstance(event, AbortedHostCall):
            data["result"] = None  # the guest got no answer: the run stopped here
            data["aborted"] = True
    if isinstance(event, FunctionReturn) and event.message is not None:
        data["message"] = for_user(event.message)
    return data


class JsonlSink(TraceSink):
    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        #: The span of the nested exchange that just ended: the next line is its host call.
        self.closed_span: int | None = None

    def _write(self, data: dict[str, Any]) -> None:
        self.stream.write(json.dumps(data) + "\n")  # ASCII: safe on any stdout encoding
        self.stream.flush()  # live: a reader sees each step before the next one

    def start(self, info: RunInfo) -> None:
        super().start(info)
        self._write({
            "event": "run", "t_ns": 0, "module": info.module, "operation": info.operation,
            "engine": info.engine, "host": info.host, "payload_len": len(info.payload),
            "payload_b64": base64.b64encode(info.payload).decode("ascii"),
        })

    def emit(self, event: ev.Event) -> None:
        phase = "call" if self.in_call or isinstance(event, ev.Return) else "init"
        data = event_dict(event, phase)
        # Nested exchanges (Tarmac's function calls): how deep, and in which one.
        data["depth"] = self.depth
        if self.parent is not None:
            data["parent"] = self.parent
        if isinstance(event, ev.HostCall) and self.closed_span is not None:
            data["span"] = self.closed_span  # the host call that ran that nested exchange
        self.closed_span = None
        self._write(data)
        if isinstance(event, FunctionReturn):
            self.closed_span = event.span

    def finish(self, result: TraceResult) -> None:
        stats = self.stats
        response = result.response
        self._write({
            "event": "summary",
            "t_ns": stats.total_ns,
            "ok": result.exit_code == 0,
            "outcome": result.kind,
            "exit_code": result.exit_code,
            "message": result.message,
            "error": result.error,
            "response_len": None if response is None else len(response),
            "response_b64": None if response is None else base64.b64encode(response).decode(),
            "total_ns": stats.total_ns,
            "guest_ns": stats.guest_ns,
            "host_ns": stats.host_ns,
            "init_ns": stats.init_ns,
            "trace_ns": stats.render_ns,
            "host_calls": {
                key: dataclasses.asdict(value) for key, value in stats.host_calls.items()
            },
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "warnings": list(result.warnings),
            "preset": result.preset,
            "functions": {
                key: dataclasses.asdict(value) for key, value in stats.functions.items()
            },
            "nested_host_calls": stats.nested_host_calls,
        })
