"""Run a guest in a supervised child process: limits for an engine that cannot stop a guest.

wasmer 1.1 cannot interrupt running guest code, so a guest that loops forever
would hang the host. Here the whole load + instantiate + init + call runs in a
child Python process (``python -m wapc_cli.supervise FD``); the parent

- kills it when ``--timeout`` runs out (counted from instantiation, so init is
  included and start-up/compilation is not),
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
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from . import errors
from .engines.base import Limits
from .errors import GuestError, GuestTrap, LimitExceeded, WapcError
from .events import Event
from .hostcalls import HostCallHandler, HostCallRequest, HostReply, no_handler
from .limits import format_seconds, format_size
from .protocol import EventSink, HostAbort, LogSink, WapcSession
from .wasi import WasiOptions

__all__ = [
    "SUPERVISED_ENGINES",
    "Job",
    "SupervisedOutcome",
    "SupervisorError",
    "call_supervised",
    "dump_error",
    "load_error",
    "needs_supervision",
    "run_supervised",
]

#: Engines whose limits only a child process can enforce.
SUPERVISED_ENGINES = frozenset({"wasmer"})
#: How long the child may take to start and compile before the timeout clock starts.
STARTUP_ALLOWANCE_S = 120.0
#: Room above --max-memory for the interpreter's own allocations (copies of payloads,
#: responses, trace events) before the data rlimit stops the child.
RLIMIT_MARGIN = 256 * 1024**2


class SupervisorError(RuntimeError):
    """The child failed in a way that is a bug of ours, not of the guest."""


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


@dataclass
class SupervisedOutcome:
    """What a supervised call left: a response or an error, plus what an in-process
    :class:`~wapc_cli.guest.Guest` would report after it."""

    engine: str = ""
    response: bytes | None = None
    error: WapcError | None = None
    warnings: list[str] = field(default_factory=list)
    host_calls: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def needs_supervision(engine: str, limits: Limits) -> bool:
    """Whether a run with these limits must go through a child process."""
    if limits.timeout_s is None and limits.max_memory_bytes is None:
        return False
    if engine == "auto":
        from .engines import get_engine

        engine = get_engine("auto").name
    return engine in SUPERVISED_ENGINES


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
    operation: str,
    payload: bytes = b"",
    name: str = "<bytes>",
    engine: str = "wasmer",
    limits: Limits | None = None,
    wasi: WasiOptions | None = None,
    host_call: HostCallHandler | None = None,
    on_log: LogSink | None = None,
    tracer: EventSink | None = None,
) -> SupervisedOutcome:
    """Load, instantiate and call once in a child process, enforcing ``limits``."""
    limits = limits or Limits()
    job = Job(
        wasm=wasm, name=name, engine=engine, limits=replace(limits, timeout_s=None),
        wasi=wasi or WasiOptions(), operation=operation, payload=payload,
        trace=tracer is not None, logs=on_log is not None,
    )
    return _Supervisor(job, limits, host_call or no_handler, on_log, tracer).run()


class _Supervisor:
    def __init__(
        self, job: Job, limits: Limits, handler: HostCallHandler,
        on_log: LogSink | None, tracer: EventSink | None,
    ) -> None:
        self.job = job
        self.limits = limits
        self.answers = WapcSession(handler)  # the same handler semantics as in-process
        self.on_log = on_log
        self.tracer = tracer
        self.outcome = SupervisedOutcome(engine=job.engine)
        self.phase = "start-up"
        self.aborted: Exception | None = None

    def run(self) -> SupervisedOutcome:
        parent_sock, child_sock = socket.socketpair()
        with tempfile.TemporaryFile() as stderr, parent_sock, child_sock:
            child_fd = child_sock.fileno()
            process = subprocess.Popen(
                [sys.executable, "-m", "wapc_cli.supervise", str(child_fd)],
                pass_fds=(child_fd,), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                env={**os.environ, "PYTHONFAULTHANDLER": ""},
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
            if self.outcome.error is None and self.outcome.response is None:
                self._died(process, stderr)
        if self.aborted is not None and isinstance(self.aborted, WapcError):
            self.outcome.error = self.aborted
        return self.outcome

    def _serve(self, conn: Connection, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + STARTUP_ALLOWANCE_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill(process)
                self._out_of_time()
                return
            if not conn.poll(min(remaining, 1.0)):
                if process.poll() is not None and not conn.poll(0):
                    return  # died without a result: _died reports why
                continue
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == "started":
                self.outcome.engine = message[1]
                self.phase = "initialization"
                timeout = self.limits.timeout_s
                deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
            elif kind == "calling":
                self.phase = "call"
            elif kind == "log" and self.on_log is not None:
                self.on_log(message[1], message[2])
            elif kind == "event" and self.tracer is not None:
                self.tracer(message[1])
            elif kind == "host_call":
                conn.send(self._answer(message[1]))
            elif kind == "result":
                self._result(message[1])
                return

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
        outcome.response = data.get("response")
        outcome.warnings = list(data.get("warnings", ()))
        outcome.host_calls = int(data.get("host_calls", 0))
        outcome.timings = dict(data.get("timings", {}))
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
        self.outcome.error = LimitExceeded(
            "timeout", format_seconds(timeout),
            f"timeout: the guest ran longer than {format_seconds(timeout)} "
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


def _child(fd: int) -> None:
    conn = Connection(fd)
    job: Job = conn.recv()
    from .engines import get_engine
    from .guest import WapcModule

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
        conn.send(("started", module.engine_name))
        guest = module.instantiate(
            proxy, on_log=on_log if job.logs else None, tracer=tracer if job.trace else None,
            wasi=job.wasi,
        )
        conn.send(("calling",))
        result["response"] = guest.call(job.operation, job.payload)
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


def _main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m wapc_cli.supervise FD (internal to wapc)", file=sys.stderr)
        return 2
    try:
        _child(int(argv[0]))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 1  # the parent went away
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

