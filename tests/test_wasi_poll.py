"""WASI ``poll_oneoff`` sleeps: they really sleep, and end with the time budget or Ctrl-C.

A guest sleeping 30 s under a 1 s timeout stops after about 1 s with the
timeout limit: as a command and as a waPC guest, in-process and supervised,
on every engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from conftest import WAPC_IMPORTS, guest_from_wat, wat

from wapc_cli.engines import get_engine
from wapc_cli.engines.base import Limits
from wapc_cli.errors import LimitExceeded
from wapc_cli.isolation import run_supervised
from wapc_cli.runtime import interrupts
from wapc_cli.runtime.command import load_command
from wapc_cli.runtime.wasi import WasiOptions

#: Time allowed on top of a limit (start-up, a child process, a loaded CI machine).
SLACK_S = 3.0

POLL_IMPORT = """
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
"""


def sleep_body(nanoseconds: int) -> str:
    """WAT that sleeps ``nanoseconds`` on the monotonic clock (one relative subscription
    at 0, its event at 64, the count at 128), exiting with the errno if poll fails."""
    return f"""
    (i64.store (i32.const 0) (i64.const 7))        ;; userdata
    (i32.store8 (i32.const 8) (i32.const 0))       ;; eventtype clock
    (i32.store (i32.const 16) (i32.const 1))       ;; monotonic
    (i64.store (i32.const 24) (i64.const {nanoseconds}))
    (i32.store16 (i32.const 40) (i32.const 0))     ;; relative
    (if (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))
      (then (call $exit (i32.const 99))))
    """


def sleeping_command(nanoseconds: int) -> bytes:
    return wat(f"""(module {POLL_IMPORT}
      (memory (export "memory") 1)
      (func (export "_start") {sleep_body(nanoseconds)}
        (call $exit (i32.load8_u (i32.const 74)))))""")  # the event's type: 0 = clock


def sleeping_guest(nanoseconds: int) -> str:
    return f"""(module {WAPC_IMPORTS} {POLL_IMPORT}
      (memory (export "memory") 1)
      (func (export "__guest_call") (param i32 i32) (result i32)
        {sleep_body(nanoseconds)}
        (call $guest_response (i32.const 0) (i32.const 8))
        (i32.const 1)))"""


def run_command(wasm: bytes, engine: str, timeout_s: float) -> int:
    """Run in-process, with the timeout where the engine enforces one, else as a budget."""
    if get_engine(engine).capabilities.interrupts:
        command = load_command(wasm, engine=engine, limits=Limits(timeout_s=timeout_s))
        budget = None
    else:
        command, budget = load_command(wasm, engine=engine), timeout_s
    sink: list[bytes] = []
    return command.run(WasiOptions(), stdout=sink.append, stderr=sink.append,
                       budget_s=budget).exit_code


def test_a_short_sleep_really_sleeps(engine_name: str) -> None:
    started = time.monotonic()
    assert run_command(sleeping_command(300_000_000), engine_name, 10.0) == 0  # clock event
    assert 0.28 <= time.monotonic() - started < 0.3 + SLACK_S


def test_a_long_sleep_ends_with_the_timeout_as_a_command(engine_name: str) -> None:
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as caught:
        run_command(sleeping_command(30 * 10**9), engine_name, 1.0)
    elapsed = time.monotonic() - started
    assert caught.value.limit == "timeout"
    assert "poll_oneoff" in str(caught.value), caught.value
    assert 0.9 <= elapsed < 1.0 + SLACK_S


def test_a_long_sleep_ends_with_the_timeout_in_a_wapc_guest(engine_name: str) -> None:
    text = sleeping_guest(30 * 10**9)
    started = time.monotonic()
    if get_engine(engine_name).capabilities.interrupts:
        g = guest_from_wat(text, engine_name, limits=Limits(timeout_s=1.0))
        with pytest.raises(LimitExceeded) as caught:
            g.call("sleep")
        error: Exception | None = caught.value
    else:
        error = run_supervised(wat(text), operation="sleep", engine=engine_name,
                               limits=Limits(timeout_s=1.0)).error
    assert isinstance(error, LimitExceeded) and error.limit == "timeout", error
    assert time.monotonic() - started < 1.0 + SLACK_S


def test_a_long_sleep_ends_with_the_timeout_supervised(engine_name: str) -> None:
    started = time.monotonic()
    error = run_supervised(wat(sleeping_guest(30 * 10**9)), operation="sleep",
                           engine=engine_name, limits=Limits(timeout_s=1.0)).error
    assert isinstance(error, LimitExceeded) and error.limit == "timeout", error
    assert time.monotonic() - started < 1.0 + SLACK_S


def test_a_sleep_under_the_budget_answers(engine_name: str) -> None:
    g = guest_from_wat(sleeping_guest(50_000_000), engine_name)
    assert len(g.call("sleep")) == 8


@pytest.fixture
def stop_soon() -> Iterator[None]:
    timer = threading.Timer(0.5, interrupts.request)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        interrupts.clear()


def test_ctrl_c_ends_a_sleep(engine_name: str, stop_soon: None) -> None:
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        load_command(sleeping_command(30 * 10**9), engine=engine_name).run(
            WasiOptions(), stdout=print, stderr=print)
    assert time.monotonic() - started < 0.5 + SLACK_S
