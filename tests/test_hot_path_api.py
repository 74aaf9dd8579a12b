"""The fast call API and what it rests on.

``Guest.try_call`` (a guest error returned, not raised), ``Guest.call_timed``,
the operation name's accepted types, the session's cached memory view (growth,
unsigned pointers), the wasmtime fast path's trap detection, and tracing that
wraps the imports only when a tracer is given.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from conftest import WAPC_IMPORTS, guest_from_wat, module_from_wat
from fake_engine import (
    PAGE,
    BytearrayMemory,
    FakeInstance,
    FakeModule,
    MemoryMisuse,
    Return,
    Step,
    Write,
    call,
    error,
    fake_guest,
    host_call,
    request,
    respond,
)

from wapc_cli.engines.base import EngineTrap, Limits
from wapc_cli.engines.wasmtime_engine import WasmtimeEngine
from wapc_cli.errors import GuestError, GuestTrap, WapcError
from wapc_cli.runtime import events as ev
from wapc_cli.runtime.guest import Guest, WapcModule, read_module_file
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest, HostReply
from wapc_cli.runtime.session import HostAbort

AS_GUEST = Path(__file__).resolve().parent.parent / "sample_guests" / "build" / "as_guest.wasm"

_modules: dict[str, WapcModule] = {}


def as_module(engine: str) -> WapcModule:
    """The AssemblyScript sample (echo, fail, trap, kv_get...), compiled once per engine."""
    if engine not in _modules:
        _modules[engine] = WapcModule.from_bytes(
            read_module_file(AS_GUEST), engine=engine, name="as_guest.wasm"
        )
    return _modules[engine]


def kv_handler(request: HostCallRequest) -> bytes:
    """tarmac:kvstore:get answers b"v" for the key b"k" and fails for any other."""
    assert request.key == "tarmac:kvstore:get"
    if request.payload == b"k":
        return b"v"
    raise HostCallError("nope")


# One guest, many endings, chosen by the payload's first byte (the operation name
# is written at 0, the payload at 1024):
#   r  respond with the payload, return 1      e  error "bad thing", return 0
#   z  return 0, nothing set                   o  only an error, return 1
#   w  response and error, return 1            x  response and error, return 0
#   s  return 1, nothing set                   n  return -1
#   l  respond, return op_len                  t  trap (unreachable)
#   h  host call b:b:b with the payload, then respond with the payload
#   q  respond with the operation name
#   anything else: return 0
ENDINGS = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 300) "bad thing")
  (data (i32.const 320) "b")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $kind i32)
    (i32.store8 (i32.const 1024) (i32.const 0))  ;; an empty payload selects nothing
    (call $guest_request (i32.const 0) (i32.const 1024))
    (local.set $kind (i32.load8_u (i32.const 1024)))
    (if (i32.eq (local.get $kind) (i32.const 0x72)) (then
      (call $guest_response (i32.const 1024) (local.get $len))
      (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x65)) (then
      (call $guest_error (i32.const 300) (i32.const 9))
      (return (i32.const 0))))
    (if (i32.eq (local.get $kind) (i32.const 0x7a)) (then (return (i32.const 0))))
    (if (i32.eq (local.get $kind) (i32.const 0x6f)) (then
      (call $guest_error (i32.const 300) (i32.const 9))
      (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x77)) (then
      (call $guest_response (i32.const 1024) (local.get $len))
      (call $guest_error (i32.const 300) (i32.const 9))
      (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x78)) (then
      (call $guest_response (i32.const 1024) (local.get $len))
      (call $guest_error (i32.const 300) (i32.const 9))
      (return (i32.const 0))))
    (if (i32.eq (local.get $kind) (i32.const 0x73)) (then (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x6e)) (then (return (i32.const -1))))
    (if (i32.eq (local.get $kind) (i32.const 0x6c)) (then
      (call $guest_response (i32.const 1024) (local.get $len))
      (return (local.get $op_len))))
    (if (i32.eq (local.get $kind) (i32.const 0x74)) (then unreachable))
    (if (i32.eq (local.get $kind) (i32.const 0x68)) (then
      (drop (call $host_call (i32.const 320) (i32.const 1) (i32.const 320) (i32.const 1)
                             (i32.const 320) (i32.const 1) (i32.const 1024) (local.get $len)))
      (call $guest_response (i32.const 1024) (local.get $len))
      (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (i32.const 0x71)) (then
      (call $guest_response (i32.const 0) (local.get $op_len))
      (return (i32.const 1))))
    (i32.const 0))
)"""

NO_ERROR_SET = "guest returned 0 (failure) without setting an error with __guest_error"
BOTH_SET = (
    "guest set both a response and an error and returned 1; "
    "the response is used (some hosts check the error first)"
)

Outcome = tuple[Any, ...]
Record = tuple[list[str], int]


def last_of(guest: Guest) -> Record:
    """``guest.last`` as (warnings, host_calls)."""
    last = guest.last
    return (list(last.warnings), last.host_calls)


def outcome_of_call(guest: Guest, payload: bytes) -> Outcome:
    try:
        return ("ok", guest.call("op", payload))
    except GuestError as exc:
        return ("error", type(exc), exc.message, exc.raw)
    except GuestTrap as exc:
        return ("trap", type(exc), str(exc))


def outcome_of_try_call(guest: Guest, payload: bytes) -> Outcome:
    try:
        result = guest.try_call("op", payload)
    except GuestError as exc:  # never: try_call returns these
        return ("raised GuestError", str(exc))
    except GuestTrap as exc:
        return ("trap", type(exc), str(exc))
    if isinstance(result, GuestError):
        return ("error", type(result), result.message, result.raw)
    return ("ok", result)


# -- try_call ----------------------------------------------------------------------------


def test_try_call_returns_the_response(engine_name: str) -> None:
    guest = as_module(engine_name).instantiate(kv_handler)
    result = guest.try_call("echo", b"hello")
    assert type(result) is bytes
    assert result == b"hello"
    assert guest.try_call("echo") == b""
    assert guest.try_call("kv_get", b"k") == b"v"
    assert last_of(guest) == ([], 1)


def test_try_call_returns_the_guest_error(engine_name: str) -> None:
    guest = as_module(engine_name).instantiate(kv_handler)
    assert guest.try_call("kv_get", b"k") == b"v"  # leaves host_calls at 1
    assert last_of(guest) == ([], 1)

    result = guest.try_call("fail", b"")
    assert type(result) is GuestError
    assert result.message == "requested failure"
    assert result.raw == b"requested failure"
    assert str(result) == "requested failure"
    assert last_of(guest) == ([], 0)  # this call's record, not the previous one's

    failed_host_call = guest.try_call("kv_get", b"other")
    assert isinstance(failed_host_call, GuestError)
    assert failed_host_call.message == "host error: nope"
    assert failed_host_call.raw == b"host error: nope"
    assert last_of(guest) == ([], 1)

    # The error is returned, the instance stays: it answers again.
    assert guest.try_call("echo", b"still here") == b"still here"
    assert last_of(guest) == ([], 0)


def test_guest_error_is_a_plain_value() -> None:
    """GuestError keeps message and raw in ``args`` (no instance dict): the fields,
    their defaults, str/repr, pickling and raising all still work."""
    import pickle

    error = GuestError("caf\u00e9 failed", "caf\u00e9 failed".encode())
    assert (error.message, error.raw, str(error)) == ("caf\u00e9 failed", b"caf\xc3\xa9 failed",
                                                      "caf\u00e9 failed")
    assert error.exit_code == 1
    assert GuestError("m").raw == b""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is GuestError and (copy.message, copy.raw) == (error.message, error.raw)
    with pytest.raises(WapcError, match="caf\u00e9 failed") as raised:
        raise error
    assert raised.value is error


def test_try_call_return_0_without_error_gives_what_call_raises(engine_name: str) -> None:
    guest = guest_from_wat(ENDINGS, engine_name)
    with pytest.raises(GuestError) as raised:
        guest.call("op", b"z")
    assert raised.value.message == NO_ERROR_SET
    returned = guest.try_call("op", b"z")
    assert type(returned) is GuestError
    assert returned.message == raised.value.message == NO_ERROR_SET
    assert returned.raw == raised.value.raw == b""
    assert last_of(guest) == ([], 0)


def test_try_call_raises_a_trap_and_the_next_try_call_works(engine_name: str) -> None:
    guest = as_module(engine_name).instantiate(kv_handler)
    with pytest.raises(GuestTrap) as info:
        guest.try_call("trap")
    assert info.value.message.startswith("guest trapped: ")
    assert "unreachable" in info.value.message
    assert info.value.phase == "call"
    assert guest.try_call("echo", b"after") == b"after"
    with pytest.raises(GuestTrap):
        guest.try_call("trap")
    result = guest.try_call("fail")  # the first call after a trap: rebuild, then the error
    assert isinstance(result, GuestError)
    assert (result.message, result.raw) == ("requested failure", b"requested failure")
    assert guest.try_call("kv_get", b"k") == b"v"


