"""Run a guest in a supervised child process: limits for an engine that cannot stop a guest.

wasmer 1.1 cannot interrupt running guest code, so a guest that loops forever
would hang the host. Here the whole load + instantiate + init + call runs in a
child Python process (``python -m wapc_cli.isolation.supervisor FD``); so do ``inspect
--run`` (init only) and ``bench`` (warm-up and timed loops, measured in the
child). The parent

- kills it when ``--timeout`` runs out (counted from instantiation, so init is
  included and start-up/compilation is not; for a benchmark, per guest call:
  the child bumps a counter in a shared page before each call and the parent
  kills it when one value stays longer than the timeout),
- caps its data segment with ``RLIMIT_DATA`` on top of ``--max-memory`` (the
  adapter already lowers each memory's declared maximum, so ``memory.grow``
  past the limit returns -1; the rlimit bounds everything else the process does),
- answers the guest's host calls with the caller's handler (stub tables and
  ``--record`` keep their state in the parent), and relays log lines and trace
  events as they happen.

Messages are pickled over a socket pair: only our own code in the child writes
them, never the guest. A child that dies is reported by what killed it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import errors
from ..engines.base import Limits
from ..errors import GuestError, GuestTrap, LimitExceeded, WapcError
from ..runtime.events import Event, GuestCall, Return
from ..runtime.hostcalls import HostCallHandler, HostCallRequest, HostReply, no_handler
from ..runtime.limits import SUPERVISED_ENGINES, format_seconds, format_size, needs_supervision
from ..runtime.session import EventSink, HostAbort, LogSink, WapcSession
from ..runtime.wasi import WasiOptions

if TYPE_CHECKING:
    # Imported where used at run time: `wapc call` on wasmtime asks needs_supervision()
    # and should not pay for the child-process machinery.
    import subprocess
    from multiprocessing.connection import Connection

    from ..tools.bench import BenchResult

__all__ = [
    "SUPERVISED_ENGINES",
    "BenchPlan",
    "Job",
    "SupervisedOutcome",
    "SupervisorError",
    "call_supervised",
    "dump_error",
    "load_error",
    "local_handler",
    "needs_supervision",
    "run_supervised",
]

#: How long the child may take to start and compile before the timeout clock starts.
STARTUP_ALLOWANCE_S = 120.0
#: Room above --max-memory for the interpreter's own allocations (copies of payloads,
#: responses, trace events) before the data rlimit stops the child.
RLIMIT_MARGIN = 256 * 1024**2
#: How often the parent looks at a benchmark's call counter (bounds how late a kill is).
BEAT_POLL_S = 0.02

#: progress(done, total) of a supervised benchmark, as ``bench.run_bench`` reports it.
Progress = Callable[[int, "int | None"], None]


class SupervisorError(RuntimeError):
    """The child failed in a way that is a bug of ours, not of the guest."""


@dataclass(frozen=True)
class BenchPlan:
    """What ``bench.run_bench`` needs besides the module and the guest."""

    count: int | None = None
    duration: float | None = None
    warmup: int = 1000
    compare_bare: bool = False


@dataclass(frozen=True)
class Job:
    wasm: bytes
    name: str
    engine: str
    limits: Limits  # without the timeout: the parent enforces it
    wasi: WasiOptions
    operation: str
    payload: bytes
    trace: bool
    logs: bool
    rlimit_margin: int = RLIMIT_MARGIN
    mode: str = "call"  # "call" | "init" (instantiate only) | "bench"
    #: A picklable handler to answer host calls in the child itself (a benchmark must
    #: not pay a round trip per host call); None relays every host call to the parent.
    handler: HostCallHandler | None = None
    bench: BenchPlan | None = None


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


def local_handler(handler: HostCallHandler) -> HostCallHandler | None:
    """``handler`` when it can be sent to a child (to answer there), else None."""
    import pickle

    try:
        pickle.dumps(handler)
    except Exception:  # closures, open files, ...: anything pickle refuses
        return None
    return handler


def call_supervised(wasm: bytes, operation: str, payload: bytes = b"", **kw: Any) -> bytes:
    """Like ``Guest.call`` on a fresh instance, in a child; raises the same errors."""
    outcome = run_supervised(wasm, operation=operation, payload=payload, **kw)
    if outcome.error is not None:
        raise outcome.error
    return outcome.response or b""


# -- parent --------------------------------------------------------------------------
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
    mode: str = "call",
    bench: BenchPlan | None = None,
    local_host_calls: bool = False,
    progress: Progress | None = None,
) -> SupervisedOutcome:
    """Run in a child process, enforcing ``limits``; guest failures come back in the outcome.

    ``mode`` "call" loads, instantiates and calls once; "init" stops after
    instantiation (start section and init exports); "bench" runs
    ``bench.run_bench`` with ``bench`` and returns its result in ``outcome.bench``
    (the timeout then applies to each guest call). ``tracer`` gets the child's
    events as they happen, ``on_start`` the engine's name once the module compiled.
    With ``local_host_calls`` the child answers host calls with its own copy of
    ``host_call`` (which must pickle; see :func:`local_handler`).
    """
    limits = limits or Limits()
    handler = host_call or no_handler
    job = Job(
        wasm=wasm, name=name, engine=engine, limits=limits._replace(timeout_s=None),
        wasi=wasi or WasiOptions(), operation=operation, payload=payload,
        trace=tracer is not None, logs=on_log is not None, mode=mode,
        handler=handler if local_host_calls else None,
        bench=(bench or BenchPlan()) if mode == "bench" else None,
    )
    hooks = _Hooks(on_log, tracer, on_start, progress)
    return _Supervisor(job, limits, handler, hooks).run()


@dataclass
class _Hooks:
    on_log: LogSink | None
    tracer: EventSink | None
    on_start: Callable[[str], None] | None
    progress: Progress | None


class _Supervisor:
    def __init__(self, job: Job, limits: Limits, handler: HostCallHandler, hooks: _Hooks) -> None:
        self.job = job
        self.limits = limits
        self.answers = WapcSession(handler)  # the same handler semantics as in-process
        self.hooks = hooks
        self.outcome = SupervisedOutcome(engine=job.engine)
        self.phase = "start-up"
        self.aborted: Exception | None = None
        self.finished = False
        self.call_clock: int | None = None  # when the child said its exchange began
        self.beats: memoryview | None = None

    def run(self) -> SupervisedOutcome:
        import socket
        import subprocess
        import tempfile
        from multiprocessing.connection import Connection

        parent_sock, child_sock = socket.socketpair()
        with tempfile.TemporaryFile() as stderr, tempfile.TemporaryFile() as beat_file, \
                parent_sock, child_sock:
            beat_file.truncate(mmap.PAGESIZE)
            beats = mmap.mmap(beat_file.fileno(), mmap.PAGESIZE)
            self.beats = memoryview(beats).cast("Q")
            child_fd, beat_fd = child_sock.fileno(), beat_file.fileno()
            process = subprocess.Popen(
                [sys.executable, "-m", "wapc_cli.isolation.supervisor",
                 str(child_fd), str(beat_fd)],
                pass_fds=(child_fd, beat_fd), stdin=subprocess.DEVNULL, stdout=stderr,
                stderr=stderr, env={**os.environ, "PYTHONFAULTHANDLER": ""},
            )
            child_sock.close()
            conn = Connection(os.dup(parent_sock.fileno()))
            try:
                conn.send(self.job)
                self._serve(conn, process)
            except BaseException:
                _kill(process)
                raise
            finally:
                conn.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
                self.beats.release()
                self.beats = None
                beats.close()
            if not self.finished and self.outcome.error is None:
                self._died(process, stderr)
        if self.aborted is not None and isinstance(self.aborted, WapcError):
            self.outcome.error = self.aborted
        self._close_exchange()
        return self.outcome

    def _serve(self, conn: Connection, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + STARTUP_ALLOWANCE_S
        beating = False  # a benchmark's calls: the timeout is per call, read from the beats
        last_beat, beat_since = 0, time.monotonic()
        while True:
            now = time.monotonic()
            if beating and self.beats is not None:
                beat = self.beats[0]
                if beat != last_beat:
                    last_beat, beat_since = beat, now
                elif beat and now - beat_since > (self.limits.timeout_s or float("inf")):
                    _kill(process)
                    self._out_of_time()
                    return
            remaining = deadline - now
            if remaining <= 0:
                _kill(process)
                self._out_of_time()
                return
            wait = min(remaining, BEAT_POLL_S if beating else 1.0)
            if not conn.poll(wait):
                if process.poll() is not None and not conn.poll(0):
                    return  # died without a result: _died reports why
                continue
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == "started":
                self._started(message[1], message[2])
                timeout = self.limits.timeout_s
                deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
            elif kind == "calling":
                self.phase = "call"
                if self.job.mode == "bench" and self.limits.timeout_s is not None:
                    beating, deadline = True, float("inf")
                    last_beat, beat_since = 0, time.monotonic()
            elif kind == "log" and self.hooks.on_log is not None:
                self.hooks.on_log(message[1], message[2])
            elif kind == "event":
                self._event(message[1])
            elif kind == "progress" and self.hooks.progress is not None:
                self.hooks.progress(message[1], message[2])
            elif kind == "host_call":
                conn.send(self._answer(message[1]))
            elif kind == "result":
                self._result(message[1])
                return

    def _started(self, engine: str, compile_ms: float) -> None:
        self.outcome.engine = engine
        self.outcome.started = True
        self.outcome.compile_ms = compile_ms
        self.phase = "initialization"
        if self.hooks.on_start is not None:
            self.hooks.on_start(engine)

    def _event(self, event: Event) -> None:
        if isinstance(event, GuestCall):
            self.call_clock = time.perf_counter_ns()
        elif isinstance(event, Return):
            self.call_clock = None
        if self.hooks.tracer is not None:
            self.hooks.tracer(event)

    def _close_exchange(self) -> None:
        """A child stopped inside an exchange sends no ``Return``: the trace gets one here,
        as the in-process core would emit it, so the timeline ends with the reason."""
        if self.call_clock is None or self.hooks.tracer is None:
            return
        error = self.outcome.error
        self.hooks.tracer(Return(
            time.perf_counter_ns() - self.call_clock, 0, None, "trap",
            str(error) if error is not None else "the guest process stopped",
        ))
        self.call_clock = None

    def _answer(self, request: HostCallRequest) -> tuple[str, Any]:
        try:
            return ("reply", self.answers._answer(request))
        except HostAbort as exc:
            self.aborted = exc.error
            return ("abort", str(exc.error))

    def _result(self, data: dict[str, Any]) -> None:
        outcome = self.outcome
        if "internal" in data:
            raise SupervisorError(f"the {self.job.engine} child process failed: {data['internal']}")
        self.finished = True
        outcome.response = data.get("response")
        outcome.warnings = list(data.get("warnings", ()))
        outcome.host_calls = int(data.get("host_calls", 0))
        outcome.timings = dict(data.get("timings", {}))
        outcome.bench = data.get("bench")
        if data.get("error") is not None:
            outcome.error = load_error(data["error"])

    def _out_of_time(self) -> None:
        timeout = self.limits.timeout_s
        if self.phase == "start-up" or timeout is None:
            self.outcome.error = GuestTrap(
                f"the {self.job.engine} child process did not finish compiling the module "
                f"within {format_seconds(STARTUP_ALLOWANCE_S)}"
            )
            return
        what = "a guest call ran" if self.job.mode == "bench" and self.phase == "call" \
            else "the guest ran"
        self.outcome.error = LimitExceeded(
            "timeout", format_seconds(timeout),
            f"timeout: {what} longer than {format_seconds(timeout)} "
            f"(the {self.job.engine} process running it was stopped)",
            phase=self.phase,
        )

    def _died(self, process: subprocess.Popen[bytes], stderr: Any) -> None:
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
                f"under the --max-memory limit of {format_size(limit)} (out of memory){last}",
                phase=self.phase,
            )
            return
        self.outcome.error = GuestTrap(
            f"the {self.job.engine} process running the guest {how}{last}", phase=self.phase
        )


def _kill(process: subprocess.Popen[bytes]) -> None:
    import subprocess

    if process.poll() is None:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


# -- errors across the pipe ------------------------------------------------------------
def dump_error(error: WapcError) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": type(error).__name__, "message": error.message, "exit_code": int(error.exit_code),
    }
    if isinstance(error, GuestTrap):
        data.update(guest_error=error.guest_error, frames=tuple(error.frames), phase=error.phase)
    if isinstance(error, LimitExceeded):
        data.update(limit=error.limit, figure=error.figure)
    if isinstance(error, GuestError):
        data.update(raw=error.raw)
    return data


def load_error(data: dict[str, Any]) -> WapcError:
    kind = data.get("type")
    message = str(data.get("message", ""))
    trap = {"guest_error": data.get("guest_error"), "frames": tuple(data.get("frames", ())),
            "phase": str(data.get("phase", "call"))}
    if kind == "LimitExceeded":
        return LimitExceeded(str(data["limit"]), str(data["figure"]), message, **trap)
    if kind == "GuestTrap":
        return GuestTrap(message, **trap)  # type: ignore[arg-type]
    if kind == "GuestError":
        return GuestError(message, bytes(data.get("raw", b"")))
    cls = getattr(errors, str(kind), None)
    if isinstance(cls, type) and issubclass(cls, WapcError):
        try:
            return cls(message)
        except TypeError:
            pass
    error = WapcError(message)
    error.exit_code = errors.ExitCode(int(data.get("exit_code", errors.ExitCode.USAGE)))
    return error


# -- child -------------------------------------------------------------------------------
def _vm_data() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _confine(job: Job) -> None:
    """Limits the child applies to itself before it touches the guest."""
    with contextlib.suppress(Exception):  # Linux only: die with the parent
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    limit = job.limits.max_memory_bytes
    if limit is not None:
        cap = _vm_data() + limit + job.rlimit_margin
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))


class _Beats:
    """The child's side of the shared call counter (see the module docstring)."""

    def __init__(self, fd: int | None) -> None:
        self._map = mmap.mmap(fd, mmap.PAGESIZE) if fd is not None else None
        self._slots = memoryview(self._map).cast("Q") if self._map is not None else None
        self._count = 0

    def tick(self) -> None:
        if self._slots is not None:
            self._count += 1
            self._slots[0] = self._count

    def idle(self) -> None:
        if self._slots is not None:
            self._slots[0] = 0


