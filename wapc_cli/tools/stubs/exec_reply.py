"""``exec:`` replies: a command answers the host call (payload on stdin, reply on stdout)."""

from __future__ import annotations

import os
import signal
import subprocess

from ...runtime.hostcalls import HostCallError, HostCallRequest


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
        # A session of its own, so a timeout can stop the command's children too
        # (otherwise a grandchild holding stdout open would block us).
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd, env=env, start_new_session=True,
        )
    except OSError as exc:
        raise HostCallError(f"exec {argv[0]}: cannot run ({exc.strerror or exc})") from None
    try:
        out, err = proc.communicate(request.payload, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        raise HostCallError(f"exec {argv[0]}: no answer within {timeout_s:g}s") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
        status = (
            f"exit status {proc.returncode}"
            if proc.returncode > 0
            else f"killed by signal {-proc.returncode}"
        )
        raise HostCallError(lines[0] if lines else f"exec {argv[0]}: {status}")
    return out


def _kill(proc: subprocess.Popen[bytes]) -> None:
    killpg = getattr(os, "killpg", None)
    try:
        if killpg is not None:
            killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups here
            proc.kill()
    except ProcessLookupError:
        pass