COUNTER = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (call $guest_request (i32.const 0) (i32.const 1024))
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 0x74)) (then unreachable))
    (i32.store8 (i32.const 0) (i32.add (i32.const 0x30) (global.get $calls)))
    (call $guest_response (i32.const 0) (i32.const 1))
    (i32.const 1))
)"""


def test_try_call_after_a_trap_runs_on_a_fresh_instance(engine_name: str) -> None:
    guest = guest_from_wat(COUNTER, engine_name)
    assert [guest.try_call("op", b"-") for _ in range(3)] == [b"1", b"2", b"3"]
    with pytest.raises(GuestTrap):
        guest.try_call("op", b"t")
    assert guest.try_call("op", b"-") == b"1"  # the global started over


def test_try_call_with_a_tracer_returns_the_error_and_traces_it(engine_name: str) -> None:
    events: list[ev.Event] = []
    guest = as_module(engine_name).instantiate(kv_handler, tracer=events.append)
    events.clear()  # the init step

    result = guest.try_call("fail")
    assert type(result) is GuestError
    assert (result.message, result.raw) == ("requested failure", b"requested failure")
    assert [e.name for e in events] == ["guest_call", "guest_request", "guest_error", "return"]
    assert isinstance(events[2], ev.GuestErrorSet)
    assert events[2].message == "requested failure"
    end = events[-1]
    assert isinstance(end, ev.Return)
    assert (end.value, end.outcome, end.message, end.warnings) == (
        0, "error", "requested failure", ())
    assert last_of(guest) == ([], 0)

    events.clear()
    with pytest.raises(GuestTrap) as info:
        guest.try_call("trap")
    end = events[-1]
    assert isinstance(end, ev.Return)
    assert (end.value, end.outcome, end.message) == (None, "trap", str(info.value))

    events.clear()
    assert guest.try_call("kv_get", b"k") == b"v"
    assert events[0].name == "init"  # the instance was rebuilt first
    assert [e.name for e in events if e.name != "init"] == [
        "guest_call", "guest_request", "host_call", "host_response_len", "host_response",
        "guest_response", "return",
    ]
    end = events[-1]
    assert isinstance(end, ev.Return)
    assert (end.value, end.outcome, end.message) == (1, "ok", None)
    assert last_of(guest) == ([], 1)


# payload -> what call() and try_call() must both come to (a trap: its message's start)
ENDING_CASES: list[tuple[bytes, Outcome, Record | None]] = [
    (b"r-ok", ("ok", b"r-ok"), ([], 0)),
    (b"w-both", ("ok", b"w-both"), ([BOTH_SET], 0)),
    (b"e", ("error", GuestError, "bad thing", b"bad thing"), ([], 0)),
    (b"z", ("error", GuestError, NO_ERROR_SET, b""), ([], 0)),
    # (the record of "o" is left out: see the note in test_try_call_agrees_with_call)
    (b"o", ("error", GuestError, "bad thing", b"bad thing"), None),
    (b"x", ("error", GuestError, "bad thing", b"bad thing"), ([], 0)),
    (b"h-call", ("ok", b"h-call"), ([], 1)),
    (b"s", ("trap", GuestTrap,
            "guest returned 1 (success) but set no response with __guest_response"),
     ([], 0)),
    (b"n", ("trap", GuestTrap, "__guest_call returned -1; waPC allows only 1 (success) or 0"),
     ([], 0)),
    (b"t", ("trap", GuestTrap, "guest trapped: "), ([], 0)),
    (b"e", ("error", GuestError, "bad thing", b"bad thing"), ([], 0)),
]


@pytest.mark.parametrize("mode", ["hot", "traced", "watched"])
def test_try_call_agrees_with_call(engine_name: str, mode: str) -> None:
    """Every ending, on the hot path and on both reasons for the full one."""
    events: list[ev.Event] = []
    limits = Limits(max_memory_bytes=64 * PAGE) if mode == "watched" else None
    guest = module_from_wat(ENDINGS, engine_name, limits).instantiate(
        lambda request: b"answer", tracer=events.append if mode == "traced" else None
    )
    for payload, expected, record in ENDING_CASES:
        by_call = outcome_of_call(guest, payload)
        call_record = last_of(guest)
        by_try_call = outcome_of_try_call(guest, payload)
        assert by_try_call == by_call, payload
        assert last_of(guest) == call_record, payload
        # "o" (only an error, returned 1) is recorded with the warning about a guest
        # that set BOTH a response and an error; not pinned here (reported upstream).
        if record is not None:
            assert call_record == record, payload
        if expected[0] == "trap":
            assert by_call[:2] == expected[:2] and by_call[2].startswith(expected[2]), payload
        else:
            assert by_call == expected, payload
    if mode == "traced":
        # one return event per call and per try_call, its outcome the ending's kind
        outcomes = [e.outcome for e in events if isinstance(e, ev.Return)]
        assert outcomes == [expected[0] for _, expected, _ in ENDING_CASES for _ in "12"]


# -- call_timed --------------------------------------------------------------------------


def test_call_does_not_time_and_call_timed_does(engine_name: str) -> None:
    guest = as_module(engine_name).instantiate(kv_handler)
    assert guest.call("echo", b"a") == b"a"
    assert guest.timings.call_ms == 0.0
    assert guest.timings.as_dict()["call"] == 0.0

    started = time.perf_counter()
    assert guest.call_timed("kv_get", b"k") == b"v"
    outer_ms = (time.perf_counter() - started) * 1000
    timed = guest.timings.call_ms
    assert 0.0 < timed <= outer_ms
    assert guest.timings.as_dict()["call"] == round(timed, 3)
    assert last_of(guest) == ([], 1)

    assert guest.call("echo", b"b") == b"b"
    assert guest.timings.call_ms == timed  # a plain call leaves the last timing alone
    failed = guest.try_call("fail")
    assert isinstance(failed, GuestError) and failed.message == "requested failure"
    assert guest.timings.call_ms == timed  # nor does try_call


@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
def test_call_timed_times_calls_that_raise(engine_name: str, traced: bool) -> None:
    events: list[ev.Event] = []
    guest = as_module(engine_name).instantiate(
        kv_handler, tracer=events.append if traced else None
    )
    for operation, raised in [("fail", GuestError), ("trap", GuestTrap)]:
        guest.timings.call_ms = 0.0
        started = time.perf_counter()
        with pytest.raises(raised):
            guest.call_timed(operation)
        outer_ms = (time.perf_counter() - started) * 1000
        assert 0.0 < guest.timings.call_ms <= outer_ms, operation
    guest.timings.call_ms = 0.0
    assert guest.call_timed("echo", b"again") == b"again"  # rebuilt after the trap
    assert guest.timings.call_ms > 0.0


# -- the operation name ------------------------------------------------------------------


class OpName(str):
    """A str subclass (an enum-like or tagged name)."""


OPERATIONS: list[tuple[object, bytes]] = [
    ("q-op", b"q-op"),
    (b"q-op", b"q-op"),
    (bytearray(b"q-op"), b"q-op"),
    (memoryview(b"q-op"), b"q-op"),
    (memoryview(b"__q-op__")[2:6], b"q-op"),
    (OpName("q-op"), b"q-op"),
    ("q-héllo ✓", "q-héllo ✓".encode()),
    ("q", b"q"),
]


@pytest.mark.parametrize(
    ("operation", "expected"), OPERATIONS, ids=[f"{type(o).__name__}-{i}"
                                                for i, (o, _) in enumerate(OPERATIONS)]
)
@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
def test_operation_name_types(
    engine_name: str, operation: Any, expected: bytes, traced: bool
) -> None:
    events: list[ev.Event] = []
    guest = guest_from_wat(ENDINGS, engine_name, tracer=events.append if traced else None)
    # ENDINGS picks by the payload; "q" answers with the operation name as received.
    assert guest.call(operation, b"q") == expected
    assert guest.try_call(operation, b"q") == expected
    assert guest.call_timed(operation, b"q") == expected
    if traced:
        starts = [e for e in events if isinstance(e, ev.GuestCall)]
        assert [(e.operation, e.op_len) for e in starts] == [
            (expected.decode("utf-8", "replace"), len(expected))
        ] * 3


@pytest.mark.parametrize(
    ("operation", "type_name"), [(5, "int"), (None, "NoneType"), (1.5, "float"), (["op"], "list")]
)
@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
def test_operation_of_another_type_is_a_type_error(
    engine_name: str, operation: Any, type_name: str, traced: bool
) -> None:
    events: list[ev.Event] = []
    guest = guest_from_wat(COUNTER, engine_name, tracer=events.append if traced else None)
    message = f"operation must be str or bytes, not {type_name}"
    for method in (guest.call, guest.try_call, guest.call_timed):
        with pytest.raises(TypeError) as info:
            method(operation, b"-")
        assert str(info.value) == message
    # The guest never ran: its call counter is still at 0.
    assert guest.call("op", b"-") == b"1"


# -- the session's memory view (fake engine) ----------------------------------------------


class GrowingViewMemory(BytearrayMemory):
    """A ViewMemory whose base never moves: a preallocated buffer, visible up to ``size``.

    ``view()`` lends ``memoryview(buf)[:size]``; a view taken before the guest grew
    memory stays valid but is shorter than memory, as with wasmtime's fast path.
    """

    lends_views = True

    def __init__(self, size: int = PAGE, capacity: int = 4 * PAGE) -> None:
        super().__init__(capacity)
        self.visible = size
        self.views = 0

    def size(self) -> int:
        return self.visible

    def _check(self, ptr: int, length: int) -> None:
        if ptr < 0 or length < 0 or ptr + length > self.visible:
            self.violations.append(f"{ptr}+{length}")
            raise MemoryMisuse(f"out-of-bounds access {ptr}+{length} reached the memory")

    def grow(self, pages: int) -> None:
        assert self.visible + pages * PAGE <= len(self.data), "past the fake's capacity"
        self.visible += pages * PAGE

    def view(self) -> memoryview:
        self.views += 1
        return memoryview(self.data)[: self.visible]


def grow(pages: int) -> Step:
    def step(instance: FakeInstance) -> None:
        instance.memory.grow(pages)

    return step


def view_memory_of(module: FakeModule) -> GrowingViewMemory:
    assert module.last_instance is not None
    memory = module.last_instance.memory
    assert isinstance(memory, GrowingViewMemory)
    return memory


def test_in_bounds_exchange_uses_the_view_taken_at_instantiation() -> None:
    module = FakeModule(
        on_call=[
            *request(0, 256),
            *host_call("b", "ns", "op", b"key", at=1024),
            call("__host_response", 2048),
            call("__guest_response", 2048, 5),
            Return(1),
        ],
        new_memory=GrowingViewMemory,
    )
    guest = fake_guest(module, host_call=lambda request: b"value")
    memory = view_memory_of(module)
    assert memory.views == 1  # the session's setter
    assert guest.call("op", b"payload") == b"value"
    assert guest.call("op", b"payload") == b"value"
    assert memory.views == 1  # no access went beyond it: no new view asked for
    assert bytes(memory.data[0:2]) == b"op"
    assert bytes(memory.data[256:263]) == b"payload"
    assert memory.violations == []


def test_host_follows_memory_grown_between_imports() -> None:
    seen: list[HostCallRequest] = []

    def handler(request: HostCallRequest) -> bytes:
        seen.append(request)
        return b"value"

    module = FakeModule(
        on_call=[
            grow(1),  # 2 pages; the session's view still ends at 1
            call("__guest_request", PAGE + 16, PAGE + 64),  # host writes past the old end
            *host_call("bind", "ns", "get", b"key-in-page-2", at=PAGE + 1024),  # reads there
            grow(1),  # 3 pages
            call("__host_response", 2 * PAGE + 8),  # host writes past the second end
            call("__guest_response", 2 * PAGE + 8, 5),  # and reads it back
            Return(1),
        ],
        new_memory=GrowingViewMemory,
    )
    guest = fake_guest(module, host_call=handler)
    memory = view_memory_of(module)
    assert guest.call("op", b"payload") == b"value"
    assert bytes(memory.data[PAGE + 16 : PAGE + 18]) == b"op"
    assert bytes(memory.data[PAGE + 64 : PAGE + 71]) == b"payload"
    assert bytes(memory.data[2 * PAGE + 8 : 2 * PAGE + 13]) == b"value"
    assert seen == [HostCallRequest("bind", "ns", "get", b"key-in-page-2")]
    # One view at instantiation, one per access past the cached view's end.
    assert memory.views == 3
    assert memory.violations == []
    assert last_of(guest) == ([], 1)


HIGH = PAGE + 512  # inside the page grow(1) adds, beyond the view taken before it

# Each import as the first access after growth: it alone must ask for a new view.
FIRST_AFTER_GROWTH: list[tuple[str, list[Step], list[Step]]] = [
    ("__guest_request", [call("__guest_request", HIGH, HIGH + 16)],
     [call("__guest_response", HIGH + 16, 7)]),
    ("__guest_response", [Write(HIGH, b"high"), call("__guest_response", HIGH, 4)], []),
    ("__guest_error", [Write(HIGH, b"high"), call("__guest_error", HIGH, 4)],
     [Write(0, b"ok"), call("__guest_response", 0, 2)]),
    ("__host_call", [*host_call("b", "ns", "high", b"payload", at=HIGH)],
     [call("__host_response", 64), call("__guest_response", 64, 5)]),
    ("__host_response",
     [*host_call("b", "ns", "op", b"payload", at=64), call("__host_response", HIGH)],
     [call("__guest_response", HIGH, 5)]),
    ("__host_error",
     [*host_call("b", "ns", "fail", b"payload", at=64), call("__host_error", HIGH)],
     [call("__guest_response", HIGH, 4)]),
    ("__console_log", [Write(HIGH, b"high"), call("__console_log", HIGH, 4)],
     [Write(0, b"ok"), call("__guest_response", 0, 2)]),
]

FIRST_AFTER_GROWTH_RESPONSE = {
    "__guest_request": b"payload",
    "__guest_response": b"high",
    "__guest_error": b"ok",
    "__host_call": b"value",
    "__host_response": b"value",
    "__host_error": b"nope",
    "__console_log": b"ok",
}


def recording_handler(
    asked: list[HostCallRequest], body: bytes
) -> Callable[[HostCallRequest], bytes]:
    """A handler keeping every request it is asked; operation ``fail`` fails ("nope")."""

    def handler(request: HostCallRequest) -> bytes:
        asked.append(request)
        if request.operation == "fail":
            raise HostCallError("nope")
        return body

    return handler


@pytest.mark.parametrize(
    ("what", "steps", "answer"), FIRST_AFTER_GROWTH, ids=[f[0] for f in FIRST_AFTER_GROWTH]
)
def test_first_access_after_growth_takes_a_new_view(
    what: str, steps: list[Step], answer: list[Step]
) -> None:
    asked: list[HostCallRequest] = []
    logs: list[str] = []
    handler = recording_handler(asked, b"value")
    module = FakeModule(
        on_call=[grow(1), *steps, *answer, Return(1)], new_memory=GrowingViewMemory
    )
    guest = fake_guest(module, host_call=handler, on_log=lambda message, _: logs.append(message))
    memory = view_memory_of(module)
    assert guest.call("op", b"payload") == FIRST_AFTER_GROWTH_RESPONSE[what]
    assert memory.views == 2  # the one at instantiation and the one after growth
    assert memory.violations == []
    if what == "__guest_request":
        assert bytes(memory.data[HIGH : HIGH + 2]) == b"op"
    if what == "__guest_error":
        assert guest.session.error == b"high"
    if what == "__host_call":
        assert asked == [HostCallRequest("b", "ns", "high", b"payload")]
    if what == "__console_log":
        assert logs == ["high"]


END = 2 * PAGE  # the size after grow(1)

BEYOND_GROWN: list[tuple[str, list[Step], int, int]] = [
    ("__guest_response", [call("__guest_response", END - 2, 4)], END - 2, 4),
    ("__guest_error", [call("__guest_error", END, 1)], END, 1),
    ("__guest_request (operation)", [call("__guest_request", END - 1, 0)], END - 1, 2),
    ("__guest_request (payload)", [call("__guest_request", 0, END - 3)], END - 3, 7),
    ("__host_call (binding)",
     [call("__host_call", END - 1, 2, 0, 1, 0, 1, 0, 1)], END - 1, 2),
    ("__host_call (payload)",
     [call("__host_call", 0, 1, 0, 1, 0, 1, END - 1, 2)], END - 1, 2),
    ("__host_response",
     [*host_call("b", "ns", "op"), call("__host_response", END - 2)], END - 2, 5),
    ("__host_error",
     [*host_call("b", "ns", "fail"), call("__host_error", END - 3)], END - 3, 4),
    ("__console_log", [call("__console_log", END - 4, 5)], END - 4, 5),
]


@pytest.mark.parametrize(
    ("what", "steps", "pointer", "length"), BEYOND_GROWN, ids=[b[0] for b in BEYOND_GROWN]
)
def test_access_beyond_grown_memory_is_a_trap(
    what: str, steps: list[Step], pointer: int, length: int
) -> None:
    asked: list[HostCallRequest] = []
    handler = recording_handler(asked, b"12345")
    module = FakeModule(
        on_call=[grow(1), *steps, Return(1)], new_memory=GrowingViewMemory
    )
    guest = fake_guest(module, host_call=handler)
    with pytest.raises(GuestTrap) as info:
        guest.call("op", b"payload")
    assert str(info.value) == (
        f"{what}: pointer {pointer:#x} + length {length} is outside guest memory "
        f"({END} bytes)"
    )
    memory = view_memory_of(module)
    assert memory.violations == []
    # Nothing was written past the end (no truncated or partial write either).
    assert bytes(memory.data[END - 8 :]) == bytes(len(memory.data) - END + 8)
    if what.startswith("__host_call"):
        assert asked == []  # the handler never ran on a span outside memory


# (what the message names, the script's steps after a successful or failed host call,
#  the u32 pointer and length in the message)
NEGATIVE: list[tuple[str, list[Step], int, int]] = [
    ("__guest_request (operation)", [call("__guest_request", -4, 256)], 0xFFFFFFFC, 2),
    ("__guest_request (payload)", [call("__guest_request", 0, -4)], 0xFFFFFFFC, 7),
    ("__guest_request (payload)", [call("__guest_request", 0, -(2**31))], 0x80000000, 7),
    ("__guest_response", [call("__guest_response", -4, 4)], 0xFFFFFFFC, 4),
    ("__guest_response", [call("__guest_response", -4, 0)], 0xFFFFFFFC, 0),
    ("__guest_response", [call("__guest_response", 16, -4)], 16, 0xFFFFFFFC),
    ("__guest_error", [call("__guest_error", -4, 4)], 0xFFFFFFFC, 4),
    ("__host_call (binding)",
     [call("__host_call", -4, 4, 0, 1, 0, 1, 0, 1)], 0xFFFFFFFC, 4),
    ("__host_call (binding)",
     [call("__host_call", 8, -1, 0, 1, 0, 1, 0, 1)], 8, 0xFFFFFFFF),
    ("__host_call (namespace)",
     [call("__host_call", 0, 1, -4, 4, 0, 1, 0, 1)], 0xFFFFFFFC, 4),
    ("__host_call (namespace)",
     [call("__host_call", 0, 1, 8, -8, 0, 1, 0, 1)], 8, 0xFFFFFFF8),
    ("__host_call (operation)",
     [call("__host_call", 0, 1, 0, 1, -4, 4, 0, 1)], 0xFFFFFFFC, 4),
    ("__host_call (operation)",
     [call("__host_call", 0, 1, 0, 1, 8, -2, 0, 1)], 8, 0xFFFFFFFE),
    ("__host_call (payload)",
     [call("__host_call", 0, 1, 0, 1, 0, 1, -4, 4)], 0xFFFFFFFC, 4),
    ("__host_call (payload)",
     [call("__host_call", 0, 1, 0, 1, 0, 1, 8, -4)], 8, 0xFFFFFFFC),
    ("__host_response",
     [*host_call("b", "ns", "op"), call("__host_response", -4)], 0xFFFFFFFC, 5),
    ("__host_response",
     [*host_call("b", "ns", "op"), call("__host_response", -(2**31))], 0x80000000, 5),
    ("__host_error",
     [*host_call("b", "ns", "fail"), call("__host_error", -2)], 0xFFFFFFFE, 4),
    ("__console_log", [call("__console_log", -4, 4)], 0xFFFFFFFC, 4),
]


@pytest.mark.parametrize("delivery", ["signed", "unsigned"])
@pytest.mark.parametrize("memory_kind", ["plain", "view"])
@pytest.mark.parametrize(
    ("what", "steps", "pointer", "length"),
    NEGATIVE,
    ids=[f"{n[0]}-{i}" for i, n in enumerate(NEGATIVE)],
)
def test_negative_i32_arguments_are_read_as_u32(
    what: str, steps: list[Step], pointer: int, length: int, memory_kind: str,
    delivery: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pointers and lengths past 2**31 fault, whether the engine hands them over
    signed (most do) or unsigned, saying so (``unsigned_args``: the core then
    skips its sign test, as on wasmtime's fast path)."""
    if delivery == "unsigned":
        import fake_engine

        monkeypatch.setattr(fake_engine, "_i32", lambda value: value & 0xFFFFFFFF)
        monkeypatch.setattr(FakeInstance, "unsigned_args", True)
    asked: list[HostCallRequest] = []
    handler = recording_handler(asked, b"12345")
    new_memory: Callable[[int], BytearrayMemory] = (
        GrowingViewMemory if memory_kind == "view" else BytearrayMemory
    )
    module = FakeModule(on_call=[*steps, Return(1)], new_memory=new_memory)
    guest = fake_guest(module, host_call=handler)
    assert guest.session.checked.unsigned is (delivery == "unsigned")
    before = bytes(view_memory_of(module).data) if memory_kind == "view" else None
    with pytest.raises(GuestTrap) as info:
        guest.call("op", b"payload")
    assert str(info.value) == (
        f"{what}: pointer {pointer:#x} + length {length} is outside guest memory "
        f"({PAGE} bytes)"
    )
    assert module.last_instance is not None
    assert module.last_instance.memory.violations == []
    if what.startswith("__host_call"):
        assert asked == []
    if before is not None:  # a negative index into the view would have written its end
        assert bytes(view_memory_of(module).data[PAGE - 16 :]) == before[PAGE - 16 :]
    # The fault rebuilt the instance; the next call runs on a fresh one.
    module.on_call = [*request(), call("__guest_response", 256, 7), Return(1)]
    assert guest.call("op", b"payload") == b"payload"


