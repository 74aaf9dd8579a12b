"""Ctrl-C ends every run that executes a guest: exit 130, one line, within a second or so.

The CLI's SIGINT handler raises nothing while a guest may run (an exception
inside an engine's callback has nowhere to go): it asks the engine to
interrupt (wasmtime) or kills the supervised child (wasmer, which cannot
interrupt; the CLI always runs it supervised), and the run then ends with
``KeyboardInterrupt`` where that is safe. Each test sends SIGINT to a real
``python -m wapc_cli`` process, as a terminal would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import guest_from_wat, wat
from stub_guests import FORWARD_WAT
from test_hostile import guest

from wapc_cli.engines.base import Limits
from wapc_cli.runtime import interrupts

#: Logs "looping" (so the test knows the guest runs), then loops for ever.
LOOP_WAT = guest(
    "(call $console_log (i32.const 0) (i32.const 5)) (loop $forever (br $forever))"
)
LOOP_INIT_WAT = guest(
    "(call $guest_response (i32.const 0) (i32.const 5))",
    extra='(func (export "wapc_init") (call $console_log (i32.const 0) (i32.const 5))'
          " (loop $forever (br $forever)))",
)
ECHO_WAT = guest("(call $guest_response (i32.const 0) (i32.const 5))")

#: How long the process may take to end after SIGINT (a correctness bound).
STOP_WITHIN_S = 3.0
INTERRUPTED = "wapc: error: interrupted\n"


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("interrupt")
    paths = {}
    for name, text in {"loop": LOOP_WAT, "loop_init": LOOP_INIT_WAT, "echo": ECHO_WAT,
                       "forward": FORWARD_WAT}.items():
        path = folder / f"{name}.wasm"
        path.write_bytes(wat(text))
        paths[name] = str(path)
    slow = folder / "slow.yaml"
    slow.write_text('calls:\n  - match: "*:*:*"\n    reply: "ok"\n    delay_ms: 60000\n')
    paths["slow_stub"] = str(slow)
    slow_exec = folder / "slow_exec.yaml"
    slow_exec.write_text(
        'calls:\n  - match: "*:*:*"\n    reply:\n      exec: [sleep, "60"]\n      timeout_s: 120\n'
    )
    paths["slow_exec"] = str(slow_exec)
    return paths


def _default_sigint() -> None:
    # A test runner started in the background may pass SIGINT on ignored; a terminal's
    # Ctrl-C reaches a process with Python's default handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(args: list[str], *, ready: str | None = None, after_s: float = 1.0,
              engine: str) -> tuple[int, str, str, float]:
    """Run ``wapc ARGS``, send SIGINT once ``ready`` shows on stderr (else after ``after_s``).

    Returns (exit code, stdout, stderr, seconds from SIGINT to the end).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "wapc_cli", *args, "-e", engine],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"}, preexec_fn=_default_sigint,
    )
    assert process.stderr is not None
    seen = ""
    try:
        if ready is not None:
            while ready not in seen:
                line = process.stderr.readline()
                assert line, f"ended before {ready!r}: {seen}"
                seen += line
        else:
            time.sleep(after_s)
        assert process.poll() is None, "the run ended before it was interrupted"
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = process.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, seen + err, elapsed


def assert_interrupted(code: int, err: str, elapsed: float, *, after: str = "") -> None:
    assert code == 130, err
    assert err == after + INTERRUPTED, err
    assert "Traceback" not in err and "munmap" not in err
    assert elapsed < STOP_WITHIN_S, elapsed


@pytest.mark.parametrize("command", ["call", "trace"])
def test_ctrl_c_stops_an_endless_guest(modules: dict[str, str], engine_name: str,
                                       command: str) -> None:
    extra = ["-f", "jsonl"] if command == "trace" else []
    code, _, err, elapsed = interrupt(
        [command, modules["loop"], "op", "--timeout", "0", *extra],
        ready="hello" if command == "call" else None, after_s=1.5, engine=engine_name,
    )
    assert_interrupted(code, err, elapsed,
                       after="[guest log] hello\n" if command == "call" else "")


def test_ctrl_c_stops_an_endless_init_under_inspect_run(modules: dict[str, str],
                                                        engine_name: str) -> None:
    code, _, err, elapsed = interrupt(
        ["inspect", modules["loop_init"], "--run", "--timeout", "0"], after_s=1.5,
        engine=engine_name,
    )
    assert_interrupted(code, err, elapsed)


def test_ctrl_c_stops_a_benchmark(modules: dict[str, str], engine_name: str) -> None:
    """On wasmtime's C-API path the interrupt used to land inside a ctypes callback:
    heap corruption (``munmap_chunk(): invalid pointer``) or a deadlock. Three tries."""
    for _ in range(3 if engine_name == "wasmtime" else 1):
        code, _, err, elapsed = interrupt(
            ["bench", modules["echo"], "op", "--duration", "30"], after_s=1.5,
            engine=engine_name,
        )
        assert_interrupted(code, err, elapsed)


def test_ctrl_c_stops_a_benchmark_of_an_endless_guest(modules: dict[str, str],
                                                      engine_name: str) -> None:
    code, _, err, elapsed = interrupt(
        ["bench", modules["loop"], "op", "--duration", "30"], after_s=1.5,
        engine=engine_name,
    )
    assert_interrupted(code, err, elapsed)


@pytest.mark.parametrize("table", ["slow_stub", "slow_exec"])
def test_ctrl_c_stops_a_slow_host_call(modules: dict[str, str], engine_name: str,
                                       table: str) -> None:
    """A stub's delay or an exec: reply waits in the host, not in the guest: it ends too."""
    code, _, err, elapsed = interrupt(
        ["call", modules["forward"], "op", "-s", modules[table], "--timeout", "0"],
        ready="forwarding", engine=engine_name,
    )
    assert_interrupted(code, err, elapsed, after="[guest log] forwarding\n")


# -- the library ---------------------------------------------------------------------------
def test_a_stop_request_interrupts_a_running_call_and_the_next() -> None:
    """interrupts.request() (what the CLI's handler calls), from another thread here."""
    g = guest_from_wat(LOOP_WAT, "wasmtime")
    timer = threading.Timer(0.2, interrupts.request)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            g.call("op")
        assert time.monotonic() - started < STOP_WITHIN_S
        with pytest.raises(KeyboardInterrupt):  # the request stands until cleared
            g.call("op")
    finally:
        timer.join()
        interrupts.clear()
    echo = guest_from_wat(ECHO_WAT, "wasmtime", limits=Limits(timeout_s=5))
    assert echo.call("op") == b"hello"  # cleared: calls run again


def test_the_callers_own_keyboard_interrupt_ends_the_call(tmp_path: Path) -> None:
    """Python's default SIGINT handler raising inside wasmtime's callbacks: no crash,
    KeyboardInterrupt out of Guest.call, and the guest is rebuilt for the next call.
    Run in a child process, so that a crash there cannot take pytest down."""
    script = tmp_path / "own_handler.py"
    script.write_text(
        "import os, signal, sys, threading\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from conftest import guest_from_wat\n"
        "from test_interrupt import LOOP_WAT\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "g = guest_from_wat(LOOP_WAT, 'wasmtime')\n"
        "caught = 0\n"
        "for _ in range(5):\n"
        "    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "    try:\n"
        "        g.call('op')\n"
        "    except KeyboardInterrupt:\n"
        "        caught += 1\n"
        "print(caught)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "5"), done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
