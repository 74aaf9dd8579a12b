"""The Rich timeline: one row per ABI step, printed as it happens, then a summary.

Rows are fixed-width grids, so columns line up although each row is printed on
its own (that is what keeps the view live). Below :data:`NARROW` columns the
step and its duration go above the detail, in one column, so the detail keeps
most of the width instead of a sliver. Payload text never goes through Rich
markup, and everything the guest or the module chose (operation and host-call
names, logs, error text, previews) goes through :func:`.safe_text.one_line`: a
guest's bytes cannot restyle the output or drive the terminal.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

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
from ..safe_text import one_line
from .preview import human_bytes, human_ns, preview

_STEP_STYLE = {
    "init": "dim",
    "guest_call": "bold",
    "host_call": "cyan",
    "function_call": "bold cyan",
    "function_return": "bold cyan",
    "console_log": "magenta",
    "guest_response": "green",
    "guest_error": "red",
    "return": "bold",
}
_PREVIEW = 160  # characters of a payload preview (wrapped within the detail column)
#: Columns before the detail in the wide layout: t (9), took (8), step (17) and padding.
_LEFT = 9 + 8 + 17 + 3
#: The narrowest detail column worth the wide layout; narrower consoles stack the row.
_MIN_DETAIL = 30
#: Console widths below this use the narrow layout.
NARROW = _LEFT + _MIN_DETAIL


class RichTimeline(TraceSink):
    """The timeline on ``console`` (made by ``console.terminal.rich_console``, markup off)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self._section: str | None = None
        self.narrow = console.width < NARROW

    # -- layout ---------------------------------------------------------------------
    def _grid(self, depth: int = 0) -> Table:
        """The row layout; ``depth`` > 0 (a nested exchange's step) indents step and detail."""
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=9, justify="right", no_wrap=True)  # t, ms since start
        if self.narrow:
            grid.add_column(ratio=1, overflow="fold")  # step and took, what happened below
            return grid
        grid.add_column(width=8, justify="right", no_wrap=True)  # took; bytes on sub-rows
        if depth:
            grid.add_column(width=2 * depth - 1, no_wrap=True)  # one guide per level
        grid.add_column(width=17, no_wrap=True)  # step
        grid.add_column(ratio=1, overflow="fold")  # what happened
        return grid

    def _row(self, grid: Table, t: str, took: str | Text, step: str | Text,
             detail: str | Text, style: str | None = None, depth: int = 0) -> None:
        """One row: four cells wide, or on a narrow console "step took" over the detail."""
        guide = Text(" ".join("│" * depth), style="dim") if depth else None
        if not self.narrow:
            cells = (t, took, guide, step, detail) if guide is not None else (t, took, step, detail)
            grid.add_row(*cells, style=style)
            return
        head = Text.assemble(step, " ", took) if took else Text.assemble(step)
        if guide is not None:
            head = Text.assemble(guide, " ", head)
            detail = Text.assemble(guide, " ", detail) if detail else detail
        cell = Text.assemble(head, "\n", detail) if detail else head
        grid.add_row(t, cell, style=style)

    def _section_rule(self, title: str) -> None:
        if self._section != title:
            self._section = title
            self._print(Rule(Text(title, style="bold"), style="dim", align="left"))

    def start(self, info: RunInfo) -> None:
        super().start(info)
        head = Text.assemble(
            ("wapc trace ", "bold"), (one_line(info.module), "bold"), " ",
            (one_line(info.operation), "bold cyan"), f"  ({one_line(info.engine)})",
        )
        self._print(head)
        details = self._grid()
        size, label, text = _bytes_row("payload", info.payload)
        self._row(details, "", Text(size, style="dim"), Text(label, style="dim"), text)
        self._row(details, "", "", Text("host calls", style="dim"), Text(one_line(info.host)))
        self._print(details)
        legend = self._grid()
        self._row(legend, "t ms", "took", "step", "", style="dim")
        self._print(legend)

    # -- events -------------------------------------------------------------------------
    def emit(self, event: ev.Event) -> None:
        depth = self.depth
        if depth == 0 and isinstance(event, ev.InitStep):
            self._section_rule("init")
        elif depth == 0 and isinstance(event, ev.GuestCall):
            self._section_rule(f"call {one_line(event.operation)}")
        grid = self._grid(depth)
        took = human_ns(event.duration_ns) if event.duration_ns else ""
        style = _STEP_STYLE.get(event.name, "")
        step = "init" if isinstance(event, ev.InitStep) else event.name
        rows = self._detail(event)
        if event.deviation is not None:  # where the --host profile departs from the spec
            rows.append(("", "deviation", Text("≠ " + one_line(event.deviation), style="yellow")))
        first, rest = rows[0], rows[1:]
        self._row(grid, f"{self.shown_t(event) / 1e6:.3f}", took, Text(step, style=style), first,
                  depth=depth)
        for size, label, text in rest:
            self._row(grid, "", Text(size, style="dim"), Text("  " + label, style="dim"), text,
                      depth=depth)
        self._print(grid)

    def _print(self, renderable: RenderableType) -> None:
        """Print now (live), without the padding Rich adds after the last column."""
        with self.console.capture() as captured:
            self.console.print(renderable)
        lines = captured.get().splitlines()
        self.console.file.write("".join(line.rstrip() + "\n" for line in lines))
        self.console.file.flush()

    def _detail(self, event: ev.Event) -> list[Any]:
        if isinstance(event, ev.InitStep):
            name = "instantiate + start section" if event.step == "start" else event.step
            return [Text.assemble(name, " · ", _outcome(event.outcome))]
        if isinstance(event, ev.GuestCall):
            return [Text(f"{one_line(event.operation)} · op {event.op_len} B · "
                         f"payload {event.payload_len} B")]
        if isinstance(event, ev.GuestRequest):
            return [Text(f"op {event.op_len} B → {event.op_ptr:#x} · "
                         f"payload {event.payload_len} B → {event.ptr:#x}")]
        if isinstance(event, ev.HostCall):
            return self._host_call(event)
        if isinstance(event, FunctionCall):
            target = "" if event.module.endswith(event.function) else \
                f" → {one_line(event.module)}"  # a guest reply is named by its module
            return [Text.assemble((one_line(event.function), "bold cyan"), target,
                                  f" · {one_line(event.operation)} · payload "
                                  f"{event.payload_len} B")]
        if isinstance(event, FunctionReturn):
            ended: list[Any] = [Text.assemble(
                (one_line(event.function), "cyan"), " · ", _outcome(event.outcome),
                f" · {event.response_len} B")]
            if event.message:
                ended.append(("", "error", Text(one_line(for_user(event.message)), style="red")))
            return ended
        if isinstance(event, (ev.HostResponseLen, ev.HostErrorLen)):
            return [Text(f"{event.value} B")]
        if isinstance(event, (ev.HostResponse, ev.HostError)):
            return [Text(f"{event.length} B → {event.ptr:#x}")]
        if isinstance(event, ev.ConsoleLog):
            return [Text.assemble((f"[{one_line(event.source)}] ", "dim"),
                                  one_line(event.message, keep="\t"))]
        if isinstance(event, ev.GuestResponse):
            return [Text(f"{event.length} B ← {event.ptr:#x}"), _bytes_row("data", event.data)]
        if isinstance(event, ev.GuestErrorSet):
            return [Text(f"{event.length} B ← {event.ptr:#x}"),
                    ("", "error", Text(one_line(event.message), style="red"))]
        if isinstance(event, ev.Return):
            value = "-" if event.value is None else str(event.value)
            rows: list[Any] = [Text.assemble(f"{value} · ", _outcome(event.outcome))]
            if event.message:
                rows.append(("", "why", Text(one_line(for_user(event.message)), style="red")))
            rows.extend(("", "warning", Text(one_line(for_user(w)), style="yellow"))
                        for w in event.warnings)
            return rows
        return [Text(one_line(repr(event)))]

    def _host_call(self, event: ev.HostCall) -> list[Any]:
        key = one_line(f"{event.binding}:{event.namespace}:{event.operation}")
        if isinstance(event, AbortedHostCall):
            verdict = Text("run stopped", style="bold red")
        else:
            verdict = _outcome("ok" if event.result == 1 else "failed")
        head = Text.assemble((key, "cyan"), " → ", verdict)
        head.append(f"  [{one_line(event.stub or 'no handler')}]", style="dim")
        rows: list[Any] = [head, _bytes_row("sent", event.payload)]
        if event.error is not None:
            rows.append(("", "error", Text(one_line(for_user(event.error)), style="red")))
        if event.response or event.error is None:
            rows.append(_bytes_row("got", event.response))
        return rows

    # -- summary ----------------------------------------------------------------------------
    def finish(self, result: TraceResult) -> None:
        self._section = None
        self._section_rule("summary")
        stats = self.stats
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=9, no_wrap=True, style="dim")
        grid.add_column(ratio=1, overflow="fold")
        outcome = Text.assemble(_outcome("ok" if result.exit_code == 0 else result.kind),
                                f" (exit {result.exit_code})")
        if result.message:
            outcome.append(f": {one_line(result.message)}", style="red")
        grid.add_row("result", outcome)
        if result.response is not None:
            size, label, text = _bytes_row("", result.response)
            grid.add_row("response", Text.assemble((f"{size} {label.strip()} ", "dim"), text))
        exchange = max(0, stats.total_ns - stats.render_ns)
        grid.add_row("time", Text(
            f"{human_ns(exchange)} exchange · guest {human_ns(stats.guest_ns)} · "
            f"host {human_ns(stats.host_ns)} · init {human_ns(stats.init_ns)}"
        ))
        if stats.render_ns:
            grid.add_row("", Text(f"(+{human_ns(stats.render_ns)} drawing this trace, "
                                  "left out of the figures)", style="dim"))
        calls = sum(s.count for s in stats.host_calls.values())
        failed = sum(s.failed for s in stats.host_calls.values())
        grid.add_row("host", Text(f"{calls} call{'s' if calls != 1 else ''}"
                                  + (f", {failed} failed" if failed else "")))
        for key, item in stats.host_calls.items():
            line = Text.assemble((one_line(key), "cyan"), f" ×{item.count}")
            if item.failed:
                line.append(f" ({item.failed} failed)", style="red")
            line.append(f" · {human_ns(item.duration_ns)}", style="dim")
            grid.add_row("", line)
        grid.add_row("bytes", Text(
            f"in {human_bytes(stats.bytes_in)} (request + host answers) · "
            f"out {human_bytes(stats.bytes_out)} (host-call payloads + response)"
        ))
        for name, item in stats.functions.items():
            line = Text.assemble((one_line(name), "cyan"), f" ×{item.count}")
            if item.failed:
                line.append(f" ({item.failed} failed)", style="red")
            line.append(f" · {human_ns(item.duration_ns)}", style="dim")
            grid.add_row("function", line)
        if stats.nested_host_calls:
            grid.add_row("", Text(f"{stats.nested_host_calls} host call"
                                  f"{'s' if stats.nested_host_calls != 1 else ''} inside "
                                  "function calls (shown indented above)", style="dim"))
        if stats.logs:
            grid.add_row("logs", Text(f"{stats.logs} console line{'s' if stats.logs != 1 else ''}"))
        for warning in result.warnings:
            grid.add_row("warning", Text(one_line(warning), style="yellow"))
        if result.preset:
            for name, value in _preset_lines(result.preset):
                grid.add_row(name, Text(one_line(value)))
        self._print(grid)


def _outcome(word: str) -> Text:
    style = "green" if word in ("ok", "exit(0)") else "yellow" if word == "skipped" else "red"
    return Text(word, style=f"bold {style}")


def _bytes_row(label: str, data: bytes) -> tuple[str, str, Text]:
    """(size, label with the payload's kind, preview) for a sub-row of a step."""
    kind, shown = preview(data, _PREVIEW)
    if kind == "empty":
        return human_bytes(0), label, Text("(empty)", style="dim")
    return human_bytes(len(data)), f"{label} {kind}" if kind != "text" else label, Text(shown)


def _preset_lines(state: dict[str, Any]) -> list[tuple[str, str]]:
    if "kvstore_keys" not in state:  # the kubewarden preset: its log, context, replay
        lines = [("log", f"{item['level']}: {item['message']}") for item in state.get("logs", [])]
        if state.get("context"):
            context = state["context"]
            lines.append(("context", f"{context['file']} ({context['resources']} resources)"))
        if state.get("replay"):
            replay = state["replay"]
            lines.append(("replay", f"{replay['used']} of {replay['exchanges']} exchanges "
                                    f"answered, {replay['left']} left"))
        return lines
    keys = state.get("kvstore_keys") or []
    lines = [("kvstore", "keys: " + ", ".join(keys) if keys else "(empty)")]
    lines += [("logger", f"{item['level']}: {item['message']}") for item in state.get("logs", [])]
    for name in ("counters", "gauges", "histograms"):
        values = state.get(name) or {}
        if values:
            shown = ", ".join(f"{key}={value}" for key, value in values.items())
            lines.append(("metrics", f"{name}: {shown}"))
    return lines
