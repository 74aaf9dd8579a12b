"""What ``--export FILE`` and ``--core DIR`` add to ``wapc trace``: more sinks, the same events.

:class:`TeeSink` hands every event (and the run's start, abort and end) to the
timeline or JSON-lines renderer first, then to a Chrome trace export and a
crash-bundle recorder, so each sees exactly what the others see.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..runtime import events as ev
from ..runtime.hostcalls import HostCallRequest
from ..tools.trace import RunInfo, TraceResult, TraceSink

if TYPE_CHECKING:
    from ..tools.crash import ExchangeRecorder
    from .run_options import RunOptions


class TeeSink(TraceSink):
    """``main`` (whose stats the summary shows) and ``others``, fed alike."""

    def __init__(
        self, main: TraceSink, others: list[TraceSink],
        recorder: Callable[[ev.Event], None] | None = None,
    ) -> None:
        super().__init__()
        self.main = main
        self.others = others
        self.recorder = recorder
        self.stats = main.stats

    @property  # type: ignore[override]
    def concurrent(self) -> bool:
        return self.main.concurrent

    @concurrent.setter
    def concurrent(self, value: bool) -> None:
        for sink in (getattr(self, "main", None), *getattr(self, "others", ())):
            if sink is not None:
                sink.concurrent = value

    def __call__(self, event: ev.Event) -> None:
        self.main(event)
        for sink in self.others:
            sink(event)
        if self.recorder is not None:
            self.recorder(event)

    def start(self, info: RunInfo) -> None:
        for sink in (self.main, *self.others):
            sink.start(info)

    def host_abort(self, request: HostCallRequest, message: str, duration_ns: int) -> None:
        for sink in (self.main, *self.others):
            sink.host_abort(request, message, duration_ns)

    def emit(self, event: ev.Event) -> None:  # pragma: no cover - __call__ fans out instead
        self.main.emit(event)

    def finish(self, result: TraceResult) -> None:
        self.main.finish(result)
        for sink in self.others:
            sink.finish(result)


def extend(
    sink: TraceSink, options: RunOptions, export: Path | None
) -> tuple[TraceSink, ExchangeRecorder | None]:
    """``sink`` with the export and the recorder the options ask for (itself if none)."""
    if export is None and options.core is None:
        return sink, None
    others: list[TraceSink] = []
    if export is not None:
        from .render.trace_chrome import ChromeTraceExport

        if export.exists() and not options.force:  # refuse before anything runs
            from ..errors import UsageError

            raise UsageError(f"--export: '{export}' exists (use --force to overwrite it)")
        others.append(ChromeTraceExport(export, force=options.force))
    recorded = None
    if options.core is not None:
        from .crash_bundle import recorder

        recorded = recorder()
    return TeeSink(sink, others, recorded), recorded
