"""``--stubs`` / ``--preset`` / ``--record`` -> the host-call setup of one run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...errors import StubFailure, UsageError
from ...runtime.hostcalls import HostCallHandler
from ..host_setup import HostSetup
from .handler import StubHandler
from .loader import load_stub_file
from .model import PRESETS
from .recorder import Recorder
from .tarmac import TarmacPreset


class StubHostSetup(HostSetup):
    """A HostSetup that keeps its parts, so ``trace`` can show the preset's state."""

    def __init__(
        self,
        handler: HostCallHandler,
        finish: Callable[[], None],
        describe: str,
        stubs: StubHandler | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        super().__init__(handler, finish, describe)
        self.stubs = stubs
        self.recorder = recorder

    def preset_state(self) -> dict[str, Any] | None:
        """The tarmac preset's state (key-value store, logs, metrics), when one answered."""
        preset = self.stubs.preset if self.stubs is not None else None
        return preset.summary() if preset is not None else None


def build_host_setup(
    stub_files: Sequence[Path], preset: str | None, record_path: Path | None, force: bool = False
) -> StubHostSetup:
    tables = [load_stub_file(Path(p)) for p in stub_files]
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"--preset: unknown preset '{preset}' (choose from: {', '.join(PRESETS)})")
    chosen = preset or next((t.preset for t in reversed(tables) if t.preset), None)
    seed: dict[str, bytes] = {}
    for table in tables:  # later tables win, key by key
        seed.update(table.kvstore or {})
    if chosen is None and any(t.kvstore is not None for t in tables):
        chosen = "tarmac"  # a kvstore seed only means something to the tarmac preset
    stubs = StubHandler(tables, TarmacPreset(seed) if chosen == "tarmac" else None)
    recorder = Recorder(stubs, record_path, force) if record_path is not None else None

    def finish() -> None:
        if recorder is not None:
            recorder.write()  # first: a recording is most useful when expectations fail
        unmet = stubs.unmet()
        if unmet:
            raise StubFailure("; ".join(unmet))

    return StubHostSetup(
        handler=recorder or stubs,
        finish=finish,
        describe=_describe(stubs, chosen, record_path),
        stubs=stubs,
        recorder=recorder,
    )


def _describe(stubs: StubHandler, preset: str | None, record: Path | None) -> str:
    parts = []
    if stubs.tables:
        files = ", ".join(
            f"{Path(t.path).name} ({len(t.rules)} rule{'s' if len(t.rules) != 1 else ''})"
            for t in stubs.tables
        )
        parts.append(f"stubs {files}")
    if preset:
        parts.append(f"preset {preset}")
    parts.append(f"default {stubs.default}")
    if record is not None:
        parts.append(f"recording to {record}")
    return "; ".join(parts)