# -- wasmtime's fast path: telling a trap from a result equal to op_len ------------------

PATHS = ("fast", "public")


def wasmtime_guest(
    path: str, monkeypatch: pytest.MonkeyPatch, text: str = ENDINGS, **kw: Any
) -> Guest:
    monkeypatch.setenv("WAPC_WASMTIME_PATH", path)
    engine = WasmtimeEngine()
    assert engine.fast is (path == "fast")
    limits = Limits()
    compiled = engine.compile(bytes(wasmtime.wat2wasm(text)), limits)
    guest = WapcModule(compiled, "<wat>", limits, 0.0).instantiate(**kw)
    expected = "FastInstance" if path == "fast" else "WasmtimeInstance"
    assert type(guest._instance).__name__ == expected
    return guest


@pytest.mark.parametrize("path", PATHS)
def test_one_byte_operation_returning_1(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    guest = wasmtime_guest(path, monkeypatch)
    # __guest_call(1, n) returns 1: the result slot still reads as op_len.
    assert [guest.call("x", b"r%d" % i) for i in range(3)] == [b"r0", b"r1", b"r2"]
    assert guest.try_call("x", b"r") == b"r"
    assert guest.call_timed("x", b"r!") == b"r!"


@pytest.mark.parametrize("path", PATHS)
def test_one_byte_operation_that_traps(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    guest = wasmtime_guest(path, monkeypatch)
    assert guest.call("x", b"r") == b"r"
    with pytest.raises(GuestTrap) as info:
        guest.call("x", b"t")
    assert info.value.message.startswith("guest trapped: wasm trap: wasm `unreachable`")
    with pytest.raises(GuestTrap):
        guest.try_call("x", b"t")
    # After a trap (trap_out was set) a normal 1 for a 1-byte name is not a trap.
    assert guest.call("x", b"r-after") == b"r-after"
    assert guest.call("x", b"r-again") == b"r-again"


@pytest.mark.parametrize("path", PATHS)
def test_empty_operation_that_traps(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    guest = wasmtime_guest(path, monkeypatch)
    with pytest.raises(GuestTrap) as info:
        guest.call("", b"t")
    assert info.value.message.startswith("guest trapped: wasm trap: wasm `unreachable`")
    assert guest.call("", b"r") == b"r"


@pytest.mark.parametrize("path", PATHS)
def test_empty_operation_returning_0_with_an_error(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest = wasmtime_guest(path, monkeypatch)
    # __guest_call(0, n) returns 0: the result slot still reads as op_len.
    for _ in range(2):
        with pytest.raises(GuestError) as info:
            guest.call("", b"e")
        assert (info.value.message, info.value.raw) == ("bad thing", b"bad thing")
    returned = guest.try_call(b"", b"e")
    assert isinstance(returned, GuestError) and returned.message == "bad thing"
    with pytest.raises(GuestError) as no_error:
        guest.call("", b"z")
    assert no_error.value.message == NO_ERROR_SET
    assert guest.call("", b"r") == b"r"  # no trap noted along the way: same instance


GROWER = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 300) "grown!")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (drop (memory.grow (i32.const 1)))
    (memory.copy (i32.const {PAGE + 8}) (i32.const 300) (i32.const 6))
    (call $guest_response (i32.const {PAGE + 8}) (i32.const 6))
    (i32.const 1))
)"""


def test_memory_views_keep_their_base_as_memory_grows(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memories that lend the core a view never move: wasmtime's fast path
    (memory_may_move=False) and wasmer's static memories."""
    if engine_name == "wasmtime":
        guest = wasmtime_guest("fast", monkeypatch, GROWER)
        memory_class = "FastMemory"
    else:
        guest = guest_from_wat(GROWER, engine_name)
        memory_class = "StaticWasmerMemory"
    memory = guest.session.memory
    assert type(memory).__name__ == memory_class
    view = getattr(memory, "view", None)
    assert view is not None
    before = view()
    assert len(before) == PAGE
    # The guest grows memory, then answers from the new page: beyond the view the
    # session took at instantiation.
    assert guest.call("op") == b"grown!"
    after = view()
    assert (len(before), len(after), memory.size()) == (PAGE, 2 * PAGE, 2 * PAGE)
    assert after[PAGE + 8 : PAGE + 14].tobytes() == b"grown!"
    after[16:20] = b"same"  # one base: a write through the new view shows in the old
    assert before[16:20].tobytes() == b"same"
    assert memory.read(PAGE + 8, 6) == b"grown!"
    with pytest.raises(IndexError):
        memory.read(2 * PAGE - 2, 4)
    with pytest.raises(IndexError):
        memory.write(-1, b"x")


