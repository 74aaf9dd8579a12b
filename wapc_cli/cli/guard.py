"""The CLI's one error policy: one line on stderr and the documented exit code.

Both ways into the CLI run commands through :func:`run_guarded`: the typer app
(:class:`.app.WapcGroup`) and the fast path of ``wapc call`` (:mod:`.entry`).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ExitCode, WapcError
from .console import terminal


def run_guarded(body: Callable[[], int | None], *, show_traceback: bool) -> int:
    """Run ``body``; report what it raises the documented way and return the exit code."""
    try:
        rc = body()
    except WapcError as exc:
        _traceback(show_traceback)
        terminal.error_line(exc)
        rc = exc.exit_code
    except KeyboardInterrupt:
        terminal.error_line("interrupted")
        rc = 130
    except BrokenPipeError:
        rc = 0  # the reader went away (e.g. `| head`): not our error
    except Exception as exc:
        _traceback(show_traceback)
        terminal.error_line(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --traceback)"
        )
        rc = ExitCode.INTERNAL
    return int(rc or 0)


def _traceback(wanted: bool) -> None:
    if wanted:
        import traceback

        traceback.print_exc()
