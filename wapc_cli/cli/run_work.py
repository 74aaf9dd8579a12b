"""``wapc run``'s work, with no typer: what a run of a WASI command does and how it is shown.

The typer command (:mod:`.run_cmd`) and the fast entry (:mod:`.entry`) both
call :func:`run_command` with the values they parsed, so a command line means
the same whichever parsed it. Neither typer, rich nor pydantic is imported
here (the fast entry imports this module for a one-shot ``wapc run``).

The guest's stdout bytes go to stdout as it writes them, its stderr to stderr,
and its exit status (``proc_exit``'s code, 0 when ``_start`` returns) becomes
wapc's. The exit status seen by a shell is the code modulo 256, as for any
process. A failure of wapc's own (a bad flag, a module that is not a command, a
trap, a limit) is reported as everywhere else: one ``wapc: error:`` line on
stderr and the documented exit code, which a guest may also exit with;
``--json`` tells the two apart (one result object on stdout, the guest's output
inside it).

wasmer, which cannot stop a guest in-process, runs the command in the
supervised child process (:mod:`wapc_cli.isolation`, mode "command"), which
relays the output as it is written. Shown on a terminal, the guest's output has
its control characters escaped (:mod:`.safe_text`); to a pipe or a file it is
the guest's bytes. A pipe nobody reads holds a write no longer than the run's
time limit: the run then ends with the timeout (:meth:`ByteWriter.write_bytes`).
"""

from __future__ import annotations

import base64
import codecs
import json
import os
import select
import stat
import time
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO

from ..engines.base import Limits
from ..errors import ExitCode, WapcError
from ..runtime import budget, interrupts
from ..runtime.budget import WAIT_SLICE_S, OutOfTime
from ..runtime.limits import DEFAULT_TIMEOUT_S, needs_supervision
from ..runtime.wasi_options import WasiOptions
from .console import terminal
from .limits import build_limits
from .render.call_output import error_json
from .runspec import module_cache, wasi_options
from .safe_text import json_safe, lines

#: The most of each stream ``--json`` keeps (the rest is counted, not kept).
JSON_CAPTURE_BYTES = 16 * 1024**2
#: The most ``--stdin`` reads (it is read whole before the guest starts).
MAX_STDIN_BYTES = 256 * 1024**2


def run_command(
    module: Path, args: list[str] | None = None, engine: str = "auto",
    timeout: str | None = None, fuel: int | None = None, max_memory: str | None = None,
    env: list[str] | None = None, arg: list[str] | None = None, dir: list[str] | None = None,
    stdin: str | None = None, json_out: bool = False, no_cache: bool = False,
) -> int:
    """Run the WASI command ``module`` as ``wapc run`` was asked to; the exit status.

    The parameters are the command's, as parsed: the guest's arguments are the
    ``--arg`` values, then the ARGS (``[*arg, *args]``).
    """
    request = RunRequest(module, [*(arg or ()), *(args or ())], engine, timeout, fuel,
                         max_memory, env, dir, stdin, no_cache)
    return run_json(request) if json_out else run_streaming(request)


class RunRequest:
    """What the user asked ``wapc run`` to do, as parsed from the command line."""

    def __init__(
        self, module: Path, args: list[str], engine: str = "auto", timeout: str | None = None,
        fuel: int | None = None, max_memory: str | None = None, env: list[str] | None = None,
        dirs: list[str] | None = None, stdin: str | None = None, no_cache: bool = False,
    ) -> None:
        self.module = module
        self.args = args
        self.engine = engine
        self.timeout = timeout
        self.fuel = fuel
        self.max_memory = max_memory
        self.env = env
        self.dirs = dirs
        self.stdin = stdin
        self.no_cache = no_cache


class RunResult:
    """How a run ended: the guest's exit code, or wapc's error (never both)."""

    def __init__(self, engine: str = "") -> None:
        self.engine = engine
        #: The guest's exit code as it gave it (proc_exit takes a u32), None on an error.
        self.guest_exit_code: int | None = None
        self.error: WapcError | None = None

    @property
    def exit_status(self) -> int:
        """The process's exit status: the guest's code as a shell sees it, or the error's."""
        if self.error is not None:
            return int(self.error.exit_code)
        return (self.guest_exit_code or 0) & 0xFF