@pytest.mark.parametrize("path", PATHS)
def test_engine_instance_called_again_after_a_trap_reports_no_stale_trap(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine contract below Guest (which rebuilds): a trap is reported once."""
    guest = wasmtime_guest(path, monkeypatch)
    instance = guest._instance
    assert instance is not None
    session = guest.session
    session.begin(b"x", b"t")
    with pytest.raises(EngineTrap) as info:
        instance.guest_call(1, 1)
    assert "unreachable" in info.value.info.message
    session.begin(b"x", b"r")
    assert instance.guest_call(1, 1) == 1  # result == op_len, and trap_out was set before
    assert session.response == b"r"
    session.begin(b"", b"e")
    assert instance.guest_call(0, 1) == 0
    assert session.error == b"bad thing"


def _host_abort(request: HostCallRequest) -> bytes:
    raise HostAbort(GuestTrap("stopped by the host: " + request.payload.decode()))


FAST_PATH_CASES: list[tuple[str, bytes, Outcome]] = [
    ("x", b"r1", ("ok", b"r1")),
    ("x", b"t", ("trap", GuestTrap, "guest trapped: wasm trap: wasm `unreachable`")),
    ("x", b"r2", ("ok", b"r2")),
    ("", b"t", ("trap", GuestTrap, "guest trapped: wasm trap: wasm `unreachable`")),
    ("", b"e", ("error", GuestError, "bad thing", b"bad thing")),
    ("", b"r", ("ok", b"r")),
    ("", b"n", ("trap", GuestTrap, "__guest_call returned -1; waPC allows only 1")),
    ("x", b"n", ("trap", GuestTrap, "__guest_call returned -1; waPC allows only 1")),
    ("x", b"l", ("ok", b"l")),  # returns op_len, which is 1
    ("1234567", b"l", ("trap", GuestTrap, "__guest_call returned 7; waPC allows only 1")),
    ("", b"l", ("error", GuestError, NO_ERROR_SET, b"")),  # returns op_len, which is 0
    ("x", b"h1", ("trap", GuestTrap, "stopped by the host: h1")),
    ("", b"h2", ("trap", GuestTrap, "stopped by the host: h2")),
    ("x", b"e", ("error", GuestError, "bad thing", b"bad thing")),
    ("x", b"r3", ("ok", b"r3")),
]


def test_fast_and_public_paths_agree_on_short_operation_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcomes: dict[str, list[Outcome]] = {}
    for path in PATHS:
        guest = wasmtime_guest(path, monkeypatch, host_call=_host_abort)
        results: list[Outcome] = []
        for operation, payload, _ in FAST_PATH_CASES:
            try:
                results.append(("ok", guest.call(operation, payload)))
            except GuestError as exc:
                results.append(("error", type(exc), exc.message, exc.raw))
            except WapcError as exc:
                results.append(("trap", type(exc), str(exc)))
        outcomes[path] = results
    assert outcomes["fast"] == outcomes["public"]
    for (operation, payload, expected), got in zip(
        FAST_PATH_CASES, outcomes["fast"], strict=True
    ):
        if expected[0] == "trap":
            assert got[:2] == expected[:2] and got[2].startswith(expected[2]), (operation, payload)
        else:
            assert got == expected, (operation, payload)


# -- tracing wraps the imports only when asked ---------------------------------------------

PLAIN_IMPORTS = {
    ("wapc", "__guest_request"): "guest_request",
    ("wapc", "__guest_response"): "guest_response",
    ("wapc", "__guest_error"): "guest_error",
    ("wapc", "__host_call"): "host_call",
    ("wapc", "__host_response_len"): "host_response_len",
    ("wapc", "__host_response"): "host_response",
    ("wapc", "__host_error_len"): "host_error_len",
    ("wapc", "__host_error"): "host_error",
    ("wapc", "__console_log"): "console_log",
    ("env", "__console_log"): "env_console_log",
    ("env", "abort"): "env_abort",
}


def test_untraced_session_hands_out_its_plain_bound_methods(engine_name: str) -> None:
    guest = as_module(engine_name).instantiate(kv_handler)
    session = guest.session
    imports = session.imports()
    assert set(imports) == set(PLAIN_IMPORTS)
    for key, attribute in PLAIN_IMPORTS.items():
        assert imports[key] == getattr(session, attribute), key
    assert imports[("wapc", "__host_call")] == session.host_call
    assert session.handler is kv_handler  # not wrapped to record requests
    assert guest.call("kv_get", b"k") == b"v"


def test_traced_session_wraps_the_wapc_imports(engine_name: str) -> None:
    events: list[ev.Event] = []
    guest = as_module(engine_name).instantiate(kv_handler, tracer=events.append)
    session = guest.session
    imports = session.imports()
    assert set(imports) == set(PLAIN_IMPORTS)
    assert imports[("wapc", "__host_call")] != session.host_call
    assert imports[("wapc", "__guest_request")] != session.guest_request
    assert guest.call("kv_get", b"k") == b"v"
    assert [e.name for e in events].count("host_call") == 1


def test_untraced_run_does_not_load_the_tracing_modules() -> None:
    code = (
        "import sys\n"
        "from wapc_cli.runtime.guest import load_module\n"
        f"guest = load_module({str(AS_GUEST)!r}).instantiate(lambda r: b'v')\n"
        "assert guest.call('kv_get', b'k') == b'v'\n"
        "assert guest.try_call('fail').message == 'requested failure'\n"
        "assert guest.call_timed('echo', b'e') == b'e'\n"
        "print(sorted(m for m in ('wapc_cli.runtime.traced', 'wapc_cli.runtime.events')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_traced_host_call_names_the_stub_that_answered(engine_name: str) -> None:
    events: list[ev.Event] = []

    def handler(request: HostCallRequest) -> HostReply:
        return HostReply(b"v", source="rule-1")

    guest = as_module(engine_name).instantiate(handler, tracer=events.append)
    events.clear()
    assert guest.call("kv_get", b"key") == b"v"
    assert [e.name for e in events] == [
        "guest_call", "guest_request", "host_call", "host_response_len", "host_response",
        "guest_response", "return",
    ]
    (event,) = [e for e in events if isinstance(e, ev.HostCall)]
    assert (event.binding, event.namespace, event.operation) == ("tarmac", "kvstore", "get")
    assert event.payload == b"key"
    assert event.result == 1
    assert event.response == b"v"
    assert event.error is None
    assert event.stub == "rule-1"
    assert event.duration_ns > 0


def test_traced_host_call_that_the_handler_failed(engine_name: str) -> None:
    events: list[ev.Event] = []

    def handler(request: HostCallRequest) -> bytes:
        raise HostCallError("nope")

    guest = as_module(engine_name).instantiate(handler, tracer=events.append)
    events.clear()
    result = guest.try_call("kv_get", b"key")
    assert isinstance(result, GuestError)
    assert result.message == "host error: nope"
    (event,) = [e for e in events if isinstance(e, ev.HostCall)]
    assert (event.binding, event.namespace, event.operation) == ("tarmac", "kvstore", "get")
    assert event.payload == b"key"
    assert event.result == 0
    assert event.error == "nope"
    assert event.response == b""
    assert event.stub is None
    end = events[-1]
    assert isinstance(end, ev.Return)
    assert (end.outcome, end.message) == ("error", "host error: nope")

    # A plain-bytes answer after the failure: no stub, and no stale error.
    plain = as_module(engine_name).instantiate(lambda r: b"w", tracer=events.append)
    events.clear()
    assert plain.call("kv_get", b"key") == b"w"
    (event,) = [e for e in events if isinstance(e, ev.HostCall)]
    assert (event.result, event.response, event.error, event.stub) == (1, b"w", None, None)


@pytest.mark.parametrize("method", ["call", "try_call"])
def test_hot_path_resets_the_exchange_exactly_as_begin_does(method: str) -> None:
    """call/try_call write session.begin() out on their hot path: the state a
    guest call starts from must be the same, field for field, after an exchange
    that left everything set (response, error, host answer and failure, warning)."""
    seen: list[dict[str, object]] = []
    messy: list[Step] = [
        *request(), *host_call("b", "ns", "op"), *host_call("b", "ns", "fail"),
        *respond(512, b"r"), *error(600, "e"), Return(1),
    ]
    module = FakeModule(
        per_call=[messy, [lambda instance: seen.append(dict(vars(guest.session))), Return(0)]]
    )

    def handler(request: HostCallRequest) -> bytes:
        if request.operation == "fail":
            raise HostCallError("nope")
        return b"body"

    guest = fake_guest(module, host_call=handler)
    assert guest._hot_call is not None
    assert getattr(guest, method)("first", b"one") == b"r"
    assert guest.last.warnings and guest.session.host_fault == b"nope"
    with contextlib.suppress(GuestError):
        getattr(guest, method)("second", b"two")
    [at_entry] = seen
    guest.session.begin(b"second", b"two")
    assert dict(vars(guest.session)) == at_entry
