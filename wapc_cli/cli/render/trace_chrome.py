"""``wapc trace --export FILE``: the exchange as Chrome Trace Event JSON (Perfetto, speedscope).

Fed the same events as the timeline. Complete events (``"ph": "X"``) for each
init step, the call (``call <operation>``) and each host call (named
``binding:namespace:operation``, args: payload and answer sizes, the stub that
answered); a nested exchange's spans (its init, ``call <operation>``, its own
host calls; ``args`` name ``depth`` and ``parent``) lie inside the host call
that ran it: that span is widened to hold them, so the file always nests
properly even where clocks read a microsecond apart. A counter
(``"ph": "C"``) follows the guest's memory size (the run's own guest only).
Timestamps are microseconds from the start of the run. The file is written once the run is over.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...runtime import events as ev
from ...tools.trace import (
    AbortedHostCall,
    FunctionCall,
    FunctionReturn,
    RunInfo,
    TraceResult,
    TraceSink,
)
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
        #: Each nesting level's open ``call`` span and the time it began (level 0: the run's).
        self.levels: dict[int, tuple[dict[str, Any], int]] = {}
        #: Where the spans of nested exchanges began, per caller level: the caller's host
        #: call, whose event comes after them, is widened to hold them.
        self.opened: dict[int, list[int]] = {}
        self.covered: dict[int, int] = {}

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
        depth = self.depth
        nested = {"depth": depth, "parent": self.parent}
        if isinstance(event, FunctionCall):
            self.opened.setdefault(depth, []).append(len(self.events))
        elif isinstance(event, FunctionReturn):
            starts = self.opened.get(depth)
            if starts:
                self.covered[depth] = starts.pop()
        elif isinstance(event, ev.InitStep):
            self._span(event.step, "init", received - event.duration_ns, event.duration_ns,
                       {"outcome": event.outcome, **nested} if depth else
                       {"outcome": event.outcome})
        elif isinstance(event, ev.GuestCall):
            opened: dict[str, Any] = {"operation": event.operation,
                                      "payload_len": event.payload_len}
            span = self._span(f"call {event.operation}", "call", received, 0,
                              {**opened, **nested} if depth else opened)
            self.levels[depth] = (span, received)
            if not depth:
                self.call_base, self.call = received, span
                self._counter(received, event.memory_bytes)
        elif isinstance(event, ev.Return):
            level = self.levels.pop(depth, None)
            if level is None:
                return
            call, base = level
            index = self.events.index(call)
            last = max((e["ts"] + e["dur"] for e in self.events[index + 1:] if e["ph"] == "X"),
                       default=0.0)
            call["dur"] = max(_us(event.t_ns), last - call["ts"])
            call["args"].update({"outcome": event.outcome, "value": event.value,
                                 "message": None if event.message is None
                                 else for_user(event.message)})
            if not depth:
                self._counter(base + event.t_ns, event.memory_bytes)
        elif isinstance(event, ev.HostCall):
            level = self.levels.get(depth)
            base = level[1] if level is not None else received - event.t_ns
            name = f"{event.binding}:{event.namespace}:{event.operation}"
            args: dict[str, Any] = {
                "payload_len": len(event.payload), "response_len": len(event.response),
                "ok": event.result == 1, "error": event.error, "stub": event.stub,
            }
            if isinstance(event, AbortedHostCall):
                args["aborted"] = True
            if depth:
                args.update(nested)
            inner = self.covered.pop(depth, None)
            span = self._span(name, "host_call", base + event.t_ns, event.duration_ns, args)
            if inner is not None:
                self._cover(span, self.events[inner:-1])
        elif isinstance(event, ev.ConsoleLog) and self.call_base is not None:
            self.events.append({
                "name": "console_log", "ph": "i", "s": "t", "pid": _PID, "tid": _TID,
                "ts": _us(self.call_base + event.t_ns), "args": {"source": event.source},
            })

    @staticmethod
    def _cover(span: dict[str, Any], inside: list[dict[str, Any]]) -> None:
        """Widen ``span`` to hold every event of ``inside`` (a nested exchange's)."""
        timed = [e for e in inside if "ts" in e]
        if not timed:
            return
        start = min(span["ts"], *(e["ts"] for e in timed))
        end = max(span["ts"] + span["dur"], *(e["ts"] + e.get("dur", 0) for e in timed))
        span["ts"], span["dur"] = start, end - start

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
