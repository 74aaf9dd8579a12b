"""``--core DIR`` on ``call`` and ``trace``: record the exchange, write a crash bundle on a trap.

Without ``--core`` nothing here runs (the plain call keeps its hot path). With
it the call is traced into an :class:`~wapc_cli.tools.crash.ExchangeRecorder`
and, when it ends in a trap or a limit, :func:`~wapc_cli.tools.crash.write_crash_bundle`
writes the coredump and the exchange record; one line on stderr names them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import GuestTrap
from ..runtime import events as ev
from .console import terminal

if TYPE_CHECKING:
    from ..tools.crash import ExchangeRecorder
    from .calling import CallOutcome
    from .runspec import RunSpec


def recorder(then: Callable[[ev.Event], None] | None = None) -> ExchangeRecorder:
    from ..tools.crash import ExchangeRecorder

    return ExchangeRecorder(then)


def check_free(directory: Path, spec: RunSpec, *, force: bool) -> None:
    """Refuse, before anything runs, a bundle that would overwrite files (without force)."""
    from ..errors import UsageError
    from ..tools.crash import bundle_paths

    paths = bundle_paths(directory, str(spec.module), spec.operation)
    for path in (paths.core, paths.record):
        if not force and path.exists():
            raise UsageError(f"crash bundle: '{path}' exists; it is not overwritten without force")


def write_if_trapped(
    directory: Path, outcome: CallOutcome, recorded: ExchangeRecorder, *, force: bool
) -> None:
    """Write the bundle when the call trapped (a guest error is an answer, not a crash)."""
    from ..runtime.guest import read_module_file
    from ..tools.crash import write_crash_bundle

    error = outcome.error
    if not isinstance(error, GuestTrap):
        return
    spec = outcome.spec
    memory, note = guest_memory(outcome)
    bundle = write_crash_bundle(
        directory, module_path=str(spec.module), wasm=read_module_file(spec.module),
        operation=spec.operation, payload=spec.payload, engine=outcome.engine, error=error,
        recorder=recorded, memory=memory, memory_note=note, force=force,
    )
    terminal.note_line(f"crash bundle written: {bundle.core} and {bundle.record}")


def guest_memory(outcome: CallOutcome) -> tuple[bytes | None, str | None]:
    """The trapped guest's linear memory, or None and why it cannot be read."""
    from ..tools.crash import memory_of

    if outcome.memory is not None:  # sent back by a supervised child
        return outcome.memory, None
    return memory_of(outcome.guest)
