"""Engines under stress: many exports, interrupts, signals, and limits out of range."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import WAPC_IMPORTS, guest_from_wat, wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.engines.base import MAX_FUEL, EngineTrap, Limits
from wapc_cli.engines.wasmtime_engine import WasmtimeEngine
from wapc_cli.errors import UsageError

ECHO_BODY = """
  (memory (export "memory") 1)
  (func $echo (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (call $guest_response (i32.const 1024) (local.get $len))
    (i32.const 1))
"""

#: Spins in pure wasm: nothing but an epoch check can stop it.
SPIN = """(module
  (memory (export "memory") 1)
  (func $spin (loop $forever (br $forever)))
  (func (export "__guest_call") (param i32 i32) (result i32) (call $spin) (i32.const 1)))
"""

#: Calls the host (console log) forever: a signal lands in a host callback or between.
CHATTY = """(module
  (import "wapc" "__console_log" (func $console_log (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (loop $forever
      (call $console_log (i32.const 0) (i32.const 1))
      (br $forever))
    (i32.const 1)))
"""

#: An echo guest for engine-level tests: only the two imports it uses.
ECHO = f"""(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  {ECHO_BODY})"""
ECHO_HOST = {
    ("wapc", "__guest_request"): lambda ptr, length: None,
    ("wapc", "__guest_response"): lambda ptr, length: None,
}

# wasmer 1.1 validates at most ~25k exports ("effective type size too large").
EXPORTS = {"wasmtime": 100_000, "wasmer": 20_000}


def many_exports(count: int) -> str:
    """An echo guest exporting its __guest_call under ``count`` more names."""
    exports = "\n".join(f'  (export "e{i}" (func $echo))' for i in range(count))
    return f"(module {WAPC_IMPORTS}{ECHO_BODY}{exports})"


@pytest.fixture(params=["fast", "public"])
def wasmtime_engine(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> WasmtimeEngine:
    monkeypatch.setenv("WAPC_WASMTIME_PATH", str(request.param))
    return WasmtimeEngine()


@pytest.fixture
def later() -> Iterator[list[threading.Timer]]:
    timers: list[threading.Timer] = []
    yield timers
    for timer in timers:
        timer.cancel()


def after(timers: list[threading.Timer], seconds: float, action: object) -> None:
    timer = threading.Timer(seconds, action)  # type: ignore[arg-type]
    timers.append(timer)
    timer.start()


def sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)


# -- many exports: nothing enumerates them in quadratic time ----------------------------


def test_a_module_with_many_exports_runs_quickly(engine_name: str) -> None:
    text = many_exports(EXPORTS[engine_name])
    started = time.perf_counter()
    guest = guest_from_wat(text, engine_name)
    assert guest.call("op", b"many") == b"many"
    assert time.perf_counter() - started < 20  # was ~300 s with 100k exports


def test_inspect_reports_a_module_with_many_exports(tmp_path: Path) -> None:
    path = tmp_path / "many.wasm"
    path.write_bytes(wat(many_exports(EXPORTS["wasmtime"])))
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "Exports (100002)" in result.output
    assert time.perf_counter() - started < 20


# -- interrupt ----------------------------------------------------------------------


@pytest.mark.parametrize("limits", [Limits(), Limits(timeout_s=60), Limits(fuel=10**15)])
def test_interrupt_stops_a_spinning_guest(
    wasmtime_engine: WasmtimeEngine, later: list[threading.Timer], limits: Limits
) -> None:
    compiled = wasmtime_engine.compile(wat(SPIN), limits)
    instance = compiled.instantiate({}, limits)
    after(later, 0.2, wasmtime_engine.interrupt)
    started = time.perf_counter()
    with pytest.raises(EngineTrap) as caught:
        instance.guest_call(1, 1)
    assert time.perf_counter() - started < 1.2
    assert caught.value.info.kind == "interrupted"
    assert caught.value.info.frames  # where it was stopped
    # Only running calls are stopped: a new instance (or call) runs normally.
    again = compiled.instantiate({}, limits)
    assert again.has_func("__guest_call") and again.memory is not None


def test_an_interrupt_reaches_only_calls_running_at_the_time(
    wasmtime_engine: WasmtimeEngine,
) -> None:
    wasmtime_engine.interrupt()
    instance = wasmtime_engine.compile(wat(ECHO), Limits()).instantiate(ECHO_HOST, Limits())
    assert wasmtime_engine.interrupt() is True
    assert instance.guest_call(2, 2) == 1


def test_a_huge_timeout_neither_wraps_nor_fires(
    wasmtime_engine: WasmtimeEngine, later: list[threading.Timer]
) -> None:
    limits = Limits(timeout_s=1e35)
    instance = wasmtime_engine.compile(wat(SPIN), limits).instantiate({}, limits)
    after(later, 0.3, wasmtime_engine.interrupt)
    with pytest.raises(EngineTrap) as caught:
        instance.guest_call(1, 1)
    assert caught.value.info.kind == "interrupted"  # not an instant "timeout"


def test_a_timeout_still_says_timeout(wasmtime_engine: WasmtimeEngine) -> None:
    limits = Limits(timeout_s=0.1)
    instance = wasmtime_engine.compile(wat(SPIN), limits).instantiate({}, limits)
    started = time.perf_counter()
    with pytest.raises(EngineTrap) as caught:
        instance.guest_call(1, 1)
    assert caught.value.info.kind == "timeout"
    assert 0.09 < time.perf_counter() - started < 1


# -- signals: KeyboardInterrupt comes out as itself, never crashes the process ------------


def test_ctrl_c_stops_a_spinning_guest(
    wasmtime_engine: WasmtimeEngine, later: list[threading.Timer]
) -> None:
    instance = wasmtime_engine.compile(wat(SPIN), Limits()).instantiate({}, Limits())
    after(later, 0.2, sigint)
    with pytest.raises(KeyboardInterrupt):
        instance.guest_call(1, 1)


def test_ctrl_c_while_the_guest_calls_the_host(
    wasmtime_engine: WasmtimeEngine, later: list[threading.Timer]
) -> None:
    compiled = wasmtime_engine.compile(wat(CHATTY), Limits())
    host = {("wapc", name): (lambda *args: None) for name in ("__console_log",)}
    for attempt in range(5):
        instance = compiled.instantiate(host, Limits())
        after(later, 0.05 + attempt * 0.03, sigint)
        with pytest.raises(KeyboardInterrupt):
            instance.guest_call(1, 1)


def test_a_host_function_raising_keyboard_interrupt(wasmtime_engine: WasmtimeEngine) -> None:
    def log(ptr: int, length: int) -> None:
        raise KeyboardInterrupt

    compiled = wasmtime_engine.compile(wat(CHATTY), Limits())
    with pytest.raises(KeyboardInterrupt):
        compiled.instantiate({("wapc", "__console_log"): log}, Limits()).guest_call(1, 1)
    calls = []

    def counted(ptr: int, length: int) -> None:
        calls.append(ptr)
        if len(calls) == 3:
            raise ValueError("third")

    with pytest.raises(ValueError, match="third"):
        compiled.instantiate({("wapc", "__console_log"): counted}, Limits()).guest_call(1, 1)


# -- limits out of the engine's range are refused, never wrapped ---------------------


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (Limits(fuel=MAX_FUEL + 1), "fuel limit must be between 0 and"),
        (Limits(fuel=2**64 + 100), "fuel limit must be between 0 and"),
        (Limits(fuel=-1), "fuel limit must be between 0 and"),
        (Limits(timeout_s=float("nan")), "timeout limit must be"),
        (Limits(timeout_s=-1.0), "timeout limit must be"),
    ],
)
def test_limits_out_of_range_are_refused(
    wasmtime_engine: WasmtimeEngine, limits: Limits, message: str
) -> None:
    compiled = wasmtime_engine.compile(wat(SPIN), limits)
    with pytest.raises(UsageError, match=message):
        compiled.instantiate({}, limits)


def test_the_largest_fuel_is_accepted(wasmtime_engine: WasmtimeEngine) -> None:
    limits = Limits(fuel=MAX_FUEL)
    instance = wasmtime_engine.compile(wat(ECHO), limits).instantiate(ECHO_HOST, limits)
    assert instance.guest_call(2, 2) == 1


@pytest.mark.parametrize("path", ["fast", "public"])
def test_dropped_guests_free_their_wasmtime_stores(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guest's store (and its linear memory) goes when the guest does, traps included:
    the epoch-deadline registry must not keep stores alive (it did, one per instance)."""
    import gc

    import wasmtime

    from wapc_cli.errors import GuestTrap
    from wapc_cli.runtime.guest import WapcModule

    monkeypatch.setenv("WAPC_WASMTIME_PATH", path)
    trapping = f"""(module {WAPC_IMPORTS}
      (memory (export "memory") 1)
      (func (export "__guest_call") (param i32 i32) (result i32) unreachable))"""
    compiled = WasmtimeEngine().compile(wat(trapping), Limits())
    module = WapcModule(compiled, "<wat>", Limits(), 0.0)

    def stores() -> int:
        gc.collect()
        return sum(isinstance(o, wasmtime.Store) for o in gc.get_objects())

    before = stores()
    for _ in range(20):
        guest = module.instantiate()
        for _ in range(2):  # a trap, then a rebuilt instance that traps again
            with pytest.raises(GuestTrap):
                guest.call("x")
        del guest
    assert stores() - before <= 1  # at most the last one, until its finalizer ran
