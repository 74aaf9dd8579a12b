"""The wasmtime C-API hot path against wasmtime-py's public API: same outcomes, same limits.

Every scenario runs on both paths (``WAPC_WASMTIME_PATH=fast|public``) and the
outcomes are compared whole: the response bytes, or the error's type and text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import wasmtime
from conftest import WAPC_IMPORTS

from wapc_cli.engines import wasmtime_fast
from wapc_cli.engines.base import Limits
from wapc_cli.engines.wasmtime_engine import WasmtimeEngine
from wapc_cli.errors import GuestError, GuestTrap, LimitExceeded, WapcError
from wapc_cli.runtime.guest import WapcModule
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest
from wapc_cli.runtime.session import HostAbort
from wapc_cli.runtime.wasi import WasiOptions

# One guest, many behaviours, chosen by the first byte of the operation name:
#   e  echo the payload             E  guest error (the payload as message)
#   h  host call, answer or error   t  trap (unreachable)
#   g  grow memory by 4 pages, have the host write its answer in the new pages
#   o  __guest_response out of bounds      l  console log the payload
#   r  return 7 (not a valid result)       i  loop forever (limits)
#   m  grow by 64 pages (for --max-memory), error when refused
GUEST = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 100) "bind")
  (data (i32.const 120) "ns")
  (data (i32.const 140) "op")
  (data (i32.const 160) "grow refused")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $kind i32) (local $n i32) (local $at i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (local.set $kind (i32.load8_u (i32.const 0)))
    (if (i32.eq (local.get $kind) (i32.const 0x65)) (then
      (call $guest_response (i32.const 1024) (local.get $len))
      (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x45)) (then
      (call $guest_error (i32.const 1024) (local.get $len))
      (return (i32.const 0))))
    (if (i32.eq (local.get $kind) (i32.const 0x68)) (then
      (if (call $host_call (i32.const 100) (i32.const 4) (i32.const 120) (i32.const 2)
                           (i32.const 140) (i32.const 2) (i32.const 1024) (local.get $len))
        (then
          (local.set $n (call $host_response_len))
          (call $host_response (i32.const 2048))
          (call $guest_response (i32.const 2048) (local.get $n))
          (return (i32.const 1))))
      (local.set $n (call $host_error_len))
      (call $host_error (i32.const 2048))
      (call $guest_error (i32.const 2048) (local.get $n))
      (return (i32.const 0))))
    (if (i32.eq (local.get $kind) (i32.const 0x74)) (then unreachable))
    (if (i32.eq (local.get $kind) (i32.const 0x67)) (then
      (local.set $at (i32.add (i32.mul (memory.grow (i32.const 4)) (i32.const 65536))
                              (i32.const 4000)))
      (drop (call $host_call (i32.const 100) (i32.const 4) (i32.const 120) (i32.const 2)
                             (i32.const 140) (i32.const 2) (i32.const 1024) (local.get $len)))
      (local.set $n (call $host_response_len))
      (call $host_response (local.get $at))
      (call $guest_response (local.get $at) (local.get $n))
      (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x6f)) (then
      (call $guest_response (i32.const 65530) (i32.const 100))
      (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x6c)) (then
      (call $console_log (i32.const 1024) (local.get $len))
      (call $guest_response (i32.const 1024) (local.get $len))
      (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x72)) (then (return (i32.const 7))))
    (if (i32.eq (local.get $kind) (i32.const 0x69)) (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $kind) (i32.const 0x6d)) (then
      (if (i32.eq (memory.grow (i32.const 64)) (i32.const -1)) (then
        (call $guest_error (i32.const 160) (i32.const 12))
        (return (i32.const 0))))
      (call $guest_response (i32.const 1024) (i32.const 0))
      (return (i32.const 1))))
    (i32.const 0))
)"""

# A WASI import with an i64 parameter exercises the struct-decoded trampoline.
WASI_GUEST = """(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    ;; errno as one byte: 0 (success) written at 200
    (i32.store8 (i32.const 200)
      (i32.add (i32.const 48) (call $clock (i32.const 1) (i64.const 1000) (i32.const 300))))
    (call $guest_response (i32.const 200) (i32.const 1))
    (i32.const 1))
)"""

PATHS = ("fast", "public")


def _engine(path: str, monkeypatch: pytest.MonkeyPatch) -> WasmtimeEngine:
    monkeypatch.setenv("WAPC_WASMTIME_PATH", path)
    engine = WasmtimeEngine()
    assert engine.fast is (path == "fast")
    return engine


def _module(path: str, monkeypatch: pytest.MonkeyPatch, text: str = GUEST,
            limits: Limits | None = None) -> WapcModule:
    limits = limits or Limits()
    compiled = _engine(path, monkeypatch).compile(bytes(wasmtime.wat2wasm(text)), limits)
    return WapcModule(compiled, "<wat>", limits, 0.0)


def _answer(request: HostCallRequest) -> bytes:
    if request.payload.startswith(b"fail"):
        raise HostCallError("no such key ✗", b"body")
    if request.payload.startswith(b"abort"):
        raise HostAbort(GuestTrap("stub table: unmatched host call"))
    if request.payload.startswith(b"bug"):
        raise ZeroDivisionError("handler bug")
    return b"<" + request.binding.encode() + b"|" + request.payload + b">"


