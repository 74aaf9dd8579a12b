"""``wapc bench``: calls per second, latency percentiles and the cold path of one guest."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import UsageError
from ..runtime.hostcalls import HostCallHandler
from ..runtime.payload import Encoding
from . import console
from .options import (
    EncodeOpt,
    EngineOpt,
    FuelOpt,
    JsonOpt,
    MaxMemoryOpt,
    ModuleArg,
    NoCacheOpt,
    OperationArg,
    PayloadHexOpt,
    PayloadJsonOpt,
    PayloadOpt,
    PresetOpt,
    StubsOpt,
)
from .runspec import RunSpec, build_runspec

if TYPE_CHECKING:
    from ..tools.bench import BenchResult

CountOpt = Annotated[
    int | None, typer.Option("-n", "--count", help="Measure this many calls (default 10000).")
]
DurationOpt = Annotated[
    float | None, typer.Option("--duration", help="Measure for this many seconds instead.")
]
WarmupOpt = Annotated[int, typer.Option("--warmup", help="Calls made before measuring.")]
SizeOpt = Annotated[
    int | None,
    typer.Option("--size", help="Payload of this many bytes (0, 1, 2, ... 255, 0, ...)."),
]
ReplyOpt = Annotated[
    str | None,
    typer.Option("--reply", help="Answer every host call with this text (instead of --stubs)."),
]
BareOpt = Annotated[
    bool,
    typer.Option("--bare", help="Also measure the bare host loop and report the API's overhead."),
]
BenchTimeoutOpt = Annotated[
    str | None,
    typer.Option("--timeout", help="Wall-clock limit per call in seconds (default: none)."),
]


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    module: ModuleArg,
    operation: OperationArg,
    payload: PayloadOpt = None,
    payload_hex: PayloadHexOpt = None,
    payload_json: PayloadJsonOpt = None,
    encode: EncodeOpt = Encoding.json,
    size: SizeOpt = None,
    engine: EngineOpt = "auto",
    stubs: StubsOpt = None,
    preset: PresetOpt = None,
    reply: ReplyOpt = None,
    count: CountOpt = None,
    duration: DurationOpt = None,
    warmup: WarmupOpt = 1000,
    bare: BareOpt = False,
    timeout: BenchTimeoutOpt = None,
    fuel: FuelOpt = None,
    max_memory: MaxMemoryOpt = None,
    no_cache: NoCacheOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Measure calls/s and latency of OPERATION on MODULE (use --engine all to compare)."""
    if count is not None and count <= 0:
        raise UsageError("--count: must be a positive number of calls")
    if duration is not None and duration <= 0:
        raise UsageError("--duration: must be a positive number of seconds")
    if count is not None and duration is not None:
        raise UsageError("give only one of --count, --duration")
    if warmup < 0:
        raise UsageError("--warmup: must be zero or more")
    if size is not None and (size < 0 or any(v is not None for v in (payload, payload_hex,
                                                                      payload_json))):
        raise UsageError("--size: give a size >= 0 and no other payload option")
    if reply is not None and (stubs or preset):
        raise UsageError("give only one of --reply, --stubs/--preset")
    engines = _engines(engine)
    results: list[BenchResult] = []
    for name in engines:
        spec = build_runspec(
            module=module, operation=operation, payload=payload, payload_hex=payload_hex,
            payload_json=payload_json, encode=encode.value, engine=name, timeout=timeout,
            fuel=fuel, max_memory=max_memory, env=None, args=None, dirs=None, stubs=stubs,
            preset=preset, record=None, default_timeout=None, no_cache=no_cache,
        )
        if size is not None:
            spec.payload = bytes(i & 0xFF for i in range(size))
        if reply is not None:
            spec.host.handler = _constant_answer(reply.encode("utf-8"))
        results.append(_measure(spec, count, duration, warmup, bare, show=not json_out))
    if json_out:
        out: Any = results[0].as_json() if len(results) == 1 else [r.as_json() for r in results]
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        render(results)
    raise typer.Exit(0)


def _constant_answer(answer: bytes) -> HostCallHandler:
    from ..tools.bench import ConstantAnswer

    return ConstantAnswer(answer)  # picklable: a supervised child answers by itself


def _engines(engine: str) -> list[str]:
    if engine != "all":
        return [engine]
    from ..engines import available_engines

    names = available_engines()
    if not names:
        raise UsageError("--engine all: no engine can be loaded in this Python")
    return names


