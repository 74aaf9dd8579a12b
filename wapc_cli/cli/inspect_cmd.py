"""``wapc inspect``: check a module against the waPC ABI without running it.

The report goes to stdout (Rich text, or one JSON object with ``--json``); the
verdict is the exit code: 0 conformant, 4 not a waPC guest (or warnings with
``--strict``), 3 when ``--run`` saw initialisation trap, 2 when the file is
not a readable WebAssembly module.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..engines.base import Limits
from ..errors import ExitCode
from ..runtime.guest import read_module_file
from ..runtime.limits import DEFAULT_TIMEOUT_S, build_limits
from . import console
from .options import EngineOpt, JsonOpt, ModuleArg, TimeoutOpt

if TYPE_CHECKING:  # rich and the inspector load when a report is made, not with the CLI
    from rich.console import Console
    from rich.table import Table

    from ..tools.inspect import Finding, Report, RunResult

StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Fail (exit 4) on warnings too, not only on errors.")
]
#: Rows shown per list in the text report; a hostile module can declare thousands
#: (``--json`` always has them all).
MAX_ROWS = 60

RunOpt = Annotated[
    bool,
    typer.Option(
        "--run", help="Also instantiate it and run its init exports (a smoke test for CI)."
    ),
]


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)


def inspect(
    module: ModuleArg,
    json_out: JsonOpt = False,
    strict: StrictOpt = False,
    run: RunOpt = False,
    engine: EngineOpt = "auto",
    timeout: TimeoutOpt = None,
) -> None:
    """Check MODULE against the waPC ABI without running it (--run: run its init too)."""
    from ..tools.inspect import inspect_module

    where = os.fspath(module)
    data = read_module_file(module)  # missing, empty, text, a directory: exit 2
    report = inspect_module(data, where)
    result: RunResult | None = None
    if run and report.conformant:
        result = _run_init(data, where, report, engine, _run_limits(engine, timeout))
    code = exit_code(report, result, strict=strict)
    if json_out:
        document: dict[str, Any] = report.as_json()
        document["run"] = result.as_json() if result is not None else None
        document["strict"] = strict
        document["exit_code"] = code
        # ASCII-only: names in a module are arbitrary Unicode, stdout may not be
        sys.stdout.write(json.dumps(document, ensure_ascii=True, indent=2) + "\n")
        sys.stdout.flush()
    else:
        render(report, result, run_requested=run)
    if code:
        console.error_line(_verdict(report, result, strict))
    raise typer.Exit(code)


def _run_limits(engine: str, timeout: str | None) -> Limits:
    # The same default on every engine: wasmer, which cannot stop a guest
    # in-process, runs init in a supervised child process (see _run_init).
    return build_limits(timeout, None, None, DEFAULT_TIMEOUT_S)


def _run_init(data: bytes, where: str, report: Report, engine: str, limits: Limits) -> RunResult:
    from ..isolation.supervisor import needs_supervision
    from ..tools.inspect import run_init

    if not needs_supervision(engine, limits):
        return run_init(data, where, engine=engine, limits=limits)
    return _run_init_supervised(data, where, report, engine, limits)


def _run_init_supervised(
    data: bytes, where: str, report: Report, engine: str, limits: Limits
) -> RunResult:
    """``run_init`` in a child process that is killed at the timeout (wasmer)."""
    import time

    from ..errors import EngineUnavailable
    from ..isolation.supervisor import run_supervised
    from ..runtime.events import Event, InitStep
    from ..tools.inspect import InitRun, RunResult

    steps: list[InitRun] = []
    logs: list[tuple[str, str]] = []
    started = [time.perf_counter()]

    def tracer(event: Event) -> None:
        if isinstance(event, InitStep):
            steps.append(InitRun(event.step, event.outcome, event.duration_ns / 1e6))

    def on_start(engine_name: str) -> None:
        started[0] = time.perf_counter()

    outcome = run_supervised(
        data, name=where, engine=engine, limits=limits, mode="init",
        tracer=tracer, on_log=lambda line, source: logs.append((source, line)),
        on_start=on_start,
    )
    error = outcome.error
    if isinstance(error, EngineUnavailable):
        raise error  # as run_init does
    ms = (time.perf_counter() - started[0]) * 1000
    if not outcome.started:  # the engine refused the module
        return RunResult(outcome.engine, (InitRun("compile", "error", ms),), (), error)
    if error is not None and not any(s.outcome in ("trap", "error") for s in steps):
        # Killed (timeout, memory) or trapped in the start section: no event for that step.
        # The names Guest gives its init steps: a start section runs after instantiation.
        deferred = report.init.start_section and (not steps or steps[0].step == "instantiate")
        order = ["instantiate", "start section"] if deferred else ["start"]
        order += report.init.exports
        step = order[len(steps)] if len(steps) < len(order) else "init"
        steps.append(InitRun(step, "trap", max(0.0, ms - sum(s.ms for s in steps))))
    compiled = InitRun("compile", "ok", outcome.compile_ms)
    return RunResult(outcome.engine, (compiled, *steps), tuple(logs), error)


def exit_code(report: Report, result: RunResult | None, *, strict: bool) -> int:
    if not report.conformant:
        return int(ExitCode.NOT_A_GUEST)
    if result is not None and result.error is not None:
        return int(result.error.exit_code)
    if strict and report.warnings:
        return int(ExitCode.NOT_A_GUEST)
    return int(ExitCode.OK)


def _verdict(report: Report, result: RunResult | None, strict: bool) -> str:
    name = f"module '{report.module}'"
    if not report.conformant:
        first = report.errors[0].message
        more = f" (and {len(report.errors) - 1} more error(s))" if len(report.errors) > 1 else ""
        return f"{name} is not a waPC guest: {first}{more}"
    if result is not None and result.error is not None:
        return f"{name}: initialisation failed: {result.error}"
    return f"{name}: {len(report.warnings)} warning(s) with --strict: {report.warnings[0].message}"


# -- rendering ------------------------------------------------------------------


def _stdout_console() -> Console:
    from rich.console import Console

    plain = bool(os.environ.get("NO_COLOR")) or not (
        os.environ.get("FORCE_COLOR") or sys.stdout.isatty()
    )
    return Console(
        file=sys.stdout,
        color_system=None if plain else "auto",
        force_terminal=not plain,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


class _Marks:
    def __init__(self, out: Console) -> None:
        unicode = "utf" in (out.encoding or "").lower()
        self.ok = "[green]✓[/]" if unicode else "[green]ok[/]"
        self.bad = "[red]✗[/]" if unicode else "[red]XX[/]"
        self.warn = "[yellow]![/]"
        self.dot = "·" if unicode else "-"
        self.arrow = "→" if unicode else "->"


def render(
    report: Report, result: RunResult | None, *, run_requested: bool = False,
    out: Console | None = None,
) -> None:
    """Print the report; lines lose the padding Rich's grids leave at their ends."""
    out = out or _stdout_console()
    with out.capture() as captured:
        _render(report, result, run_requested, out)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n"
    encoding = getattr(out.file, "encoding", None) or "utf-8"
    out.file.write(text.encode(encoding, "backslashreplace").decode(encoding))
    out.file.flush()


