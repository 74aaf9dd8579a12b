"""The supervised child process: ``python -m wapc_cli.isolation.child FD [BEAT_FD]``.

It reads one :class:`~.messages.Job` from the connection on ``FD``, confines
itself (dies with its parent; a data rlimit on top of the max-memory limit),
then loads, instantiates and calls the guest (or only instantiates it, or
benchmarks it, watched through the shared page on ``BEAT_FD``, or runs a WASI
command's ``_start``), sending every log line, trace event, host call and a
command's output to the parent as it happens and the result last. Internal to
wapc: only :mod:`.parent` starts it.

The parent enforces the timeout on guest code (it kills the child); the
child's own host waits (a WASI sleep, waiting for a host call's answer) end
with the job's ``wait_budget_s`` and report the timeout in the words an
in-process run uses, just before the parent's kill would
(:func:`with_wait_budget`).
"""

from __future__ import annotations

import contextlib
import resource
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from ..errors import GuestTrap, LimitExceeded, WapcError
from ..runtime.guest import Guest, WapcModule
from ..runtime.hostcalls import HostCallRequest, HostReply
from ..runtime.limits import format_size
from ..runtime.session import HostAbort
from .messages import (
    OUTPUT_CHUNK,
    Abort,
    BenchPlan,
    BenchProgress,
    Calling,
    Failed,
    Finished,
    HostCall,
    Job,
    Log,
    Output,
    Reply,
    Started,
    TraceEvent,
)

if TYPE_CHECKING:  # a call's child never loads the event classes or the benchmark loop
    from collections.abc import Mapping

    from ..engines.base import CompiledModule, EngineInstance, HostFn, Limits
    from ..runtime.events import Event
    from ..runtime.measure import BenchResult

USAGE = "usage: python -m wapc_cli.isolation.child FD [BEAT_FD] (internal to wapc)"


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2 or not all(arg.isdigit() for arg in argv):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        run_child(int(argv[0]), int(argv[1]) if len(argv) > 1 else None)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 1  # the parent went away
    return 0


def run_child(fd: int, beat_fd: int | None = None) -> None:
    """Serve one job on the connection ``fd``, then close it."""
    conn = Connection(fd)
    job: Job = conn.recv()
    from ..engines import get_engine

    # Load the engine first: the data rlimit is measured from what it already uses.
    with contextlib.suppress(WapcError):  # reported below by WapcModule.from_bytes
        get_engine(job.engine)
    confine(job)
    conn.send(ChildRun(conn, job, beat_fd).run())
    conn.close()


def confine(job: Job) -> None:
    """Limits the child applies to itself before it touches the guest."""
    with contextlib.suppress(Exception):  # Linux only: die with the parent
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    limit = job.limits.max_memory_bytes
    if limit is not None:
        cap = data_segment_size() + limit + job.rlimit_margin
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))


