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
from ..nested import NestedRunner
from ..tarmac.functions import FunctionRunner
from ..tarmac.options import TarmacOptions
from .handler import StubHandler
from .loader import load_stub_file
from .model import PRESETS, StubTable
from .recorder import Recorder

if TYPE_CHECKING:
    from ...runtime.cache import ModuleCache
    from ...runtime.profiles import HostProfile


class StubHostSetup(HostSetup):
    """A HostSetup that keeps its parts, so ``trace`` can show the preset's state."""

    def __init__(
        self,
        handler: HostCallHandler,
        finish: Callable[[], None],
        describe: str,
        stubs: StubHandler | None = None,
        recorder: Recorder | None = None,
        runner: NestedRunner | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(handler, finish, describe)
        self.stubs = stubs
        self.recorder = recorder
        #: Runs ``tarmac:function:NAME`` callees and ``reply: {guest: ...}`` answers.
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
        """The preset's state (Tarmac: key-value store, logs, metrics; Kubewarden: logs,
        replay), when one answered."""
        preset = self.stubs.preset if self.stubs is not None else None
        return preset.summary() if preset is not None else None

    def close(self) -> None:
        preset = self.stubs.preset if self.stubs is not None else None
        if preset is not None:
            preset.close()


def build_host_setup(
    stub_files: Sequence[Path], preset: str | None, record_path: Path | None, force: bool = False,
    *, tarmac: TarmacOptions | None = None, engine: str = "auto", limits: Limits | None = None,
    cache: ModuleCache | None = None, k8s_context: Path | None = None,
    record_format: str = "stubs", module: Path | None = None,
    profile: HostProfile | None = None,
) -> StubHostSetup:
    """The host of one run. ``tarmac``: the Tarmac options given outside any table
    (they win over the tables' ``tarmac:`` blocks, and imply the tarmac preset);
    ``engine``, ``limits`` and ``cache`` are the run's, for ``function:`` callees and
    guest replies; ``k8s_context`` the kubewarden preset's cluster (and implies it);
    ``record_format`` ``stubs`` (a stub table) or ``kwctl`` (a kwctl session file);
    ``module`` the guest (a Kubewarden policy's metadata grants its allow-list);
    ``profile`` the host profile the run's guest, and so its callees, run under."""
    tables = [load_stub_file(Path(p)) for p in stub_files]
    return host_setup_from_tables(tables, preset, record_path, force, tarmac=tarmac,
                                  engine=engine, limits=limits, cache=cache,
                                  k8s_context=k8s_context, record_format=record_format,
                                  module=module, profile=profile)


def host_setup_from_tables(
    tables: Sequence[StubTable], preset: str | None, record_path: Path | None,
    force: bool = False, *, tarmac: TarmacOptions | None = None, engine: str = "auto",
    limits: Limits | None = None, cache: ModuleCache | None = None,
    k8s_context: Path | None = None, record_format: str = "stubs",
    module: Path | None = None, profile: HostProfile | None = None,
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
    if chosen is None and k8s_context is not None:
        chosen = "kubewarden"  # and a Kubernetes context
    if record_format not in ("stubs", "kwctl"):
        raise UsageError(f"the record format is stubs or kwctl, not '{record_format}'")
    runner: NestedRunner | None = None
    notes: tuple[str, ...] = ()
    preset_object: Any = None
    if chosen == "tarmac":
        options, notes = merged_tarmac_options([t.tarmac for t in tables], tarmac)
        runner = FunctionRunner(options.functions)
        preset_object = _tarmac_preset(options, seed, runner)
    elif chosen == "kubewarden":
        preset_object = _kubewarden_preset(tables, k8s_context, module)
    if runner is None and any(t.guest_replies for t in tables):
        runner = NestedRunner()
    if runner is not None:
        runner.configure(engine=engine, limits=limits or Limits(), cache=cache,
                         profile=profile)
    stubs = StubHandler(tables, preset_object)
    stubs.guests = runner
    recorder = None
    if record_path is not None:
        recorder = Recorder(stubs, record_path, force, record_format)
    if runner is not None:
        runner.handler = recorder or stubs  # callees' host calls: answered as the caller's

    def finish() -> None:
        if recorder is not None:
            recorder.write()  # first: a recording is most useful when expectations fail
        unmet = stubs.unmet()
        if unmet:
            raise StubFailure("; ".join(unmet))

    setup = StubHostSetup(
        handler=recorder or stubs,
        finish=finish,
        describe=_describe(stubs, chosen, record_path, runner),
        stubs=stubs,
        recorder=recorder,
        runner=runner,
        notes=notes,
    )
    setup.preset_name = chosen
    return setup


def _tarmac_preset(options: TarmacOptions, seed: dict[str, bytes],
                   runner: FunctionRunner) -> Any:
    from ..tarmac.preset import TarmacPreset  # protobuf and the backends: only when asked for

    return TarmacPreset(options, seed, runner)


def _kubewarden_preset(tables: Sequence[StubTable], k8s_context: Path | None,
                       module: Path | None) -> Any:
    from ..kubewarden.context import load_context, with_policy_grants
    from ..kubewarden.preset import KubewardenPreset
    from ..kubewarden.session import Replay

    exchanges = [e for t in tables for e in (t.kwctl_session or ())]
    sessions = any(t.kwctl_session is not None for t in tables)
    context = load_context(k8s_context) if k8s_context is not None else None
    if context is not None:
        context = with_policy_grants(context, module)
    return KubewardenPreset(context, Replay(exchanges) if sessions else None)


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
              runner: NestedRunner | None = None) -> str:
    parts = []
    if stubs.tables:
        files = ", ".join(
            f"{Path(t.path).name} ({_counted(t)})" for t in stubs.tables
        )
        parts.append(f"stubs {files}")
    if preset:
        parts.append(f"preset {preset}")
    if isinstance(runner, FunctionRunner) and runner.functions:
        parts.append(f"functions {', '.join(sorted(runner.functions))}")
    parts.append(f"default {stubs.default}")
    if record is not None:
        parts.append(f"recording to {record}")
    return "; ".join(parts)


def _counted(table: StubTable) -> str:
    if table.kwctl_session is not None:
        count = len(table.kwctl_session)
        return f"kwctl session, {count} exchange{'s' if count != 1 else ''}"
    return f"{len(table.rules)} rule{'s' if len(table.rules) != 1 else ''}"
