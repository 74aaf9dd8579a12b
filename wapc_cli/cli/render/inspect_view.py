"""The ``wapc inspect`` report as text: sections of aligned rows, marks for what is ok.

Names in a module are arbitrary Unicode: they are shown through
``display_name`` (control characters escaped, long names cut) and never as
Rich markup, so a module cannot restyle the report. Every other text from the
module or from running it (producers, init logs, error messages) goes through
:func:`escape`, which escapes control characters the same way
(:mod:`..safe_text`) and then Rich markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import WapcError
from ..console import terminal
from ..messages import for_user
from ..safe_text import one_line

if TYPE_CHECKING:  # rich and the inspector load when a report is made, not with the CLI
    from rich.console import Console
    from rich.table import Table

    from ...tools.inspect import Finding, Report, RunResult

#: Rows shown per list in the text report; a hostile module can declare thousands
#: (``--json`` always has them all).
MAX_ROWS = 60


def write_json(
    report: Report, result: RunResult | None, *, strict: bool, exit_code: int
) -> None:
    """One JSON object on stdout: the report, what ``--run`` did, and the verdict."""
    document: dict[str, Any] = report.as_json()
    run = result.as_json() if result is not None else None
    if run is not None and run["error"] is not None:
        run["error"] = for_user(run["error"])
    document["run"] = run
    document["strict"] = strict
    document["exit_code"] = exit_code
    _write_document(document)


def write_json_failure(module: str | None, error: WapcError) -> None:
    """``--json`` when there is no report (exit 2: a bad option, a missing or non-wasm file).

    ``module`` is None when the command line could not be parsed.
    """
    _write_document({
        "module": module, "conformant": None,
        "error": {"kind": error.kind, "message": for_user(error)},
        "exit_code": int(error.exit_code),
    })


def _write_document(document: dict[str, Any]) -> None:
    import json

    out = terminal.stdout
    # ASCII-only: names in a module are arbitrary Unicode, stdout may not be
    out.write(json.dumps(document, ensure_ascii=True, indent=2) + "\n")
    out.flush()


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
    out = out or terminal.rich_console(terminal.stdout)
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
    _debug_info(report, out, k)
    _platforms(report, out, k)
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
    """``text`` from the module, safe to print: controls escaped, then Rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(one_line(text))


def display_name(text: str, limit: int = 100) -> str:
    """A name from the module, escaped and cut after ``limit`` characters (as the core does)."""
    return one_line(text, limit)


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
    from ...tools.inspect import PAGE

    out.print(f"\n[bold]Exports[/] ({len(report.exports)})")
    grid = _grid()
    for e in report.exports[:MAX_ROWS]:
        if e.kind == "func":
            detail = _sig(e.params, e.results)
        elif e.role == "memory" and report.memory is not None:
            mem = report.memory
            top = f"max {_n(mem.max_pages, 'page')}" if mem.max_pages is not None else "no maximum"
            size = f"{_n(mem.min_pages, 'page')} ({mem.min_pages * PAGE // 1024} KiB)"
            detail = f"memory: {size}, {top}"
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


def _debug_info(report: Report, out: Console, k: _Marks) -> None:
    """DWARF (its producers, units and source files) or stripped; the name section."""
    info = report.debug_info
    if info is None:
        return
    names = "name section" if info.name_section else "no name section"
    if not info.dwarf:
        what = "stripped (no DWARF, no names)" if info.stripped else f"no DWARF, {names}"
        out.print(f"[bold]Debug info[/]  {what}")
        return
    size = _bytes(sum(s for _, s in info.sections))
    out.print(f"[bold]Debug info[/]  DWARF ({_n(len(info.sections), 'section')}, {size}) "
              f"{k.dot} {names}")
    grid = _grid(columns=2)
    if info.problem:
        grid.add_row(f"  {k.warn}", f"unreadable: {escape(display_name(info.problem, 200))}")
    for producer in info.producers[:MAX_ROWS]:
        grid.add_row(f"  {k.dot}", f"producer: {escape(display_name(producer))}")
    units = ", ".join(escape(display_name(u.name or "?")) for u in info.units[:MAX_ROWS])
    if info.unit_count:
        grid.add_row(f"  {k.dot}", f"{_n(info.unit_count, 'compilation unit')}: {units}")
    files = ", ".join(escape(display_name(f)) for f in info.source_files[:MAX_ROWS])
    if info.source_file_count:
        more = info.source_file_count - min(MAX_ROWS, len(info.source_files))
        grid.add_row(f"  {k.dot}", f"{_n(info.source_file_count, 'source file')}: {files}"
                     + (f", ... {more} more" if more > 0 else ""))
    out.print(grid)


def _platforms(report: Report, out: Console, k: _Marks) -> None:
    """wasmCloud claims and Kubewarden metadata, when the module carries them."""
    claims = report.wasmcloud
    if claims is not None:
        mark = k.ok if claims.signature == "valid" and claims.hash_matches else k.warn
        if claims.signature == "invalid" or (claims.module_hash and not claims.hash_matches):
            mark = k.bad
        out.print(f"\n[bold]wasmCloud claims[/]  {mark} '{escape(claims.section)}' section")
        grid = _grid(columns=2)
        rows = [
            ("name", claims.name), ("issuer", claims.issuer), ("subject", claims.subject),
            ("caps", ", ".join(claims.caps) or "none"), ("call alias", claims.call_alias),
            ("revision", None if claims.revision is None else str(claims.revision)),
            ("version", claims.version),
            ("expires", "never" if claims.expires is None else _when(claims.expires)
             + (" (expired)" if claims.expired else "")),
            ("hash", "matches the module" if claims.hash_matches
             else f"none claimed (module {claims.computed_hash})" if claims.module_hash is None
             else f"does not match (claimed {claims.module_hash}, module {claims.computed_hash})"),
            ("signature", claims.signature),
        ]
        for label, value in rows:
            if value is not None:
                grid.add_row(f"  {k.dot}", f"{label}: {escape(display_name(value, 200))}")
        for problem in claims.problems:
            grid.add_row(f"  {k.warn}", escape(problem))
        out.print(grid)
    meta = report.kubewarden
    if meta is not None:
        if not meta.get("valid"):
            out.print(f"\n[bold]Kubewarden metadata[/]  {k.warn} {escape(str(meta['problem']))}")
            return
        resources = ", ".join(f"{r.get('apiVersion')}/{r.get('kind')}"
                              for r in meta["context_aware_resources"] if isinstance(r, dict))
        protocol = escape(str(meta["protocol_version"]))
        out.print(f"\n[bold]Kubewarden metadata[/]  protocol {protocol} "
                  f"{k.dot} {'mutating' if meta['mutating'] else 'validating'} {k.dot} "
                  f"{escape(str(meta['policy_type']))} {k.dot} {_n(len(meta['rules']), 'rule')}")
        if resources:
            out.print(f"  context-aware: {escape(display_name(resources, 400))}")


def _when(epoch: int) -> str:
    import time

    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):
        return str(epoch)


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
        details.add_row("", f"[red]{escape(for_user(result.error))}[/]")
    if result.logs or result.error is not None:
        out.print(details)
