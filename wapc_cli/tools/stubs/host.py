"""``--stubs`` / ``--preset`` / ``--record`` -> the host-call setup of one run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...engines.base import Limits
from ...errors import StubFailure, UsageError
from ...runtime.hostcalls import HostCallHandler
from ...runtime.session import EventSink, LogSink
from ..host_setup import HostSetup
from ..tarmac.functions import FunctionRunner
from ..tarmac.options import TarmacOptions
from .handler import StubHandler
from .loader import load_stub_file
from .model import PRESETS, StubTable
from .recorder import Recorder

if TYPE_CHECKING:
    from ...runtime.cache import ModuleCache


class StubHostSetup(HostSetup):
    """A HostSetup that keeps its parts, so ``trace`` can show the preset's state."""

    def __init__(
        self,
        handler: HostCallHandler,
        finish: Callable[[], None],
        describe: str,
        stubs: StubHandler | None = None,
        recorder: Recorder | None = None,
        runner: FunctionRunner | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(handler, finish, describe)
        self.stubs = stubs
        self.recorder = recorder
        #: Runs ``tarmac:function:NAME`` callees (the tarmac preset only).
        self.runner = runner
        #: What the run's Tarmac config asked for that a local run leaves out.
        self.notes = notes

    def attach(self, tracer: EventSink | None, on_log: LogSink | None) -> None:
        if self.runner is not None:
            self.runner.attach(tracer, on_log)
        preset = self.stubs.preset if self.stubs is not None else None
        if preset is not None:
            preset.log_sink = on_log  # tarmac:logger lines, shown as they happen

    def preset_state(self) -> dict[str, Any] | None:
        """The tarmac preset's state (key-value store, logs, metrics), when one answered."""
        preset = self.stubs.preset if self.stubs is not None else None
        return preset.summary() if preset is not None else None


def build_host_setup(
    stub_files: Sequence[Path], preset: str | None, record_path: Path | None, force: bool = False,
    *, tarmac: TarmacOptions | None = None, engine: str = "auto", limits: Limits | None = None,
    cache: ModuleCache | None = None,
) -> StubHostSetup:
    """The host of one run. ``tarmac``: the Tarmac options given outside any table
    (they win over the tables' ``tarmac:`` blocks, and imply the tarmac preset);
    ``engine``, ``limits`` and ``cache`` are the run's, for ``function:`` callees."""
    tables = [load_stub_file(Path(p)) for p in stub_files]
    return host_setup_from_tables(tables, preset, record_path, force, tarmac=tarmac,
                                  engine=engine, limits=limits, cache=cache)


def host_setup_from_tables(
    tables: Sequence[StubTable], preset: str | None, record_path: Path | None,
    force: bool = False, *, tarmac: TarmacOptions | None = None, engine: str = "auto",
    limits: Limits | None = None, cache: ModuleCache | None = None,
) -> StubHostSetup:
    """:func:`build_host_setup` from tables already loaded (``wapc test``: a suite's
    tables, inline ones included, are loaded with the suite)."""
    tables = list(tables)
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"--preset: unknown preset '{preset}' (choose from: {', '.join(PRESETS)})")
    chosen = preset or next((t.preset for t in reversed(tables) if t.preset), None)
    seed: dict[str, bytes] = {}
    for table in tables:  # later tables win, key by key
        seed.update(table.kvstore or {})
    if chosen is None and any(t.kvstore is not None or t.tarmac is not None for t in tables):
        chosen = "tarmac"  # a kvstore seed or a tarmac: block only means something to it
    if chosen is None and tarmac is not None:
        chosen = "tarmac"  # so do the Tarmac options
    runner = None
    notes: tuple[str, ...] = ()
    tarmac_preset = None
    if chosen == "tarmac":
        options, notes = merged_tarmac_options([t.tarmac for t in tables], tarmac)
        runner = FunctionRunner(options.functions)
        runner.configure(engine=engine, limits=limits or Limits(), cache=cache)
        tarmac_preset = _tarmac_preset(options, seed, runner)
    stubs = StubHandler(tables, tarmac_preset)
    recorder = Recorder(stubs, record_path, force) if record_path is not None else None
    if runner is not None:
        runner.handler = recorder or stubs  # callees' host calls: answered as the caller's

    def finish() -> None:
        if recorder is not None:
            recorder.write()  # first: a recording is most useful when expectations fail
        unmet = stubs.unmet()
        if unmet:
            raise StubFailure("; ".join(unmet))

    return StubHostSetup(
        handler=recorder or stubs,
        finish=finish,
        describe=_describe(stubs, chosen, record_path, runner),
        stubs=stubs,
        recorder=recorder,
        runner=runner,
        notes=notes,
    )


def _tarmac_preset(options: TarmacOptions, seed: dict[str, bytes],
                   runner: FunctionRunner) -> Any:
    from ..tarmac.preset import TarmacPreset  # protobuf and the backends: only when asked for

    return TarmacPreset(options, seed, runner)


def merged_tarmac_options(
    tables: Sequence[TarmacOptions | None], given: TarmacOptions | None
) -> tuple[TarmacOptions, tuple[str, ...]]:
    """One run's Tarmac options: the tables' blocks in order, then ``given`` (the
    flags), each later one winning field by field; functions merge by name, those
    of a Tarmac config first, then the ones named one by one. Also the notes of
    every Tarmac config read."""
    from ..tarmac.config import load_tarmac_config

    merged = TarmacOptions()
    notes: list[str] = []
    for options in (*tables, given):
        if options is None:
            continue
        functions = dict(merged.functions)
        if options.config is not None:
            config = load_tarmac_config(options.config)
            functions.update(config.functions)
            notes.extend(f"{config.path}: {note}" for note in config.notes)
        functions.update(options.functions)
        merged = replace(
            merged,
            sql=options.sql if options.sql is not None else merged.sql,
            kvstore=options.kvstore if options.kvstore is not None else merged.kvstore,
            allow_http=options.allow_http or merged.allow_http,
            functions=functions,
            config=options.config or merged.config,
        )
    return merged, tuple(notes)


def _describe(stubs: StubHandler, preset: str | None, record: Path | None,
              runner: FunctionRunner | None = None) -> str:
    parts = []
    if stubs.tables:
        files = ", ".join(
            f"{Path(t.path).name} ({len(t.rules)} rule{'s' if len(t.rules) != 1 else ''})"
            for t in stubs.tables
        )
        parts.append(f"stubs {files}")
    if preset:
        parts.append(f"preset {preset}")
    if runner is not None and runner.functions:
        parts.append(f"functions {', '.join(sorted(runner.functions))}")
    parts.append(f"default {stubs.default}")
    if record is not None:
        parts.append(f"recording to {record}")
    return "; ".join(parts)
