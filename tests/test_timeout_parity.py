"""A guest that outlasts ``--timeout`` waiting in host code ends the same way on every engine.

wasmer runs a guest with a time limit in a supervised child process, which the
parent kills when the time is up. A guest asleep in WASI ``poll_oneoff`` used
to end with the supervisor's "the wasmer process running it was stopped"
where wasmtime, in-process, names the sleep: now the child ends the sleep
itself, with the in-process error, and the kill comes a bounded grace later
(still in time for a guest that spins). And ``wapc run`` whose stdout is a
pipe nobody reads used to hang past ``--timeout`` on both engines: a write
that cannot finish by the deadline now ends the run with the timeout.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import WAPC_IMPORTS, guest_from_wat, wat

from wapc_cli.cli.run_cmd import ByteWriter
from wapc_cli.engines.base import Limits
from wapc_cli.errors import LimitExceeded, WapcError
from wapc_cli.isolation import run_supervised
from wapc_cli.isolation.parent import KILL_GRACE_S
from wapc_cli.runtime.budget import OutOfTime, running_until
from wapc_cli.runtime.wasi_streams import RawOutput

GUEST = Path(__file__).resolve().parent.parent / "sample_guests/build/wapc_guest_timeout.wasm"
WASI = "wasi_snapshot_preview1"
#: Time allowed on top of a limit (start-up, a child process, a loaded CI machine).
SLACK_S = 3.0

SLEEP_IMPORTS = f"""
  (import "{WASI}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
"""
#: Sleeps 30 s on the monotonic clock (a relative subscription at 0, its event at 64).
SLEEP_30S = """
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 30000000000))
    (i32.store16 (i32.const 40) (i32.const 0))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
"""
#: Writes 1 MiB of zeros (from 64 KiB on) to stdout, again and again.
FLOOD = """
    (loop $again
      (i32.store (i32.const 256) (i32.const 65536))
      (i32.store (i32.const 260) (i32.const 1048576))
      (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 264)))
      (br $again))
"""


def command(body: str) -> str:
    return f"""(module {SLEEP_IMPORTS} (memory (export "memory") 20)
      (func (export "_start") {body}))"""


def guest(call_body: str, init_body: str | None = None) -> str:
    init = f'(func (export "wapc_init") {init_body})' if init_body is not None else ""
    return f"""(module {WAPC_IMPORTS} {SLEEP_IMPORTS} (memory (export "memory") 1) {init}
      (func (export "__guest_call") (param i32 i32) (result i32) {call_body} (i32.const 0)))"""


def wapc(*args: str, **kw: object) -> tuple[subprocess.CompletedProcess[bytes], float]:
    started = time.monotonic()
    done = subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "wapc_cli", *args], capture_output=True, timeout=120,
        env={**os.environ, "NO_COLOR": "1"}, **kw,
    )
    return done, time.monotonic() - started  # type: ignore[return-value]


def in_process_error(text: str, timeout_s: float) -> WapcError:
    """What wasmtime, in-process, reports for the guest ``text`` (its call "sleep")."""
    with pytest.raises(WapcError) as caught:
        guest_from_wat(text, "wasmtime", limits=Limits(timeout_s=timeout_s)).call("sleep")
    return caught.value


# -- a sleep in poll_oneoff past the timeout -------------------------------------------------
def test_wapc_call_of_a_sleeping_guest_names_the_sleep_on_every_engine(engine_name: str) -> None:
    assert GUEST.is_file(), f"{GUEST} missing: build the sample guests (scripts/build-guests rust)"
    done, elapsed = wapc("call", "-e", engine_name, str(GUEST), "sleep", "--payload", "30",
                         "--timeout", "2")
    assert done.returncode == 3, done.stderr
    assert done.stdout == b""
    assert done.stderr.decode().splitlines()[-1] == (
        "wapc: error: timeout: the guest ran longer than 2s "
        "(time ran out in poll_oneoff: a sleep of 30s)"), done.stderr
    assert 2.0 <= elapsed < 2.0 + SLACK_S, elapsed


def test_wapc_run_of_a_sleeping_command_names_the_sleep_on_every_engine(
    engine_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "sleep.wasm"
    path.write_bytes(wat(command(SLEEP_30S)))
    done, elapsed = wapc("run", "-e", engine_name, "--timeout", "1", str(path))
    assert done.returncode == 3, done.stderr
    assert done.stderr == (
        b"wapc: error: timeout: the guest ran longer than 1s "
        b"(time ran out in poll_oneoff: a sleep of 30s) (during _start)\n")
    assert 1.0 <= elapsed < 1.0 + SLACK_S, elapsed


@pytest.mark.parametrize("where", ["call", "init"])
def test_a_supervised_sleep_ends_with_the_in_process_error(engine_name: str, where: str) -> None:
    """The child ends the sleep itself: the error (text, phase) is wasmtime's in-process one."""
    text = guest(SLEEP_30S) if where == "call" else guest("", init_body=SLEEP_30S)
    expected = in_process_error(text, 1.0)
    started = time.monotonic()
    error = run_supervised(wat(text), operation="sleep", engine=engine_name,
                           limits=Limits(timeout_s=1.0)).error
    assert isinstance(error, LimitExceeded) and error.limit == "timeout", error
    assert (str(error), error.phase) == (str(expected), expected.phase)
    assert "poll_oneoff: a sleep of 30s" in str(error)
    assert time.monotonic() - started < 1.0 + SLACK_S


def test_a_spinning_guest_is_still_killed_a_grace_after_the_deadline(engine_name: str) -> None:
    started = time.monotonic()
    error = run_supervised(wat(guest("(loop $spin (br $spin))")), operation="spin",
                           engine=engine_name, limits=Limits(timeout_s=1.0)).error
    elapsed = time.monotonic() - started
    assert isinstance(error, LimitExceeded) and error.limit == "timeout", error
    assert str(error).endswith(f"(the {engine_name} process running it was stopped)")
    assert 1.0 + KILL_GRACE_S <= elapsed < 1.0 + KILL_GRACE_S + SLACK_S, elapsed


# -- a reader that never reads ---------------------------------------------------------------
def test_wapc_run_ends_at_the_timeout_when_its_reader_never_reads(
    engine_name: str, tmp_path: Path
) -> None:
    """`wapc run flood.wasm | (never read)`: exit 3 with the timeout, in bounded time."""
    path = tmp_path / "flood.wasm"
    path.write_bytes(wat(command(FLOOD)))
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "wapc_cli", "run", "-e", engine_name, "--timeout", "1",
         str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        returncode = process.wait(timeout=1.0 + KILL_GRACE_S + 2 * SLACK_S)
        elapsed = time.monotonic() - started
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("wapc run was held past --timeout by a full stdout pipe")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
    error = process.stderr.read()
    process.stderr.close()
    assert returncode == 3, error
    assert error == (
        b"wapc: error: timeout: the guest ran longer than 1s (time ran out in fd_write: "
        b"stdout is a full pipe that is not being read) (during _start)\n")
    assert elapsed < 1.0 + SLACK_S, elapsed


def full_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) whose buffer is full."""
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(write_end, fcntl.F_GETFL)
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while True:
            os.write(write_end, b"\0" * 65536)
    except BlockingIOError:
        pass
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags)
    return read_end, write_end


def test_a_write_to_a_full_pipe_ends_at_the_deadline() -> None:
    read_end, write_end = full_pipe()
    with open(read_end, "rb"), open(write_end, "w", encoding="utf-8") as stream:
        writer = ByteWriter(stream, "stderr")
        started = time.monotonic()
        with running_until(started + 0.3), pytest.raises(OutOfTime) as caught:
            writer.write(b"more" * 1000)
        assert 0.3 <= time.monotonic() - started < 0.3 + SLACK_S
        assert caught.value.where == "fd_write: stderr is a full pipe that is not being read"
        assert writer.gone and writer.failure is None
        writer.write(b"and later")  # the rest goes nowhere: no second wait


def test_a_sinks_out_of_time_is_the_exchanges_fault() -> None:
    """Not every engine hands an import's exception back unchanged: the session keeps it."""
    class Exchange:
        fault: BaseException | None = None

    def full(data: bytes) -> None:
        raise OutOfTime("fd_write: stdout is a full pipe that is not being read")

    exchange = Exchange()
    with pytest.raises(OutOfTime) as caught:
        RawOutput(full, full, exchange).write(1, b"x")
    assert exchange.fault is caught.value
