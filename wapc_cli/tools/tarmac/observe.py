"""``tarmac:metrics:*`` and ``tarmac:logger:*``: Tarmac's validation, values kept for the summary.

Metrics: ``pkg/callbacks/metrics/metrics.go``. Each operation parses its
protobuf message (``proto/metrics.proto``) and falls back to JSON; a name must
match ``^[a-zA-Z0-9_:][a-zA-Z0-9_:]*$`` (``invalid metric name``), one name
belongs to one metric type (``metric name in use``), a gauge's action is
``inc`` or ``dec`` (``invalid action``). Every answer has an empty body; an
error is a bare failed call.

Logger: ``pkg/callbacks/logging/logging.go`` and the levels ``pkg/app/app.go``
registers: info, warn, error, debug, trace. The payload is the message; the
answer is always an empty success.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...runtime.hostcalls import HostReply
from . import messages
from .wire import SOURCE, GoJSONError, failed, go_unmarshal

LOG_LEVELS = ("info", "warn", "error", "debug", "trace")
METRIC_KINDS = ("counter", "gauge", "histogram")
#: Go's ``$`` is the end of the text; Python's would also match before a final newline.
_VALID_NAME = re.compile(r"[a-zA-Z0-9_:]+")
#: Kept per run, so a guest that logs or observes in a loop cannot fill the host's memory.
MAX_LOG_LINES = 1000
MAX_SAMPLES = 1000

LogSink = Callable[[str, str], None]  # (message, source), as the console's log lines take


class Metrics:
    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}  # name -> the one type it was first used as
        self.counters: dict[str, int] = {}
        self.gauges: dict[str, float] = {}
        self.histograms: dict[str, list[float]] = {}
        self.observations: dict[str, int] = {}

    def answer(self, operation: str, payload: bytes) -> HostReply:
        if operation == "counter":
            request = self._read("tarmac.metrics.MetricsCounter", payload, {"name": ""})
        elif operation == "gauge":
            request = self._read("tarmac.metrics.MetricsGauge", payload,
                                 {"name": "", "action": ""})
        elif operation == "histogram":
            request = self._read("tarmac.metrics.MetricsHistogram", payload,
                                 {"name": "", "value": 0.0})
        else:
            return failed("callback not found")
        if isinstance(request, str):
            return failed(request)
        problem = self._record(operation, request)
        return failed(problem) if problem else HostReply(b"", None, SOURCE)

    @staticmethod
    def _read(message: str, payload: bytes, fields: dict[str, Any]) -> dict[str, Any] | str:
        msg = messages.parse(message, payload)
        if msg is not None:
            return {name: getattr(msg, name) for name in fields}
        try:
            return go_unmarshal(payload, fields)
        except GoJSONError as exc:
            return f"unable to parse input JSON - {exc}"

    def _record(self, kind: str, request: dict[str, Any]) -> str | None:
        name = request["name"]
        if not _VALID_NAME.fullmatch(name):
            return "invalid metric name"
        if kind == "gauge" and request["action"] not in ("inc", "dec"):
            return "invalid action"  # checked before the name's type, as Tarmac does
        if self.kinds.setdefault(name, kind) != kind:
            return "metric name in use"
        if kind == "counter":
            self.counters[name] = self.counters.get(name, 0) + 1
        elif kind == "gauge":
            step = 1.0 if request["action"] == "inc" else -1.0
            self.gauges[name] = self.gauges.get(name, 0.0) + step
        else:
            samples = self.histograms.setdefault(name, [])
            self.observations[name] = self.observations.get(name, 0) + 1
            if len(samples) < MAX_SAMPLES:
                samples.append(float(request["value"]))
        return None


class Logger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []  # (level, message)
        self.dropped = 0
        self.sink: LogSink | None = None  # where the lines are shown as they happen

    def answer(self, level: str, payload: bytes) -> HostReply:
        if level not in LOG_LEVELS:
            return failed("callback not found")
        message = payload.decode("utf-8", "replace")
        if len(self.lines) < MAX_LOG_LINES:
            self.lines.append((level, message))
        else:
            self.dropped += 1
        if self.sink is not None:
            # Tarmac's default level hides debug and trace; here they are shown, and
            # the tag says which level each line was.
            self.sink(message, f"tarmac {level}")
        return HostReply(b"", None, SOURCE)