def data_segment_size() -> int:
    """What this process already uses of the data segment the rlimit caps."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def with_wait_budget(module: WapcModule, budget_s: float | None) -> WapcModule:
    """``module``, its guests given the timeout ``budget_s`` for their host waits.

    The guest's limits carry it, so it gets the time budget an in-process guest
    gets (:class:`~wapc_cli.runtime.budget.CallBudget`: a sleep in
    ``poll_oneoff`` and a host call's answer end with it, and its error is the
    in-process one); the engine is instantiated without it (wasmer refuses a
    timeout in-process: the parent enforces it on guest code).
    """
    if budget_s is not None:
        module.limits = module.limits._replace(timeout_s=budget_s)
        module.compiled = ParentTimed(module.compiled)
    return module


class ParentTimed:
    """A compiled module whose time limit the parent enforces: instantiated without it."""

    def __init__(self, compiled: CompiledModule) -> None:
        self.compiled = compiled
        self.engine_name = compiled.engine_name
        self.imports = compiled.imports
        self.exports = compiled.exports
        self.native_imports = compiled.native_imports

    def instantiate(
        self, host_functions: Mapping[tuple[str, str], HostFn], limits: Limits
    ) -> EngineInstance:
        return self.compiled.instantiate(host_functions, limits._replace(timeout_s=None))


def trapped_memory(guest: Guest) -> bytes | None:
    """The linear memory a trapped guest left (None when the engine cannot read it)."""
    memory = guest.session.memory
    try:
        return None if memory is None else memory.read(0, memory.size())
    except Exception:
        return None


class ChildRun:
    """One job, run in this process, with the parent on the other end of ``conn``."""

    def __init__(self, conn: Connection, job: Job, beat_fd: int | None) -> None:
        self.conn = conn
        self.job = job
        self.beat_fd = beat_fd

    def run(self) -> Finished | Failed:
        if self.job.mode == "command":
            return self.run_command()
        job, conn = self.job, self.conn
        guest: Guest | None = None
        response: bytes | None = None
        bench: BenchResult | None = None
        error: WapcError | None = None
        try:
            module = with_wait_budget(WapcModule.from_bytes(
                job.wasm, engine=job.engine, limits=job.limits, name=job.name, cache=job.cache
            ), job.wait_budget_s)
            conn.send(Started(module.engine_name, module.compile_ms))
            guest = module.instantiate(
                job.handler if job.handler is not None else self.ask_parent,
                on_log=self.send_log if job.logs else None,
                tracer=self.send_event if job.trace else None, wasi=job.wasi,
                profile=job.profile,
            )
            conn.send(Calling())
            if job.mode == "call":
                response = guest.call_timed(job.operation, job.payload)
            elif job.mode == "bench":
                bench = self.bench(module, guest)
        except WapcError as exc:
            error = exc
        except MemoryError:
            error = self.out_of_memory()
        except Exception as exc:
            return Failed(f"{type(exc).__name__}: {exc}")
        finished = Finished(response=response, bench=bench,
                            error=error.to_json() if error is not None else None)
        if guest is None:
            return finished
        if job.keep_memory and isinstance(error, GuestTrap):
            finished = finished._replace(memory=trapped_memory(guest))
        return finished._replace(warnings=tuple(guest.last.warnings),
                                 host_calls=guest.last.host_calls,
                                 timings=guest.timings.as_dict())

    def run_command(self) -> Finished | Failed:
        """Mode "command": run a WASI command, its output relayed as :class:`Output`."""
        from ..runtime.command import load_command

        job, conn = self.job, self.conn
        try:
            command = load_command(job.wasm, engine=job.engine, limits=job.limits, name=job.name,
                                   cache=job.cache)
            conn.send(Started(command.engine_name, command.compile_ms))
            conn.send(Calling())
            result = command.run(job.wasi, stdout=self.output_to(1), stderr=self.output_to(2),
                                 stdin=job.stdin, budget_s=job.wait_budget_s)
        except WapcError as exc:
            return Finished(error=exc.to_json())
        except MemoryError:
            return Finished(error=self.out_of_memory().to_json())
        except Exception as exc:
            return Failed(f"{type(exc).__name__}: {exc}")
        return Finished(exit_status=result.exit_code)

    def out_of_memory(self) -> LimitExceeded:
        limit = self.job.limits.max_memory_bytes
        figure = format_size(limit) if limit is not None else "?"
        return LimitExceeded(
            "max-memory", figure,
            f"max-memory: the host ran out of memory under the max-memory limit of {figure}",
        )

    def bench(self, module: WapcModule, guest: Guest) -> BenchResult:
        from ..runtime.measure import measure_calls
        from .beats import BeatWriter

        plan = self.job.bench or BenchPlan()
        return measure_calls(
            module, guest, self.job.operation, self.job.payload, count=plan.count,
            duration=plan.duration, warmup=plan.warmup, compare_bare=plan.compare_bare,
            progress=self.send_progress, watch=BeatWriter(self.beat_fd),
        )

    # -- what the guest's run sends the parent -----------------------------------------
    def ask_parent(self, request: HostCallRequest) -> HostReply | bytes:
        self.conn.send(HostCall(request))
        answer: Reply | Abort = self.conn.recv()
        if isinstance(answer, Abort):
            raise HostAbort(GuestTrap(answer.message))
        return answer.reply

    def send_log(self, message: str, source: str) -> None:
        self.conn.send(Log(message, source))

    def send_event(self, event: Event) -> None:
        self.conn.send(TraceEvent(event))

    def send_progress(self, done: int, total: int | None) -> None:
        self.conn.send(BenchProgress(done, total))

    def output_to(self, fd: int) -> Callable[[bytes], None]:
        """A command's sink for ``fd``: its bytes to the parent, in bounded messages."""
        send = self.conn.send

        def write(data: bytes) -> None:
            for start in range(0, len(data), OUTPUT_CHUNK):
                send(Output(fd, bytes(data[start : start + OUTPUT_CHUNK])))

        return write


def exit_now(rc: int) -> None:
    """End the child without the interpreter's teardown (freeing every module and
    the engine took ~10-20 ms, which the parent waited for before returning).

    The result was sent and the connection closed; stdout and stderr (a file the
    parent reads when the child dies) are flushed first. The one ``atexit``
    callback a child has is multiprocessing's (``multiprocessing.connection``
    registers it), which ends multiprocessing's own worker processes and
    finalizers: a child makes none.
    """
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(rc)
    os._exit(rc)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))

