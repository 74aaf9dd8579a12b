"""``exec:`` replies: a command answers the host call (payload on stdin, reply on stdout).

The reply is what the command wrote by the time *it* exited. A command that
leaves a child behind (``sleep 100 & echo hi``) must not hold the answer
hostage: that child inherits stdout, so reading "until end of file" would wait
for it. So the command runs in a session (process group) of its own; we read
until the command itself exits, take what is already in the pipes, and then
kill whatever is left of its group.

The command gets its own ``timeout_s``, or what is left of the exchange's
time budget when that is less (:mod:`wapc_cli.runtime.budget`): running out of
the budget ends the run with the timeout limit, not just this host call. A
stop request (Ctrl-C) ends the wait too.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from typing import IO

from ...runtime import budget, interrupts
from ...runtime.hostcalls import HostCallError, HostCallRequest
from ...runtime.userfiles import format_bytes

#: The most a command may write as its reply (the guest gets it in one piece).
MAX_REPLY_BYTES = 1 << 30
#: How much of a failing command's stderr is kept (its first line is the error).
MAX_STDERR_BYTES = 64 << 10
_CHUNK = 1 << 16
#: The longest the wait for a command blocks at once: how late it notices a stop request.
_WAIT_SLICE_S = budget.WAIT_SLICE_S


class _Pipe:
    """One of the command's output pipes, read without blocking, up to a bound."""

    def __init__(self, stream: IO[bytes], bound: int, is_reply: bool) -> None:
        self.stream = stream
        self.bound = bound
        self.is_reply = is_reply
        self.chunks: list[bytes] = []
        self.size = 0
        self.open = True  # until end of file
        os.set_blocking(stream.fileno(), False)

    def drain(self, selector: selectors.BaseSelector, program: str) -> None:
        """Read what the pipe holds now; stop watching it at end of file."""
        while True:
            try:
                chunk = os.read(self.stream.fileno(), _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                selector.unregister(self.stream)
                self.open = False
                return
            if self.size + len(chunk) > self.bound:
                if self.is_reply:
                    raise HostCallError(
                        f"exec {program}: replied more than {format_bytes(self.bound)}"
                    )
                chunk = chunk[: self.bound - self.size]  # stderr: its beginning is enough
            self.size += len(chunk)
            self.chunks.append(chunk)

    def data(self) -> bytes:
        return b"".join(self.chunks)


def run_exec(
    argv: tuple[str, ...], request: HostCallRequest, timeout_s: float, cwd: str | None
) -> bytes:
    env = dict(os.environ)
    env.update(
        WAPC_BINDING=request.binding,
        WAPC_NAMESPACE=request.namespace,
        WAPC_OPERATION=request.operation,
    )
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd, env=env, start_new_session=True,
        )
    except OSError as exc:
        raise HostCallError(f"exec {argv[0]}: cannot run ({exc.strerror or exc})") from None
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out = _Pipe(proc.stdout, MAX_REPLY_BYTES, is_reply=True)
    err = _Pipe(proc.stderr, MAX_STDERR_BYTES, is_reply=False)
    allowed, out_of_budget = budget.limited(timeout_s)
    try:
        exited = _exchange(proc, request.payload, time.monotonic() + allowed, out, err,
                           argv[0])
    finally:
        # Before reaping: until then the group's id cannot be anyone else's.
        _kill_group(proc)  # the command's children too: nothing outlives the host call
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
    if not exited:
        if out_of_budget:
            raise budget.OutOfTime(f"exec {argv[0]} had not answered")
        raise HostCallError(f"exec {argv[0]}: no answer within {timeout_s:g}s")
    if proc.returncode != 0:
        text = err.data().decode("utf-8", "replace")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        status = (
            f"exit status {proc.returncode}"
            if proc.returncode > 0
            else f"killed by signal {-proc.returncode}"
        )
        raise HostCallError(lines[0] if lines else f"exec {argv[0]}: {status}")
    return out.data()


def _exchange(
    proc: subprocess.Popen[bytes], payload: bytes, deadline: float, out: _Pipe, err: _Pipe,
    program: str,
) -> bool:
    """Feed ``payload``, collect the output; True once the command exited, False at the deadline.

    The command is not reaped here (the caller kills its group first).
    """
    assert proc.stdin is not None
    exit_fd = _exit_notifier(proc.pid)
    pipes = {pipe.stream: pipe for pipe in (out, err)}
    with selectors.DefaultSelector() as selector:
        for stream in pipes:
            selector.register(stream, selectors.EVENT_READ)
        pending = memoryview(payload)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            selector.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        if exit_fd is not None:
            selector.register(exit_fd, selectors.EVENT_READ)
        try:
            exited = False
            while not exited:
                interrupts.check()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Without a process descriptor to wake us, look for the exit now and then.
                wait = min(remaining, _WAIT_SLICE_S if exit_fd is not None else 0.01)
                for key, _ in selector.select(wait):
                    if key.fileobj is proc.stdin:
                        pending = _feed(selector, proc.stdin, pending)
                    elif key.fileobj in pipes:
                        pipes[key.fileobj].drain(selector, program)  # type: ignore[index]
                    else:
                        exited = True
                if exit_fd is None:  # pragma: no cover - kernels without pidfd_open
                    exited = proc.poll() is not None
            for pipe in pipes.values():  # what the command wrote before it exited
                if pipe.open:
                    pipe.drain(selector, program)
            return True
        finally:
            if exit_fd is not None:
                os.close(exit_fd)


def _feed(selector: selectors.BaseSelector, stdin: IO[bytes], pending: memoryview) -> memoryview:
    """Write the next piece of the payload; close stdin when it is all written."""
    try:
        written = os.write(stdin.fileno(), pending[:_CHUNK])
    except BlockingIOError:
        return pending
    except OSError:  # the command closed its stdin (a broken pipe): it wants no more
        written = len(pending)
    pending = pending[written:]
    if not pending:
        selector.unregister(stdin)
        stdin.close()
    return pending


def _exit_notifier(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux), or None."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:  # pragma: no cover - not Linux
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:  # pragma: no cover - kernels before 5.3
        return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    killpg = getattr(os, "killpg", None)
    try:
        if killpg is not None:
            killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups here
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone
