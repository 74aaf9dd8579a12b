"""``wapc test`` with a crash-bundle folder: a bundle for each case that failed with a trap.

Each case on each engine has a folder of its own, ``DIR/<suite>/<NN-case>.<engine>/``
(the layout of recordings, plus the engine: two engines may both trap), holding
the bundle ``call`` would write (:func:`wapc_cli.tools.crash.write_crash_bundle`).
A case that expected its trap passes, and gets no bundle. Every folder a unit
could write is checked before anything runs, so an existing bundle is refused
(without force) as ``call`` refuses it, and not halfway through a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ...errors import GuestTrap, UsageError, WapcError
from ..crash import ExchangeRecorder, bundle_paths, write_crash_bundle
from .expectations import evaluate
from .model import Case, CaseOutcome, Suite, case_slug
from .snapshots import Snapshots


def bundle_folder(directory: Path, suite: Suite, case: Case, engine: str) -> Path:
    stem, slug = case_slug(suite, case)
    return directory / stem / f"{slug}.{engine}"


def check_free(
    directory: Path, work: Sequence[tuple[Suite, Case, str]], *, force: bool
) -> None:
    """Refuse, before any case runs, a folder that is a file, or a bundle that would replace
    a file (without force)."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"crash bundle: '{directory}' is not a folder")
    if force:
        return
    for suite, case, engine in work:
        paths = bundle_paths(bundle_folder(directory, suite, case, engine), str(suite.module),
                             case.operation)
        for path in (paths.core, paths.record):
            if path.exists() or path.is_symlink():
                raise UsageError(
                    f"crash bundle: '{path}' exists; it is not overwritten without force"
                )


def bundle_if_failed(
    directory: Path, suite: Suite, case: Case, outcome: CaseOutcome, *,
    error: WapcError | None, wasm: bytes, recorder: ExchangeRecorder,
    memory: bytes | None, memory_note: str | None, force: bool,
) -> CaseOutcome:
    """``outcome``, saying where its bundle went, when the case trapped and so failed.

    The verdict taken here is the one the report gives: a trapped call has no
    response, so no snapshot is read or written to reach it.
    """
    if not isinstance(error, GuestTrap) or outcome.setup_error is not None:
        return outcome
    if evaluate(suite, case, outcome, Snapshots(update=False)).passed:
        return outcome
    try:
        bundle = write_crash_bundle(
            bundle_folder(directory, suite, case, outcome.engine),
            module_path=str(suite.module), wasm=wasm, operation=case.operation,
            payload=case.payload, engine=outcome.engine, error=error, recorder=recorder,
            memory=memory, memory_note=memory_note, force=force,
        )
    except WapcError as exc:  # the folder cannot be written: the verdict still stands
        said = str(exc).removeprefix("crash bundle: ")
        return replace(outcome, core=f"crash bundle not written: {said}")
    return replace(outcome, core=f"crash bundle written: {bundle.core} and {bundle.record}")