# -- running -----------------------------------------------------------------------------
class Sink(Protocol):
    """Where one of the guest's streams goes: each piece of it, as it is written."""

    def write(self, data: bytes) -> None: ...


def execute(request: RunRequest, stdout: Sink, stderr: Sink) -> RunResult:
    """Run the command; guest output to the two writers. Usage errors raise, others return."""
    limits = build_limits(request.timeout, request.fuel, request.max_memory, DEFAULT_TIMEOUT_S)
    wasi = wasi_options(request.module, request.env, request.args, request.dirs)
    stdin = _read_stdin(request.stdin)
    if needs_supervision(request.engine, limits):
        return _supervised(request, limits, wasi, stdin, stdout, stderr)
    from ..runtime.command import load_command

    loaded = load_command(request.module, engine=request.engine, limits=limits,
                          cache=module_cache(not request.no_cache))
    result = RunResult(loaded.engine_name)
    try:
        ended = loaded.run(wasi, stdout=stdout.write, stderr=stderr.write, stdin=stdin)
    except WapcError as exc:
        result.error = exc
    else:
        result.guest_exit_code = ended.exit_code
    return result


def _supervised(
    request: RunRequest, limits: Limits, wasi: WasiOptions, stdin: bytes,
    stdout: Sink, stderr: Sink,
) -> RunResult:
    """The same run in a child process that enforces the limits (wasmer)."""
    from ..isolation import run_supervised
    from ..runtime.guest import read_module_file

    writers = {1: stdout, 2: stderr}
    outcome = run_supervised(
        read_module_file(request.module), name=str(request.module), engine=request.engine,
        limits=limits, wasi=wasi, mode="command", stdin=stdin,
        on_output=lambda fd, data: writers[fd].write(data),
    )
    error = outcome.error
    if error is not None and error.exit_code == ExitCode.USAGE:
        raise error  # as loading in-process would have
    result = RunResult(outcome.engine)
    result.error = error
    if error is None:
        result.guest_exit_code = outcome.exit_status or 0
    return result


def _read_stdin(spec: str | None) -> bytes:
    if spec is None:
        return b""
    from ..runtime.payload import read_user_file

    return read_user_file(spec, "--stdin", max_bytes=MAX_STDIN_BYTES)


# -- the two ways to show it -------------------------------------------------------------
def run_streaming(request: RunRequest) -> int:
    """The guest's output as it comes, its exit status; wapc's failure as its one line."""
    stdout, stderr = ByteWriter(terminal.stdout), ByteWriter(terminal.stderr, "stderr")
    try:
        result = execute(request, stdout, stderr)
    finally:
        stdout.close()
        stderr.close()
    if stdout.failure is not None:
        raise stdout.failure  # the error policy: "cannot write to standard output", 74
    if result.error is not None:
        raise result.error
    return result.exit_status


def run_json(request: RunRequest) -> int:
    """``--json``: one object on stdout with everything; wapc's failure on stderr as well."""
    stdout, stderr = Capture(), Capture()
    try:
        result = execute(request, stdout, stderr)
    except WapcError as exc:  # never reached the guest: still one object
        _write_json(_document(request, RunResult(), stdout, stderr, exc))
        raise
    _write_json(_document(request, result, stdout, stderr, result.error))
    if result.error is not None:
        terminal.error_line(result.error)
    return result.exit_status


def _write_json(document: dict[str, Any]) -> None:
    terminal.stdout.write(json_safe(json.dumps(document, ensure_ascii=False)) + "\n")
    terminal.stdout.flush()


def _document(request: RunRequest, result: RunResult, stdout: Capture, stderr: Capture,
              error: WapcError | None) -> dict[str, Any]:
    """The ``--json`` object of one run (the README's ``wapc run`` section)."""
    status = int(error.exit_code) if error is not None else result.exit_status
    return {
        "ok": error is None and result.guest_exit_code == 0,
        "module": str(request.module),
        "args": request.args,
        "engine": result.engine or None,
        "guest_exit_code": None if error is not None else result.guest_exit_code,
        "error": error_json(error) if error is not None else None,
        "stdout": stdout.as_json(),
        "stderr": stderr.as_json(),
        "exit_code": status,
    }


class ByteWriter:
    """One of the guest's streams on one of ours: its bytes, flushed as they come.

    On a terminal the bytes are decoded (UTF-8, incrementally: a character
    split between two writes stays whole) and shown with control characters
    escaped, newline and tab kept. A reader that went away (EPIPE) makes the
    rest of the output go nowhere, quietly, and the run goes on to its exit
    status; any other failed write is kept in ``failure`` for the error policy.
    A pipe that takes nothing until the run's deadline ends the run
    (:class:`~wapc_cli.runtime.budget.OutOfTime`); ``name`` says which stream.
    """

    def __init__(self, stream: TextIO, name: str = "stdout") -> None:
        self.stream = stream
        self.name = name
        self.tty = terminal.is_tty(stream)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.binary: BinaryIO | None = getattr(stream, "buffer", None)
        self.failure: OSError | None = None
        self.gone = False
        self.pipe_fd = _pipe_fd(self.binary)

    def write(self, data: bytes) -> None:
        if self.gone or not data:
            return
        try:
            if self.tty or self.binary is None:
                self.stream.write(lines(self.decoder.decode(data)))
                self.stream.flush()
            else:
                self.write_bytes(data)
        except BrokenPipeError:
            self.gone = True
            if self.stream is terminal.stdout:
                terminal.abandon_stdout()
        except OSError as exc:
            self.gone = True
            self.failure = exc

    def write_bytes(self, data: bytes) -> None:
        """The bytes unchanged; to a pipe, in pieces it has room for.

        A reader that does not read (``| sleep 60``) blocks a write to a full
        pipe, and a blocked write is retried after Ctrl-C's handler: the stop
        request would never be seen. So a pipe is written when ``select`` says
        it takes ``PIPE_BUF`` bytes without blocking, and a stop request drops
        the rest (the run then ends with "interrupted"); so does the run's
        deadline (:func:`~wapc_cli.runtime.budget.deadline`, the exchange's),
        raising ``OutOfTime``: the run ends with the timeout.
        """
        assert self.binary is not None
        if self.pipe_fd is None:
            self.binary.write(data)
            self.binary.flush()
            return
        self.binary.flush()
        end = budget.deadline()
        rest = memoryview(data)
        while rest:
            if interrupts.requested():
                self.gone = True
                return
            left = end - time.monotonic()
            if left <= 0:
                self.gone = True  # the rest of the output goes nowhere: the run is over
                raise OutOfTime(f"fd_write: {self.name} is a full pipe that is not being read")
            if select.select((), (self.pipe_fd,), (), min(WAIT_SLICE_S, left))[1]:
                rest = rest[os.write(self.pipe_fd, rest[:select.PIPE_BUF]):]

    def close(self) -> None:
        """Show what is left of a character split at the end (a terminal only)."""
        if self.tty and not self.gone:
            self.write_text(self.decoder.decode(b"", final=True))

    def write_text(self, text: str) -> None:
        if not text:
            return
        try:
            self.stream.write(lines(text))
            self.stream.flush()
        except OSError:
            self.gone = True


def _pipe_fd(binary: BinaryIO | None) -> int | None:
    """The descriptor under ``binary`` when it is a pipe or a socket (writes can block)."""
    fileno = getattr(binary, "fileno", None)  # a closed stdout's stand-in has none
    try:
        fd = fileno() if fileno is not None else None
        mode = os.fstat(fd).st_mode if fd is not None else 0
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else None


class Capture:
    """A guest stream kept for ``--json``: up to :data:`JSON_CAPTURE_BYTES`, the rest counted."""

    def __init__(self) -> None:
        self.kept = bytearray()
        self.length = 0

    def write(self, data: bytes) -> None:
        self.length += len(data)
        room = JSON_CAPTURE_BYTES - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    def as_json(self) -> dict[str, Any]:
        """``text`` (when the bytes are UTF-8), ``b64``, ``len`` and ``truncated``."""
        kept = bytes(self.kept)
        try:
            text: str | None = kept.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {"text": text, "b64": base64.b64encode(kept).decode("ascii"),
                "len": self.length, "truncated": self.length > len(kept)}
