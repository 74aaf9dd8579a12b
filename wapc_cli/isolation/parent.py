"""The supervising parent: runs a job in a child process and enforces the limits.

The parent

- kills the child when the timeout runs out (counted from instantiation, so
  init is included and start-up/compilation is not; for a benchmark, per guest
  call, read from the shared call counter of :mod:`.beats`), :data:`KILL_GRACE_S`
  late: the child's own host waits (``Job.wait_budget_s``: a WASI sleep, a host
  call's answer) end at the deadline and report it as an in-process run does,
- lets the child cap its data segment with ``RLIMIT_DATA`` on top of the
  max-memory limit (the adapter already lowers each memory's declared maximum,
  so ``memory.grow`` past the limit returns -1; the rlimit bounds everything
  else the process does),
- answers the guest's host calls with the caller's handler (stub tables and
  recordings keep their state in the parent) within what is left of the
  timeout (host time counts: a handler that would outlast it ends the run with
  the timeout), and relays log lines, trace events and a WASI command's
  output bytes as they happen (within the deadline: a pipe nobody reads ends the run),
- kills the child on a stop request (:mod:`wapc_cli.runtime.interrupts`, the
  CLI's Ctrl-C) and raises ``KeyboardInterrupt``. The child runs in a session
  of its own, so a Ctrl-C at the terminal reaches only the parent.

A child that dies is reported by what killed it.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from ..engines.base import Limits
from ..errors import GuestTrap, LimitExceeded, WapcError
from ..runtime import interrupts
from ..runtime.budget import OutOfTime, running_until
from ..runtime.hostcalls import HostCallHandler, HostCallRequest, no_handler
from ..runtime.limits import format_seconds, format_size
from ..runtime.session import EventSink, HostAbort, LogSink, WapcSession
from ..runtime.wasi_options import WasiOptions
from .beats import BeatPage
from .messages import (
    Abort,
    BenchPlan,
    BenchProgress,
    Calling,
    Failed,
    Finished,
    HostCall,
    Job,
    Log,
    Mode,
    Output,
    Reply,
    Started,
    TraceEvent,
)

if TYPE_CHECKING:  # the event classes and the benchmark loop load only when used (~10 ms)
    import subprocess
    from multiprocessing.connection import Connection

    from ..runtime.cache import ModuleCache
    from ..runtime.events import Event
    from ..runtime.measure import BenchResult, Progress

#: How long the child may take to start and compile before the timeout clock starts.
STARTUP_ALLOWANCE_S = 120.0
#: How often the parent looks at a benchmark's call counter (bounds how late a kill is).
BEAT_POLL_S = 0.02
#: How late after the deadline the child is killed (its own host waits report it first).
KILL_GRACE_S = 0.5
#: The module the child runs as.
CHILD_MODULE = "wapc_cli.isolation.child"


#: Where a command's output goes in the parent: (fd 1 or 2, the bytes written).
OutputSink = Callable[[int, bytes], None]


class SupervisorError(RuntimeError):
    """The child failed in a way that is a bug of ours, not of the guest."""


@dataclass
class SupervisedOutcome:
    """What a supervised run left: a response or an error, plus what an in-process
    :class:`~wapc_cli.runtime.guest.Guest` would report after it."""

    engine: str = ""
    response: bytes | None = None
    error: WapcError | None = None
    warnings: list[str] = field(default_factory=list)
    host_calls: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    #: The module compiled and the child got to instantiating it.
    started: bool = False
    compile_ms: float = 0.0
    bench: BenchResult | None = None
    #: A command's exit status (mode "command"), when it got to an end.
    exit_status: int | None = None
    #: The trapped guest's memory (``keep_memory``), for a crash bundle.
    memory: bytes | None = None


def local_handler(handler: HostCallHandler) -> HostCallHandler | None:
    """``handler`` when it can be sent to a child (to answer there), else None."""
    import pickle

    try:
        pickle.dumps(handler)
    except Exception:  # closures, open files, ...: anything pickle refuses
        return None
    return handler


def run_supervised(
    wasm: bytes,
    *,
    operation: str = "",
    payload: bytes = b"",
    name: str = "<bytes>",
    engine: str = "wasmer",
    limits: Limits | None = None,
    wasi: WasiOptions | None = None,
    host_call: HostCallHandler | None = None,
    on_log: LogSink | None = None,
    tracer: EventSink | None = None,
    on_start: Callable[[str], None] | None = None,
    mode: Mode = "call",
    bench: BenchPlan | None = None,
    local_host_calls: bool = False,
    progress: Progress | None = None,
    on_output: OutputSink | None = None,
    stdin: bytes = b"",
    keep_memory: bool = False,
    cache: ModuleCache | None = None,
    profile: str = "wapc",
) -> SupervisedOutcome:
    """Run in a child process, enforcing ``limits``; guest failures come back in the outcome.

    ``mode`` "call" loads, instantiates and calls once; "init" stops after
    instantiation (start section and init exports); "bench" runs the measured
    loop of :func:`~wapc_cli.runtime.measure.measure_calls` as ``bench`` plans it
    and returns its result in ``outcome.bench`` (the timeout then applies to
    each guest call; ``progress`` hears how far it got). ``tracer`` gets the
    child's events as they happen, ``on_start`` the engine's name once the
    module compiled. With ``local_host_calls`` the child answers host calls with
    its own copy of ``host_call`` (which must pickle; see :func:`local_handler`).
    ``mode`` "command" runs a WASI command's ``_start`` (``wasm`` is a command,
    not a waPC guest) with ``stdin`` as its input; ``on_output`` gets each piece
    of its stdout (fd 1) and stderr (fd 2) as it is written, and
    ``outcome.exit_status`` its exit status. A failure of the child itself (a
    bug of ours) raises :class:`SupervisorError`. ``keep_memory``: a call that
    traps sends the guest's memory back (``outcome.memory``). ``cache``: the
    compiled-module cache the child compiles through (wasmer's second run of a
    module loads the artifact the first stored). ``profile``: the host profile the
    guest runs under (by name).
    """
    limits = limits or Limits()
    handler = host_call or no_handler
    job = Job(
        wasm=wasm, name=name, engine=engine, limits=limits._replace(timeout_s=None),
        wasi=wasi or WasiOptions(), operation=operation, payload=payload,
        trace=tracer is not None, logs=on_log is not None, mode=mode,
        handler=handler if local_host_calls else None, profile=profile,
        bench=(bench or BenchPlan()) if mode == "bench" else None, stdin=stdin,
        keep_memory=keep_memory, cache=cache, wait_budget_s=limits.timeout_s,
    )
    hooks = Hooks(on_log, tracer, on_start, progress, on_output)
    return Supervisor(job, limits, handler, hooks).run()


@dataclass
class Hooks:
    """Where the caller of :func:`run_supervised` hears what happens in the child."""

    on_log: LogSink | None
    tracer: EventSink | None
    on_start: Callable[[str], None] | None
    progress: Progress | None
    on_output: OutputSink | None = None


class Supervisor:
    """One child process, from its start to its report."""

    def __init__(self, job: Job, limits: Limits, handler: HostCallHandler, hooks: Hooks) -> None:
        self.job = job
        self.limits = limits
        self.answers = WapcSession(handler)  # the same handler semantics as in-process
        self.hooks = hooks
        self.outcome = SupervisedOutcome(engine=job.engine)
        self.phase = "start-up"
        self.aborted: Exception | None = None
        self.finished = False
        self.call_clock: int | None = None  # when the child said its exchange began
        self.beats: BeatPage | None = None
        self.process: subprocess.Popen[bytes] | None = None
        #: When the run (or a benchmark's current call) runs out of time (time.monotonic()).
        self.deadline = math.inf

    def stop_running(self) -> None:
        """Kill the child (a stop request, from a signal handler: see runtime.interrupts)."""
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGKILL)

    def run(self) -> SupervisedOutcome:
        import socket
        import subprocess
        import tempfile
        from multiprocessing.connection import Connection

        parent_sock, child_sock = socket.socketpair()
        beats = self.beats = BeatPage()
        try:
            with tempfile.TemporaryFile() as stderr, parent_sock, child_sock:
                child_fd, beat_fd = child_sock.fileno(), beats.fd
                interrupts.check()
                process = self.process = subprocess.Popen(
                    [sys.executable, "-m", CHILD_MODULE, str(child_fd), str(beat_fd)],
                    pass_fds=(child_fd, beat_fd), stdin=subprocess.DEVNULL, stdout=stderr,
                    stderr=stderr, env={**os.environ, "PYTHONFAULTHANDLER": ""},
                    start_new_session=True,
                )
                interrupts.watch(self)
                child_sock.close()
                conn = Connection(os.dup(parent_sock.fileno()))
                try:
                    conn.send(self.job)
                    self.serve(conn, process)
                    interrupts.check()  # the child was killed on request
                except BaseException:
                    kill(process)
                    raise
                finally:
                    interrupts.unwatch(self)
                    conn.close()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=5)
                if not self.finished and self.outcome.error is None:
                    self.died(process, stderr)
        finally:
            self.beats = None
            beats.close()
        if self.aborted is not None and isinstance(self.aborted, WapcError):
            self.outcome.error = self.aborted
        self.close_exchange()
        return self.outcome

    def serve(self, conn: Connection, process: subprocess.Popen[bytes]) -> None:
        """Answer and relay the child's messages until it finishes, dies or runs out of time."""
        self.deadline = time.monotonic() + STARTUP_ALLOWANCE_S
        timeout = self.limits.timeout_s
        beating = False  # a benchmark's calls: the timeout is per call, read from the beats
        last_beat, beat_since = 0, time.monotonic()
        while True:
            if interrupts.requested():
                return
            now = time.monotonic()
            if beating and self.beats is not None:
                beat = self.beats.read()
                if beat != last_beat:
                    last_beat, beat_since = beat, now
                # The current call's deadline (none while no call is under way).
                self.deadline = beat_since + timeout if beat and timeout is not None \
                    else math.inf
            grace = 0.0 if self.phase == "start-up" else KILL_GRACE_S  # the child's timeout
            remaining = self.deadline + grace - now
            if remaining <= 0:
                kill(process)
                self.out_of_time()
                return
            wait = min(remaining, BEAT_POLL_S if beating else 1.0)
            if not conn.poll(wait):
                if process.poll() is not None and not conn.poll(0):
                    return  # died without a result: died() reports why
                continue
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if isinstance(message, HostCall):
                answer = self.answer(message.request)
                if answer is None:  # out of time in the host call
                    kill(process)
                    return
                conn.send(answer)
            elif isinstance(message, TraceEvent):
                self.relay_event(message.event)
            elif isinstance(message, Output):
                if not self.relay_output(message):  # out of time writing it
                    kill(process)
                    return
            elif isinstance(message, Log):
                if self.hooks.on_log is not None:
                    self.hooks.on_log(message.message, message.source)
            elif isinstance(message, BenchProgress):
                if self.hooks.progress is not None:
                    self.hooks.progress(message.done, message.total)
            elif isinstance(message, Started):
                self.started(message)
                self.deadline = time.monotonic() + (timeout if timeout is not None else math.inf)
            elif isinstance(message, Calling):
                self.phase = "call"
                if self.job.mode == "bench" and timeout is not None:
                    beating, self.deadline = True, math.inf
                    last_beat, beat_since = 0, time.monotonic()
            elif isinstance(message, Finished):
                self.take_result(message)
                return
            elif isinstance(message, Failed):
                raise SupervisorError(
                    f"the {self.job.engine} child process failed: {message.reason}")

    def started(self, message: Started) -> None:
        self.outcome.engine = message.engine
        self.outcome.started = True
        self.outcome.compile_ms = message.compile_ms
        self.phase = "initialization"
        if self.hooks.on_start is not None:
            self.hooks.on_start(message.engine)

    def relay_output(self, message: Output) -> bool:
        """Pass a command's output on by the deadline; False: the writer ran out of time."""
        if self.hooks.on_output is None:
            return True
        try:
            with running_until(self.deadline):
                self.hooks.on_output(message.fd, message.data)
        except OutOfTime as exc:
            from ..runtime.command import START
            from ..runtime.outcome import timeout_error

            # The error an in-process run reports (runtime.command: "_start", no kill).
            self.outcome.error = timeout_error(
                self.limits, f" (time ran out in {exc.where})", None, (), START)
            return False
        return True

    def relay_event(self, event: Event) -> None:
        from ..runtime.events import GuestCall, Return  # loaded with the child's first event

        if isinstance(event, GuestCall):
            self.call_clock = time.perf_counter_ns()
        elif isinstance(event, Return):
            self.call_clock = None
        if self.hooks.tracer is not None:
            self.hooks.tracer(event)

    def close_exchange(self) -> None:
        """A child stopped inside an exchange sends no ``Return``: the trace gets one here,
        as the in-process core would emit it, so the timeline ends with the reason."""
        if self.call_clock is None or self.hooks.tracer is None:
            return
        from ..runtime.events import Return
        error = self.outcome.error
        self.hooks.tracer(Return(
            time.perf_counter_ns() - self.call_clock, 0, None, "trap",
            str(error) if error is not None else "the guest process stopped",
        ))
        self.call_clock = None

    def answer(self, request: HostCallRequest) -> Reply | Abort | None:
        """The answer to send the child; None when the time ran out in the host call."""
        deadline = self.deadline
        # Before Started the deadline is the start-up allowance, not a limit of the run.
        timed = self.limits.timeout_s is not None and self.phase != "start-up"
        self.answers.deadline = deadline if timed and deadline < math.inf else None
        try:
            return Reply(self.answers.answer(request))
        except HostAbort as exc:
            self.aborted = exc.error
            return Abort(str(exc.error))
        except OutOfTime as exc:
            self.out_of_time(exc.where)
            return None

    def take_result(self, message: Finished) -> None:
        outcome = self.outcome
        self.finished = True
        outcome.response = message.response
        outcome.warnings = list(message.warnings)
        outcome.host_calls = message.host_calls
        outcome.timings = dict(message.timings or {})
        outcome.bench = message.bench
        outcome.exit_status = message.exit_status
        outcome.memory = message.memory
        if message.error is not None:
            outcome.error = WapcError.from_json(message.error)

    def out_of_time(self, where: str | None = None) -> None:
        """The timeout error (``where``: the host call in which the time ran out)."""
        timeout = self.limits.timeout_s
        if self.phase == "start-up" or timeout is None:
            self.outcome.error = GuestTrap(
                f"the {self.job.engine} child process did not finish compiling the module "
                f"within {format_seconds(STARTUP_ALLOWANCE_S)}"
            )
            return
        what = "a guest call ran" if self.job.mode == "bench" and self.phase == "call" \
            else "the guest ran"
        how = f"time ran out in {where}; " if where else ""
        self.outcome.error = LimitExceeded(
            "timeout", format_seconds(timeout),
            f"timeout: {what} longer than {format_seconds(timeout)} "
            f"({how}the {self.job.engine} process running it was stopped)",
            phase=self.phase,
        )

    def died(self, process: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        """The child ended without a result: report what ended it (a signal, the rlimit)."""
        code = process.poll()
        stderr.seek(0)
        lines = [line.strip() for line in stderr.read()[-4096:].decode("utf-8", "replace")
                 .splitlines() if line.strip()]
        last = f": {lines[-1]}" if lines else ""
        how = (f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exited with status {code}")
        limit = self.limits.max_memory_bytes
        if limit is not None and ((code is not None and code < 0) or "memory" in last.lower()):
            self.outcome.error = LimitExceeded(
                "max-memory", format_size(limit),
                f"max-memory: the {self.job.engine} process running the guest {how} "
                f"under the max-memory limit of {format_size(limit)} (out of memory){last}",
                phase=self.phase,
            )
            return
        self.outcome.error = GuestTrap(
            f"the {self.job.engine} process running the guest {how}{last}", phase=self.phase
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the child (when it still runs) and reap it."""
    import subprocess

    if process.poll() is None:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
