"""``wapc trace --export FILE``: the exchange as Chrome Trace Event JSON (Perfetto, speedscope).

Fed the same events as the timeline. Complete events (``"ph": "X"``) for each
init step, the call (``call <operation>``) and each host call (named
``binding:namespace:operation``, args: payload and answer sizes, the stub that
answered); a nested exchange's events (``depth`` > 0, when the trace carries
them) lie inside the host call that made them, as time nests them. A counter
(``"ph": "C"``) follows the guest's memory size. Timestamps are microseconds
from the start of the run. The file is written once the run is over.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...runtime import events as ev
from ...tools.trace import AbortedHostCall, RunInfo, TraceResult, TraceSink
from ..messages import for_user

_PID = 1
_TID = 1


def _us(ns: int) -> float:
    return ns / 1000


class ChromeTraceExport(TraceSink):
    """Collects the run's spans; :meth:`finish` writes them to ``path``."""

    def __init__(self, path: Path, *, force: bool = False) -> None:
        super().__init__()
        self.path = path
        self.force = force
        self.origin = time.perf_counter_ns()
        self.call_base: int | None = None
        self.events: list[dict[str, Any]] = []
        self.call: dict[str, Any] | None = None
        self.info: RunInfo | None = None

    def start(self, info: RunInfo) -> None:
        super().start(info)
        self.info = info

    def _span(self, name: str, category: str, start_ns: int, duration_ns: int,
              args: dict[str, Any]) -> dict[str, Any]:
        span = {
            "name": name, "cat": category, "ph": "X", "pid": _PID, "tid": _TID,
            "ts": _us(max(0, start_ns)), "dur": _us(max(0, duration_ns)), "args": args,
        }
        self.events.append(span)
        return span

    def _counter(self, at_ns: int, memory_bytes: int | None) -> None:
        if memory_bytes is not None:
            self.events.append({
                "name": "guest memory", "ph": "C", "pid": _PID, "tid": _TID,
                "ts": _us(max(0, at_ns)), "args": {"bytes": memory_bytes},
            })

    def emit(self, event: ev.Event) -> None:
        received = time.perf_counter_ns() - self.origin
        nested = {"depth": getattr(event, "depth", 0), "parent": getattr(event, "parent", None)}
        if isinstance(event, ev.InitStep):
            self._span(event.step, "init", received - event.duration_ns, event.duration_ns,
                       {"outcome": event.outcome})
        elif isinstance(event, ev.GuestCall):
            if nested["depth"]:
                return  # a nested exchange: its host calls nest inside their parent by time
            self.call_base = received
            self.call = self._span(
                f"call {event.operation}", "call", received, 0,
                {"operation": event.operation, "payload_len": event.payload_len},
            )
            self._counter(received, event.memory_bytes)
        elif isinstance(event, ev.Return):
            if nested["depth"] or self.call is None or self.call_base is None:
                return
            end = self.call_base + event.t_ns
            last = max((e["ts"] + e["dur"] for e in self.events if e.get("cat") == "host_call"),
                       default=0.0)
            self.call["dur"] = max(_us(event.t_ns), last - self.call["ts"])
            self.call["args"].update({"outcome": event.outcome, "value": event.value,
                                      "message": None if event.message is None
                                      else for_user(event.message)})
            self._counter(end, event.memory_bytes)
        elif isinstance(event, ev.HostCall):
            base = self.call_base if self.call_base is not None else received - event.t_ns
            name = f"{event.binding}:{event.namespace}:{event.operation}"
            args: dict[str, Any] = {
                "payload_len": len(event.payload), "response_len": len(event.response),
                "ok": event.result == 1, "error": event.error, "stub": event.stub,
            }
            if isinstance(event, AbortedHostCall):
                args["aborted"] = True
            if nested["depth"]:
                args.update(nested)
            self._span(name, "host_call", base + event.t_ns, event.duration_ns, args)
        elif isinstance(event, ev.ConsoleLog) and self.call_base is not None:
            self.events.append({
                "name": "console_log", "ph": "i", "s": "t", "pid": _PID, "tid": _TID,
                "ts": _us(self.call_base + event.t_ns), "args": {"source": event.source},
            })

    def document(self, result: TraceResult) -> dict[str, Any]:
        info = self.info
        metadata = [
            {"name": "process_name", "ph": "M", "pid": _PID, "tid": _TID,
             "args": {"name": f"wapc {info.module if info else ''}".strip()}},
            {"name": "thread_name", "ph": "M", "pid": _PID, "tid": _TID,
             "args": {"name": f"guest ({info.engine})" if info else "guest"}},
        ]
        return {
            "traceEvents": metadata + self.events,
            "displayTimeUnit": "ns",
            "otherData": {
                "module": info.module if info else None,
                "operation": info.operation if info else None,
                "engine": info.engine if info else None,
                "outcome": result.kind, "exit_code": result.exit_code,
            },
        }

    def finish(self, result: TraceResult) -> None:
        text = json.dumps(self.document(result))
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if self.force else os.O_EXCL)
        try:
            handle = os.open(self.path, flags, 0o644)
        except FileExistsError:
            raise UsageError(
                f"--export: '{self.path}' exists (use --force to overwrite it)"
            ) from None
        except OSError as exc:
            raise UsageError(f"--export: cannot write '{self.path}': {exc.strerror}") from None
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text + "\n")