def _render(report: Report, result: RunResult | None, run_requested: bool, out: Console) -> None:
    k = _Marks(out)
    verdict = (
        f"{k.ok} [bold green]conformant waPC guest[/]" if report.conformant
        else f"{k.bad} [bold red]not a waPC guest[/] ({len(report.errors)} error(s))"
    )
    out.print(f"[bold]{escape(report.module)}[/]  {_size(report.size)}")
    out.print(verdict + (f", {len(report.warnings)} warning(s)" if report.warnings else ""))
    _toolchain(report, out)
    _exports(report, out, k)
    _init(report, out, k)
    _imports(report, out, k)
    _sections(report, out, k)
    _findings("Errors", report.errors, k.bad, out, k)
    _findings("Warnings", report.warnings, k.warn, out, k)
    if report.notes:
        out.print("\n[bold]Notes[/]")
        grid = _grid(columns=2)
        for note in report.notes[:MAX_ROWS]:
            grid.add_row(f"  {k.dot}", escape(note))
        out.print(grid)
        _more(len(report.notes), out)
    if result is not None:
        _run(result, report.init.start_section, out, k)
    elif run_requested:
        out.print("\n[bold]Run[/]  skipped: the module is not conformant")


def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 10 * 1024 else f"{n:,} bytes ({n / 1024:.0f} KiB)"


def _sig(params: tuple[str, ...] | None, results: tuple[str, ...] | None) -> str:
    return f"({', '.join(params or ())}) -> ({', '.join(results or ())})"


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def display_name(text: str, limit: int = 100) -> str:
    from ..tools.inspect import display_name as shown

    return shown(text, limit)


def _grid(columns: int = 3) -> Table:
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=3, no_wrap=True)  # indent + mark
    for _ in range(columns - 1):
        grid.add_column(overflow="fold")
    return grid


def _toolchain(report: Report, out: Console) -> None:
    from rich.table import Table

    sdk = report.sdk
    out.print(f"\n[bold]Toolchain[/]  {escape(sdk.label)} ({sdk.confidence} confidence)")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=10, no_wrap=True, style="dim")
    grid.add_column(overflow="fold")
    for label, items in (("evidence", sdk.evidence), ("needs", sdk.needs)):
        for i, item in enumerate(items):
            grid.add_row(f"  {label}" if i == 0 else "", escape(item))
    if sdk.evidence or sdk.needs:
        out.print(grid)