def _measure(spec: RunSpec, count: int | None, duration: float | None, warmup: int,
             bare: bool, show: bool) -> BenchResult:
    from ..isolation.supervisor import needs_supervision
    from ..tools.bench import run_bench

    if needs_supervision(spec.engine, spec.limits):
        return _measure_supervised(spec, count, duration, warmup, bare, show)
    module = spec.load()
    guest = spec.instantiate(module, on_log=None)
    if not (show and console.color_stderr()):
        return run_bench(module, guest, spec.operation, spec.payload, count=count,
                         duration=duration, warmup=warmup, compare_bare=bare)
    label = f"[bold]{module.engine_name}[/] {spec.operation}"
    with _progress_bar(label, count, duration) as report:
        return run_bench(module, guest, spec.operation, spec.payload, count=count,
                         duration=duration, warmup=warmup, compare_bare=bare, progress=report)


@contextmanager
def _progress_bar(
    label: str, count: int | None, duration: float | None
) -> Iterator[Callable[[int, int | None], None]]:
    """A Rich progress bar on stderr; yields the callback that advances it."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:,} calls"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("bench", total=count if duration is None else None)

        def report(done: int, total: int | None) -> None:
            progress.update(task, completed=done)

        yield report


def _measure_supervised(spec: RunSpec, count: int | None, duration: float | None, warmup: int,
                        bare: bool, show: bool) -> BenchResult:
    """The whole benchmark in a child process that enforces the limits (wasmer).

    The child measures (warm-up, timed loop, cold path) and sends the result
    back; a guest call that outlives ``--timeout`` has the child killed, which
    ends the benchmark with that limit (exit 3), as does running out of memory.
    """
    from ..isolation.supervisor import BenchPlan, local_handler, run_supervised
    from ..runtime.guest import read_module_file

    handler = local_handler(spec.host.handler)
    kwargs: dict[str, Any] = dict(
        operation=spec.operation, payload=spec.payload, name=str(spec.module),
        engine=spec.engine, limits=spec.limits, wasi=spec.wasi,
        host_call=handler or spec.host.handler, local_host_calls=handler is not None,
        mode="bench", bench=BenchPlan(count, duration, warmup, bare),
    )
    wasm = read_module_file(spec.module)
    if not (show and console.color_stderr()):
        outcome = run_supervised(wasm, **kwargs)
    else:
        label = f"[bold]{spec.engine}[/] {spec.operation} (supervised)"
        with _progress_bar(label, count, duration) as report:
            outcome = run_supervised(wasm, progress=report, **kwargs)
    if outcome.error is not None:
        raise outcome.error
    if outcome.bench is None:  # pragma: no cover - the child always sends one or an error
        raise UsageError(f"bench: the {spec.engine} child process sent no measurements")
    return outcome.bench


def _rows(result: BenchResult) -> list[tuple[str, str]]:
    rows = [
        ("engine", f"{result.engine} {result.engine_version} ({result.hot_path})"),
        ("payload", f"{result.payload_len} B -> "
                    f"{'error' if result.response_len is None else f'{result.response_len} B'}"),
        ("calls", f"{result.calls:,}" + (f" ({result.errors:,} failed)" if result.errors else "")),
        ("calls/s", f"{result.calls_per_s:,.0f}"),
        ("latency p50", f"{result.p50_us:.2f} µs"),
        ("latency p90", f"{result.p90_us:.2f} µs"),
        ("latency p99", f"{result.p99_us:.2f} µs"),
        ("latency max", f"{result.max_us:.2f} µs"),
        ("host calls/call", f"{result.host_calls_per_call:g}"),
        ("compile", f"{result.compile_ms:.2f} ms" + (" (cache)" if result.cache_hit else "")),
        ("instantiate", f"{result.instantiate_ms:.2f} ms"),
        ("init", f"{result.init_ms:.2f} ms"),
    ]
    if result.bare is not None:
        rows.append(("bare loop calls/s", f"{result.bare.calls_per_s:,.0f}"))
        if result.api_overhead_pct is not None:
            rows.append(("API overhead", f"{result.api_overhead_pct:+.1f} %"))
    return rows


def render(results: list[BenchResult]) -> None:
    """One column per engine, aligned for a terminal or a pipe alike."""
    table = [_rows(r) for r in results]
    labels = [label for label, _ in table[0]]
    width = max(len(label) for label in labels)
    cols = [max(len(v) for _, v in rows) for rows in table]
    for i, label in enumerate(labels):
        cells = "  ".join(rows[i][1].rjust(cols[j]) if len(rows) > i else ""
                          for j, rows in enumerate(table))
        sys.stdout.write(f"{label.ljust(width)}  {cells}\n")
    for result in results:
        for note in result.notes:
            console.warning_line(f"{result.engine}: {note}")