def _child(fd: int, beat_fd: int | None = None) -> None:
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    job: Job = conn.recv()
    from ..engines import get_engine
    from ..runtime.guest import WapcModule

    # Load the engine first: the data rlimit is measured from what it already uses.
    with contextlib.suppress(WapcError):  # reported below by WapcModule.from_bytes
        get_engine(job.engine)
    _confine(job)

    def proxy(request: HostCallRequest) -> HostReply:
        conn.send(("host_call", request))
        kind, value = conn.recv()
        if kind == "abort":
            raise HostAbort(GuestTrap(value))
        reply: HostReply = value
        return reply

    def on_log(message: str, source: str) -> None:
        conn.send(("log", message, source))

    def tracer(event: Event) -> None:
        conn.send(("event", event))

    result: dict[str, Any] = {}
    guest = None
    try:
        module = WapcModule.from_bytes(
            job.wasm, engine=job.engine, limits=job.limits, name=job.name
        )
        conn.send(("started", module.engine_name, module.compile_ms))
        guest = module.instantiate(
            job.handler if job.handler is not None else proxy,
            on_log=on_log if job.logs else None, tracer=tracer if job.trace else None,
            wasi=job.wasi,
        )
        conn.send(("calling",))
        if job.mode == "call":
            result["response"] = guest.call_timed(job.operation, job.payload)
        elif job.mode == "bench":
            result["bench"] = _bench(conn, job, module, guest, _Beats(beat_fd))
    except WapcError as exc:
        result["error"] = dump_error(exc)
    except MemoryError:
        limit = job.limits.max_memory_bytes
        figure = format_size(limit) if limit is not None else "?"
        result["error"] = dump_error(LimitExceeded(
            "max-memory", figure,
            f"max-memory: the host ran out of memory under the --max-memory limit of {figure}",
        ))
    except Exception as exc:
        result = {"internal": f"{type(exc).__name__}: {exc}"}
    if guest is not None and "internal" not in result:
        result.update(warnings=list(guest.last.warnings), host_calls=guest.last.host_calls,
                      timings=guest.timings.as_dict())
    conn.send(("result", result))
    conn.close()


def _bench(conn: Connection, job: Job, module: Any, guest: Any, beats: _Beats) -> BenchResult:
    from ..tools.bench import run_bench

    plan = job.bench or BenchPlan()

    def progress(done: int, total: int | None) -> None:
        conn.send(("progress", done, total))

    result = run_bench(module, guest, job.operation, job.payload, count=plan.count,
                       duration=plan.duration, warmup=plan.warmup,
                       compare_bare=plan.compare_bare, progress=progress, watch=beats)
    result.notes.append(
        "measured in a supervised child process (the only way to enforce limits on wasmer)"
        + ("" if job.handler is not None or result.host_calls_per_call == 0
           else "; each host call was answered over a pipe by the parent")
    )
    return result


def _main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2 or not all(arg.isdigit() for arg in argv):
        print("usage: python -m wapc_cli.isolation.supervisor FD [BEAT_FD] (internal to wapc)",
              file=sys.stderr)
        return 2
    try:
        _child(int(argv[0]), int(argv[1]) if len(argv) > 1 else None)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 1  # the parent went away
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