def _exports(report: Report, out: Console, k: _Marks) -> None:
    from ..tools.inspect import PAGE

    out.print(f"\n[bold]Exports[/] ({len(report.exports)})")
    grid = _grid()
    for e in report.exports[:MAX_ROWS]:
        if e.kind == "func":
            detail = _sig(e.params, e.results)
        elif e.role == "memory" and report.memory is not None:
            mem = report.memory
            top = (
                f"max {mem.max_pages} pages" if mem.max_pages is not None else "no maximum"
            )
            detail = f"memory: {mem.min_pages} page(s) ({mem.min_pages * PAGE // 1024} KiB), {top}"
        else:
            detail = e.kind
        mark = ""
        if e.role == "guest_call":
            mark = k.bad if _has(report, "guest-call") else k.ok
        elif e.role == "memory":
            mark = k.bad if _has(report, "missing-memory", "memory64") else k.ok
        elif e.role == "init":
            mark = k.ok if e.name in report.init.exports else k.bad
        grid.add_row(f"  {mark}", escape(display_name(e.name)), escape(detail))
    for code, name in (("missing-guest-call", "__guest_call"), ("missing-memory", "memory")):
        if _has(report, code) and not any(e.name == name for e in report.exports):
            grid.add_row(f"  {k.bad}", name, "[red]missing[/]")
    out.print(grid)
    _more(len(report.exports), out)


def _more(total: int, out: Console) -> None:
    if total > MAX_ROWS:
        out.print(f"    ... and {total - MAX_ROWS} more (--json lists them all)")


def _has(report: Report, *codes: str) -> bool:
    return any(f.code.startswith(codes) for f in report.errors)


def _init(report: Report, out: Console, k: _Marks) -> None:
    init = report.init
    steps = []
    if init.start_section:
        steps.append(f"start section ({init.start_function})")
    steps.extend(init.exports)
    order = f" {k.arrow} ".join(steps) if steps else "nothing to run"
    out.print(f"\n[bold]Init[/]  {escape(order)}  [dim]({init.style})[/]")


def _imports(report: Report, out: Console, k: _Marks) -> None:
    out.print(f"\n[bold]Imports[/] ({len(report.imports)})")
    if not report.imports:
        out.print("  (none)")
        return
    grid = _grid()
    others = [i for i in report.imports if i.role != "wasi"]
    for i in others[:MAX_ROWS]:
        detail = _sig(i.params, i.results) if i.kind == "func" else i.kind
        tag = "  [dim](env)[/]" if i.role == "env" else ""
        grid.add_row(
            f"  {k.ok if i.ok else k.bad}", escape(display_name(f"{i.module}.{i.name}")),
            escape(detail) + tag,
        )
    for module in report.wasi_modules:
        names = [
            display_name(i.name) for i in report.imports if i.role == "wasi" and i.module == module
        ]
        shown = ", ".join(names[:MAX_ROWS]) + (", ..." if len(names) > MAX_ROWS else "")
        grid.add_row(f"  {k.ok}", f"{escape(module)} ({len(names)})", escape(shown))
    out.print(grid)
    _more(len(others), out)


def _sections(report: Report, out: Console, k: _Marks) -> None:
    from rich.table import Table

    c = report.counts
    out.print(
        f"\n[bold]Counts[/]  {_n(c.functions, 'function')} (+{c.imported_functions} imported) "
        f"{k.dot} {_n(c.imports, 'import')} {k.dot} {_n(c.exports, 'export')} "
        f"{k.dot} {_n(c.types, 'type')}"
    )
    if report.custom_sections:
        parts = [
            f"{escape(display_name(n))} ({_bytes(s)})"
            for n, s in report.custom_sections[:MAX_ROWS]
        ]
        if len(report.custom_sections) > MAX_ROWS:
            parts.append(f"... {len(report.custom_sections) - MAX_ROWS} more")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column()
        grid.add_row("[bold]Custom sections[/]", ", ".join(parts))
        out.print(grid)
    else:
        out.print("[bold]Custom sections[/]  none")


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _bytes(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def _findings(title: str, items: tuple[Finding, ...], mark: str, out: Console, k: _Marks) -> None:
    if not items:
        return
    out.print(f"\n[bold]{title}[/] ({len(items)})")
    grid = _grid(columns=2)
    for f in items[:MAX_ROWS]:
        grid.add_row(f"  {mark}", f"{escape(f.message)} [dim]\\[{f.code}][/]")
        grid.add_row("", f"[dim]{k.arrow}[/] {escape(f.impact)}")
        grid.add_row("", f"[dim]fix:[/] {escape(f.fix)}")
    out.print(grid)
    _more(len(items), out)


def _run(result: RunResult, start_section: bool, out: Console, k: _Marks) -> None:
    status = f"{k.ok} ok" if result.ok else f"{k.bad} failed"
    out.print(f"\n[bold]Run[/] ({escape(result.engine)})  {status}")
    grid = _grid()
    for step in result.steps:
        name = step.step
        if step.step == "start":
            name = "instantiate + start section" if start_section else "instantiate"
        mark = k.bad if step.outcome in ("trap", "error") else k.ok
        grid.add_row(f"  {mark}", escape(name), f"{escape(step.outcome)} in {step.ms:.2f} ms")
    out.print(grid)
    details = _grid(columns=2)
    for source, line in result.logs[:MAX_ROWS]:
        details.add_row("", f"[dim]\\[{escape(source)}][/] {escape(display_name(line, 500))}")
    if result.error is not None:
        details.add_row("", f"[red]{escape(str(result.error))}[/]")
    if result.logs or result.error is not None:
        out.print(details)
