"""The CLI's one error policy: one line on stderr and the documented exit code.

Both ways into the CLI run commands through :func:`run_guarded`: the typer app
(:class:`.app.WapcGroup`) and the fast path of ``wapc call`` (:mod:`.entry`).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from ..errors import ExitCode, WapcError
from ..runtime import interrupts
from .console import terminal

#: Exit code when the output could not be written (closed stdout, a full disk):
#: EX_IOERR of sysexits.h, next to the EX_SOFTWARE (70) of an internal error.
OUTPUT_ERROR = 74


def run_guarded(body: Callable[[], int | None], *, show_traceback: bool) -> int:
    """Run ``body``; report what it raises the documented way and return the exit code."""
    body = _interruptible(body)
    terminal.prepare_streams()
    try:
        rc = body()
        terminal.stdout.flush()  # a failed write surfaces here, not as the interpreter exits
    except WapcError as exc:
        _traceback(show_traceback)
        terminal.error_line(exc)
        rc = exc.exit_code
    except KeyboardInterrupt:
        terminal.error_line("interrupted")
        rc = 130
    except BrokenPipeError:
        terminal.abandon_stdout()
        rc = 0  # the reader went away (e.g. `| head`): not our error
    except OSError as exc:
        rc = _write_failure(exc, show_traceback)
    except Exception as exc:
        _traceback(show_traceback)
        terminal.error_line(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --traceback)"
        )
        rc = ExitCode.INTERNAL
    return int(rc or 0)


def _write_failure(exc: OSError, show_traceback: bool) -> int:
    """stdout refused the output: one line, exit 74; any other OSError is a bug (70)."""
    _traceback(show_traceback)
    failure = terminal.write_failure(exc)
    if failure is None:
        terminal.error_line(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --traceback)"
        )
        return int(ExitCode.INTERNAL)
    terminal.abandon_stdout()
    terminal.error_line(failure)
    return OUTPUT_ERROR


def _traceback(wanted: bool) -> None:
    if wanted:
        import traceback

        traceback.print_exc()


# -- Ctrl-C ------------------------------------------------------------------------------
class Interrupted(Exception):
    """A Ctrl-C carried past click, which would print a blank line and call it an abort."""


def _interruptible(body: Callable[[], int | None]) -> Callable[[], int | None]:
    """``body`` with SIGINT stopping the guest it runs, then raising ``KeyboardInterrupt``.

    While something runs guest code (:func:`wapc_cli.runtime.interrupts.busy`)
    nothing is raised at the signal (an exception inside an engine's callback
    has nowhere to go): the engine is asked to interrupt the guest, or the
    supervised child is killed, and the run ends with ``KeyboardInterrupt``
    where that is safe. The request is made by a watcher thread woken through
    ``signal.set_wakeup_fd``, so it happens at once even while the main thread
    sits in a host call (an engine may hold a Python signal handler back until
    its callback returns). A second Ctrl-C before the run has ended exits at
    once (130). Installed only over Python's default handler (an ignored SIGINT
    stays ignored) and only in the main thread.
    """

    def run() -> int | None:
        uninstall = _install()
        try:
            rc = body()
            interrupts.check()  # a Ctrl-C that reached no running guest still ends the run
            return rc
        except Interrupted:
            raise KeyboardInterrupt from None
        finally:
            if uninstall is not None:
                uninstall()
            interrupts.clear()

    return run


def _install() -> Callable[[], None] | None:
    """Install the handler and its watcher; returns how to undo both (None: not installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # the C signal handler must never block on it
    try:
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - not the main thread after all
        os.close(read_fd)
        os.close(write_fd)
        return None
    signal.signal(signal.SIGINT, _on_sigint)
    threading.Thread(target=_watch, args=(read_fd,), name="wapc-sigint", daemon=True).start()

    def uninstall() -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_fd)  # the watcher reads end of file and ends

    return uninstall


def _on_sigint(signum: int, frame: Any) -> None:
    """The Python-level handler: raise only where no guest can be running."""
    if not interrupts.busy():
        raise KeyboardInterrupt
    interrupts.request()  # the watcher does too: whichever comes first


def _watch(read_fd: int) -> None:
    """The watcher thread: each SIGINT the wakeup descriptor reports, acted on at once."""
    seen = 0
    try:
        while data := os.read(read_fd, 64):
            for _ in range(data.count(signal.SIGINT)):
                seen += 1
                if not interrupts.busy():
                    continue  # _on_sigint raises KeyboardInterrupt in the main thread
                if seen > 1:  # the graceful stop is not over yet: give up on it
                    os.write(2, b"wapc: error: interrupted\n")
                    os._exit(130)
                interrupts.request()
    except OSError:  # pragma: no cover - the descriptor went away
        pass
    finally:
        os.close(read_fd)