def _outcome(call: Callable[[], bytes]) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except WapcError as exc:
        return (type(exc).__name__, str(exc))


CASES = [
    ("echo", b""),
    ("echo", b"hello"),
    ("echo", bytes(range(256)) * 200),  # 51200 bytes
    ("Error", "böse".encode()),
    ("host", b"key"),
    ("host", b"fail"),
    ("host", b"bug"),
    ("host", b"abort"),
    ("grow", b"x" * 3000),
    ("trap", b""),
    ("oob", b""),
    ("log", b"line"),
    ("ret7", b""),
]


def _run_cases(path: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    module = _module(path, monkeypatch)
    logs: list[tuple[str, str]] = []
    guest = module.instantiate(_answer, on_log=lambda m, s: logs.append((m, s)))
    results = [_outcome(lambda op=op, p=p: guest.call(op, p)) for op, p in CASES]
    # after every trap the instance is rebuilt; a final echo proves it still works
    results.append(_outcome(lambda: guest.call("echo", b"again")))
    results.append(("logs", logs))
    results.append(("host_calls", guest.last.host_calls))
    return results


def test_fast_path_is_used_by_default_on_tested_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAPC_WASMTIME_PATH", raising=False)
    engine = WasmtimeEngine()
    assert wasmtime_fast.supported(engine.version)
    assert engine.fast
    guest = _module("fast", monkeypatch).instantiate()
    assert type(guest._instance).__name__ == "FastInstance"


def test_untested_versions_fall_back_to_the_public_api() -> None:
    assert not wasmtime_fast.supported("49.0.0")
    assert not wasmtime_fast.supported("nonsense")


def test_no_fast_path_without_pinned_memory_even_when_forced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path's cached views need memory that never moves: a wheel whose
    Config cannot say so gets the public path, WAPC_WASMTIME_PATH=fast or not."""
    assert wasmtime_fast.pins_memory()

    class OldConfig:  # a wasmtime Config from before memory_may_move
        pass

    monkeypatch.setattr(wasmtime_fast.wasmtime, "Config", OldConfig)
    assert not wasmtime_fast.pins_memory()
    monkeypatch.setenv("WAPC_WASMTIME_PATH", "fast")
    assert not WasmtimeEngine().fast


def test_both_paths_give_identical_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _run_cases("fast", monkeypatch)
    public = _run_cases("public", monkeypatch)
    assert fast == public
    # and the outcomes are the right ones, not merely equal
    by_case = dict(zip([f"{op}:{p[:8]!r}" for op, p in CASES], fast, strict=False))
    assert by_case["echo:b'hello'"] == ("ok", b"hello")
    assert by_case["host:b'key'"] == ("ok", b"<bind|key>")
    assert by_case["host:b'fail'"] == ("GuestError", "no such key ✗")
    assert by_case["grow:b'xxxxxxxx'"] == ("ok", b"<bind|" + b"x" * 3000 + b">")
    assert by_case["trap:b''"][0] == "GuestTrap"
    assert by_case["oob:b''"][0] == "GuestTrap" and "__guest_response" in by_case["oob:b''"][1]
    assert fast[-3] == ("ok", b"again")
    assert fast[-2] == ("logs", [("line", "wapc")])


def test_big_payloads_round_trip_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _module("fast", monkeypatch)
    guest = module.instantiate(_answer)
    payload = bytes(i & 0xFF for i in range(60000))
    for _ in range(3):
        assert guest.call("echo", payload) == payload


def test_i64_wasi_import_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for path in PATHS:
        guest = _module(path, monkeypatch, WASI_GUEST).instantiate(wasi=WasiOptions())
        results.append(guest.call("x", b""))
    assert results[0] == results[1] == b"0"


@pytest.mark.parametrize("path", PATHS)
def test_fuel_limit_is_enforced(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _module(path, monkeypatch, limits=Limits(fuel=100_000)).instantiate()
    with pytest.raises(LimitExceeded) as info:
        guest.call("inf", b"")
    assert info.value.limit == "fuel"
    assert guest.call("echo", b"ok") == b"ok"  # a fresh instance, a fresh budget


@pytest.mark.parametrize("path", PATHS)
def test_timeout_is_enforced(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _module(path, monkeypatch, limits=Limits(timeout_s=0.2)).instantiate()
    with pytest.raises(LimitExceeded) as info:
        guest.call("inf", b"")
    assert info.value.limit == "timeout"
    assert guest.call("echo", b"ok") == b"ok"


@pytest.mark.parametrize("path", PATHS)
def test_max_memory_is_enforced(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _module(path, monkeypatch, limits=Limits(max_memory_bytes=4 * 65536)).instantiate()
    with pytest.raises((GuestError, LimitExceeded)):
        guest.call("more", b"")
    unlimited = _module(path, monkeypatch).instantiate()
    assert unlimited.call("more", b"") == b""


def test_fast_memory_refuses_out_of_range_access(monkeypatch: pytest.MonkeyPatch) -> None:
    guest = _module("fast", monkeypatch).instantiate()
    memory = guest.session.memory
    assert memory is not None
    size = memory.size()
    assert size == 65536
    with pytest.raises(IndexError):
        memory.read(size - 2, 4)
    with pytest.raises(IndexError):
        memory.write(size, b"x")
    memory.write(size - 1, b"z")
    assert memory.read(size - 1, 1) == b"z"
