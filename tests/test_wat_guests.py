"""Inline WAT guests on every installed engine: the ABI as real wasm exercises it."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import WAPC_IMPORTS, guest_from_wat, module_from_wat

from wapc_cli.engines.base import Limits
from wapc_cli.errors import (
    GuestError,
    GuestTrap,
    LimitExceeded,
    NotAGuest,
    StubFailure,
    UsageError,
    WapcError,
)
from wapc_cli.runtime import events as ev
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest
from wapc_cli.runtime.session import HostAbort
from wapc_cli.runtime.wasi import WasiOptions


def guest_module(body: str, imports: str = "") -> str:
    """A module importing all nine waPC functions (allowed; none is required)."""
    return f"(module {WAPC_IMPORTS} {imports} {body})"


def data(address: int, raw: bytes) -> str:
    escaped = "".join(f"\\{byte:02x}" for byte in raw)
    return f'(data (i32.const {address}) "{escaped}")'


def as_string(address: int, text: str) -> str:
    """An AssemblyScript string at ``address``: UTF-16LE, byte length 4 bytes before."""
    encoded = text.encode("utf-16-le")
    return data(address - 4, len(encoded).to_bytes(4, "little") + encoded)


ECHO = guest_module("""
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (call $guest_response (i32.const 1024) (local.get $len))
    (i32.const 1))
""")

NO_RESPONSE = guest_module("""
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (i32.const 1))
""")

BOTH_SET = guest_module("""
  (memory (export "memory") 1)
  (data (i32.const 100) "resp")
  (data (i32.const 200) "err!")
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $guest_response (i32.const 100) (i32.const 4))
    (call $guest_error (i32.const 200) (i32.const 4))
    (i32.const 1))
""")

ERROR_THEN_TRAP = guest_module("""
  (memory (export "memory") 1)
  (data (i32.const 200) "oops: bad input")
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $guest_error (i32.const 200) (i32.const 15))
    unreachable)
""")

SENTINEL = b"\xaa" * 64
ANSWER_AT = 4096

# Forwards its payload to binding:namespace:operation and reports the host's answer
# (response or error) as its own, copied through ANSWER_AT.
HOST_RELAY = guest_module(f"""
  (memory (export "memory") 1)
  (data (i32.const 100) "binding")
  (data (i32.const 120) "namespace")
  (data (i32.const 140) "operation")
  {data(ANSWER_AT, SENTINEL)}
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $n i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (if (result i32)
      (call $host_call (i32.const 100) (i32.const 7) (i32.const 120) (i32.const 9)
                       (i32.const 140) (i32.const 9) (i32.const 1024) (local.get $len))
      (then
        (local.set $n (call $host_response_len))
        (call $host_response (i32.const {ANSWER_AT}))
        (call $guest_response (i32.const {ANSWER_AT}) (local.get $n))
        (i32.const 1))
      (else
        (local.set $n (call $host_error_len))
        (call $host_error (i32.const {ANSWER_AT}))
        (call $guest_error (i32.const {ANSWER_AT}) (local.get $n))
        (i32.const 0))))
""")

# Each init step appends its number at 16+n; __guest_call answers with the record.
INIT_ORDER = guest_module(
    """
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 100) "init")
  (data (i32.const 120) "config")
  (data (i32.const 140) "load")
  (func $mark (param $id i32)
    (i32.store8 (i32.add (i32.const 16) (global.get $n)) (local.get $id))
    (global.set $n (i32.add (global.get $n) (i32.const 1))))
  (func $start_section (call $mark (i32.const 1)))
  (start $start_section)
  (func (export "_start")
    (call $mark (i32.const 2))
    (call $proc_exit (i32.const 0))
    unreachable)
  (func (export "_initialize") (call $mark (i32.const 3)))
  (func (export "wapc_init")
    (call $mark (i32.const 4))
    ;; a host call during init; its answer is copied to 64 and marked
    (if (call $host_call (i32.const 100) (i32.const 4) (i32.const 120) (i32.const 6)
                         (i32.const 140) (i32.const 4) (i32.const 0) (i32.const 0))
      (then (call $host_response (i32.const 64)) (call $mark (i32.const 5)))))
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $guest_response (i32.const 16) (global.get $n))
    (i32.const 1))
""",
    '(import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))',
)


def wasi_write_guest(wasi_module: str) -> str:
    """Writes to stdout and stderr through fd_write, then answers "resp"."""
    iovecs = struct.pack("<IIII", 300, 6, 310, 12)
    return guest_module(
        f"""
  (memory (export "memory") 1)
  {data(200, iovecs)}
  (data (i32.const 300) "hello\\n")
  (data (i32.const 310) "to stderr\\npa")
  (data (i32.const 340) "resp")
  (func (export "__guest_call") (param i32 i32) (result i32)
    (i32.store (i32.const 400) (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1)
                                               (i32.const 404)))
    (drop (call $fd_write (i32.const 2) (i32.const 208) (i32.const 1) (i32.const 408)))
    (call $guest_response (i32.const 340) (i32.const 4))
    (i32.const 1))
""",
        f'(import "{wasi_module}" "fd_write"'
        " (func $fd_write (param i32 i32 i32 i32) (result i32)))",
    )


WASI_ENVIRON = guest_module(
    """
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (drop (call $environ_sizes_get (i32.const 8) (i32.const 12)))
    (drop (call $args_get (i32.const 100) (i32.const 200)))
    (drop (call $environ_get (i32.const 300) (i32.const 400)))
    (call $guest_response (i32.const 0) (i32.const 512))
    (i32.const 1))
""",
    """
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
""",
)

ABORT = guest_module(
    f"""
  (memory (export "memory") 1)
  {as_string(104, "boom: bad state")}
  {as_string(204, "assembly/index.ts")}
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $abort (i32.const 104) (i32.const 204) (i32.const 42) (i32.const 7))
    (i32.const 1))
""",
    '(import "env" "abort" (func $abort (param i32 i32 i32 i32)))',
)

LOGS = guest_module(
    """
  (memory (export "memory") 1)
  (data (i32.const 100) "from wapc")
  (data (i32.const 200) "from env (zig) \\c3\\a9")
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $console_log (i32.const 100) (i32.const 9))
    (call $env_console_log (i32.const 200) (i32.const 17))
    (call $guest_response (i32.const 100) (i32.const 4))
    (i32.const 1))
""",
    '(import "env" "__console_log" (func $env_console_log (param i32 i32)))',
)

# Grows memory by 64 pages mid-call, then has the host write its answer into the
# new region: the host must follow memory that may have moved.
GROWTH = guest_module("""
  (memory (export "memory") 1)
  (data (i32.const 100) "binding")
  (data (i32.const 120) "namespace")
  (data (i32.const 140) "operation")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $n i32) (local $at i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (local.set $at (i32.add (i32.mul (memory.grow (i32.const 64)) (i32.const 65536))
                            (i32.const 1000)))
    (drop (call $host_call (i32.const 100) (i32.const 7) (i32.const 120) (i32.const 9)
                           (i32.const 140) (i32.const 9) (i32.const 1024) (local.get $len)))
    (local.set $n (call $host_response_len))
    (call $host_response (local.get $at))
    (call $guest_response (local.get $at) (local.get $n))
    (i32.const 1))
""")

START_TRAP = guest_module("""
  (memory (export "memory") 1)
  (func $boom unreachable)
  (start $boom)
  (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1))
""")

# op "trap" traps; anything else answers "fine" (to show the rebuilt instance works).
TRAP_ON_OP = guest_module("""
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 100) "fine")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x70617274)) (then unreachable))
    (i32.store8 (i32.const 104) (i32.add (i32.const 48) (global.get $calls)))
    (call $guest_response (i32.const 100) (i32.const 5))
    (i32.const 1))
""")


def hostile(import_call: str) -> str:
    return guest_module(f"""
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    {import_call}
    (i32.const 1))
""")


Logs = list[tuple[str, str]]


def collecting() -> tuple[Logs, Callable[[str, str], None]]:
    logs: Logs = []
    return logs, lambda message, source: logs.append((message, source))


# -- the basic exchange --------------------------------------------------------------


def test_echo(engine_name: str) -> None:
    guest = guest_from_wat(ECHO, engine_name)
    assert guest.call("echo", b"hello") == b"hello"
    assert guest.call("echo", b"") == b""
    assert guest.call("echo", bytes(range(256)) * 10) == bytes(range(256)) * 10


def test_no_response_set(engine_name: str) -> None:
    guest = guest_from_wat(NO_RESPONSE, engine_name)
    with pytest.raises(GuestTrap, match="set no response"):
        guest.call("op")


def test_response_and_error_both_set(engine_name: str) -> None:
    guest = guest_from_wat(BOTH_SET, engine_name)
    assert guest.call("op") == b"resp"
    assert len(guest.last.warnings) == 1
    assert "both a response and an error" in guest.last.warnings[0]


def test_host_call_without_handler(engine_name: str) -> None:
    guest = guest_from_wat(HOST_RELAY, engine_name)
    with pytest.raises(GuestError) as info:
        guest.call("op", b"payload")
    assert info.value.message == "no host call handler for binding:namespace:operation"


def test_host_call_with_handler(engine_name: str) -> None:
    seen: list[HostCallRequest] = []

    def handler(request: HostCallRequest) -> bytes:
        seen.append(request)
        return request.payload[::-1]

    guest = guest_from_wat(HOST_RELAY, engine_name, host_call=handler)
    assert guest.call("op", b"abc") == b"cba"
    assert seen == [HostCallRequest("binding", "namespace", "operation", b"abc")]


def test_host_error_is_counted_and_written_in_utf8_bytes(engine_name: str) -> None:
    message = "échec: 失敗 ✗"
    encoded = message.encode("utf-8")

    def handler(request: HostCallRequest) -> bytes:
        raise HostCallError(message)

    guest = guest_from_wat(HOST_RELAY, engine_name, host_call=handler)
    with pytest.raises(GuestError) as info:
        guest.call("op")
    assert info.value.raw == encoded
    assert info.value.message == message
    memory = guest.session.memory
    assert memory is not None
    after = memory.read(ANSWER_AT + len(encoded), len(SENTINEL) - len(encoded))
    assert after == SENTINEL[len(encoded) :]  # nothing written past the bytes counted


def test_handler_exception_becomes_a_failed_host_call(engine_name: str) -> None:
    def buggy(request: HostCallRequest) -> bytes:
        return {}["missing"]  # type: ignore[no-any-return]

    guest = guest_from_wat(HOST_RELAY, engine_name, host_call=buggy)
    with pytest.raises(GuestError) as info:
        guest.call("op")
    assert info.value.message == "host call handler raised KeyError: 'missing'"
    assert guest.call  # the guest survives: the next call runs normally
    with pytest.raises(GuestError):
        guest.call("op")


def test_host_abort_stops_the_run(engine_name: str) -> None:
    def abort(request: HostCallRequest) -> bytes:
        raise HostAbort(StubFailure("stub table: no rule for binding:namespace:operation"))

    guest = guest_from_wat(HOST_RELAY, engine_name, host_call=abort)
    with pytest.raises(StubFailure, match="no rule for binding:namespace:operation"):
        guest.call("op")


def test_guest_error_then_trap_reports_both(engine_name: str) -> None:
    guest = guest_from_wat(ERROR_THEN_TRAP, engine_name)
    with pytest.raises(GuestTrap) as info:
        guest.call("op")
    assert info.value.guest_error == "oops: bad input"
    assert "unreachable" in info.value.message
    assert "oops: bad input" in str(info.value)


def test_trap_then_the_rebuilt_instance_answers(engine_name: str) -> None:
    guest = guest_from_wat(TRAP_ON_OP, engine_name)
    assert guest.call("ok") == b"fine1"
    assert guest.call("ok") == b"fine2"
    with pytest.raises(GuestTrap, match="unreachable"):
        guest.call("trap")
    assert guest.call("ok") == b"fine1"  # fresh instance: its globals start over


# -- init ------------------------------------------------------------------------------


def test_init_order_and_host_calls_during_init(engine_name: str) -> None:
    seen: list[str] = []
    events: list[ev.Event] = []

    def handler(request: HostCallRequest) -> bytes:
        seen.append(request.key)
        return b"cfg"

    guest = guest_from_wat(INIT_ORDER, engine_name, host_call=handler, tracer=events.append)
    # start section, _start (ends with proc_exit(0)), _initialize, wapc_init (+ host call)
    assert guest.call("op") == b"\x01\x02\x03\x04\x05"
    assert guest.call("op") == b"\x01\x02\x03\x04\x05"  # init ran once
    assert seen == ["init:config:load"]
    steps = [(e.step, e.outcome) for e in events if isinstance(e, ev.InitStep)]
    assert steps == [
        ("instantiate", "ok"), ("start section", "ok"), ("_start", "exit(0)"),
        ("_initialize", "ok"), ("wapc_init", "ok"),
    ]


def test_trap_in_start_section(engine_name: str) -> None:
    module = module_from_wat(START_TRAP, engine_name)
    with pytest.raises(GuestTrap) as info:
        module.instantiate()
    assert info.value.phase == "start section"
    assert "unreachable" in info.value.message


def test_nonzero_proc_exit_in_start_is_a_trap(engine_name: str) -> None:
    text = INIT_ORDER.replace("(call $proc_exit (i32.const 0))", "(call $proc_exit (i32.const 3))")
    with pytest.raises(GuestTrap) as info:
        guest_from_wat(text, engine_name)
    assert info.value.message == "guest exited with proc_exit(3)"
    assert info.value.phase == "_start"


# -- env and WASI imports ----------------------------------------------------------------


@pytest.mark.parametrize("wasi_module", ["wasi_snapshot_preview1", "wasi_unstable"])
def test_wasi_output_goes_to_the_log_not_the_response(
    engine_name: str, wasi_module: str, capfd: pytest.CaptureFixture[str]
) -> None:
    logs, on_log = collecting()
    guest = guest_from_wat(wasi_write_guest(wasi_module), engine_name, on_log=on_log)
    assert guest.call("op") == b"resp"
    assert logs == [("hello", "wasi:stdout"), ("to stderr", "wasi:stderr"), ("pa", "wasi:stderr")]
    memory = guest.session.memory
    assert memory is not None
    errno, nwritten = struct.unpack("<II", memory.read(400, 8))
    assert (errno, nwritten) == (0, 6)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_wasi_output_without_a_log_sink_is_dropped(
    engine_name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    guest = guest_from_wat(wasi_write_guest("wasi_snapshot_preview1"), engine_name)
    assert guest.call("op") == b"resp"
    assert capfd.readouterr().out == ""


def _wasi_view(raw: bytes) -> tuple[list[bytes], list[bytes]]:
    argc, argv_size, envc, env_size = struct.unpack_from("<IIII", raw)
    args = raw[200 : 200 + argv_size].split(b"\0")[:-1]
    env = raw[400 : 400 + env_size].split(b"\0")[:-1]
    assert len(args) == argc and len(env) == envc
    return args, env


def test_wasi_environ_and_args_are_empty_by_default(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAPC_SECRET", "must-not-leak")
    guest = guest_from_wat(WASI_ENVIRON, engine_name)
    args, env = _wasi_view(guest.call("op"))
    assert args == []  # not even a program name: it could leak a host path
    assert env == []


def test_wasi_environ_and_args_when_granted(engine_name: str) -> None:
    options = WasiOptions(args=["--flag", "x"], env={"KEY": "välue", "B": ""})
    guest = guest_from_wat(WASI_ENVIRON, engine_name, wasi=options)
    args, env = _wasi_view(guest.call("op"))
    assert args == [b"guest.wasm", b"--flag", b"x"]
    assert env == ["KEY=välue".encode(), b"B="]


def test_env_abort_assemblyscript_message(engine_name: str) -> None:
    guest = guest_from_wat(ABORT, engine_name)
    with pytest.raises(GuestTrap) as info:
        guest.call("op")
    assert info.value.message == "abort: boom: bad state at assembly/index.ts:42:7"


def test_console_logs(engine_name: str) -> None:
    logs, on_log = collecting()
    guest = guest_from_wat(LOGS, engine_name, on_log=on_log)
    assert guest.call("op") == b"from"
    assert logs == [("from wapc", "wapc"), ("from env (zig) é", "env")]


# -- memory ----------------------------------------------------------------------------


def test_memory_growth_inside_a_call(engine_name: str) -> None:
    payload = bytes(range(256)) * 100  # the answer (4x) spans pages of the new region
    guest = guest_from_wat(GROWTH, engine_name, host_call=lambda r: r.payload[::-1] * 4)
    assert guest.call("op", payload) == payload[::-1] * 4
    assert guest.call("op", b"again") == b"niaga" * 4
    memory = guest.session.memory
    assert memory is not None
    assert memory.size() == (1 + 64 + 64) * 65536


HOSTILE = [
    ("__console_log", "(call $console_log (i32.const 0) (i32.const 0x7fffffff))", 0, 0x7FFFFFFF),
    ("__guest_response", "(call $guest_response (i32.const -1) (i32.const 4))", 0xFFFFFFFF, 4),
    ("__guest_error", "(call $guest_error (i32.const 65535) (i32.const 2))", 65535, 2),
    ("__guest_request (operation)", "(call $guest_request (i32.const -4) (i32.const 0))",
     0xFFFFFFFC, 2),
    ("__host_call (payload)",
     "(drop (call $host_call (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1) "
     "(i32.const 0) (i32.const 1) (i32.const 65000) (i32.const 600)))", 65000, 600),
]


@pytest.mark.parametrize(
    ("what", "code", "pointer", "length"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_out_of_range_pointers_trap_naming_the_import(
    engine_name: str, what: str, code: str, pointer: int, length: int
) -> None:
    guest = guest_from_wat(hostile(code), engine_name)
    with pytest.raises(GuestTrap) as info:
        guest.call("op")
    assert info.value.message == (
        f"{what}: pointer {pointer:#x} + length {length} is outside guest memory (65536 bytes)"
    )


# -- not a guest -----------------------------------------------------------------------------

NOT_GUESTS = {
    "no __guest_call": (
        '(module (memory (export "memory") 1) (func (export "guest_call") (param i32 i32) '
        "(result i32) (i32.const 1)))",
        "does not export a function '__guest_call'",
    ),
    "wrong signature": (
        '(module (memory (export "memory") 1) (func (export "__guest_call") (param i32) '
        "(result i32) (i32.const 1)))",
        "'__guest_call' has type (i32) -> (i32), expected (i32, i32) -> (i32)",
    ),
    "no memory export": (
        '(module (memory 1) (func (export "__guest_call") (param i32 i32) (result i32) '
        "(i32.const 1)))",
        "does not export its memory as 'memory'",
    ),
    "unknown wapc import": (
        '(module (import "wapc" "__bogus" (func)) (memory (export "memory") 1) '
        '(func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))',
        "import 'wapc.__bogus' is not provided by any waPC host",
    ),
    "unknown module import": (
        '(module (import "foo" "bar" (func (param i32))) (memory (export "memory") 1) '
        '(func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))',
        "import 'foo.bar' is not provided by any waPC host",
    ),
    "wrong import signature": (
        '(module (import "wapc" "__console_log" (func (param i32))) (memory (export "memory") 1) '
        '(func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))',
        "import 'wapc.__console_log' has type (i32) -> (), expected (i32, i32) -> ()",
    ),
    "imported memory": (
        '(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)) '
        '(func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))',
        "import 'env.memory' is a memory; no waPC host provides it",
    ),
}


@pytest.mark.parametrize("case", list(NOT_GUESTS))
def test_not_a_guest(engine_name: str, case: str) -> None:
    text, expected = NOT_GUESTS[case]
    with pytest.raises(NotAGuest) as info:
        module_from_wat(text, engine_name)
    assert expected in info.value.message


# -- the same results on every engine ------------------------------------------------------


@dataclass
class Scenario:
    wat: str
    calls: list[tuple[str, bytes]]
    host_call: Callable[[HostCallRequest], bytes] | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _reverse(request: HostCallRequest) -> bytes:
    return request.payload[::-1]


def _refuse(request: HostCallRequest) -> bytes:
    raise HostCallError("refusé ✗", body=b"status")


SCENARIOS = {
    "echo": Scenario(ECHO, [("echo", b"abc"), ("x", b"")]),
    "no response": Scenario(NO_RESPONSE, [("op", b"")]),
    "both set": Scenario(BOTH_SET, [("op", b"")]),
    "error then trap": Scenario(ERROR_THEN_TRAP, [("op", b""), ("op", b"")]),
    "relay no handler": Scenario(HOST_RELAY, [("op", b"p")]),
    "relay ok": Scenario(HOST_RELAY, [("op", b"payload")], _reverse),
    "relay refused": Scenario(HOST_RELAY, [("op", b"payload")], _refuse),
    "init order": Scenario(INIT_ORDER, [("op", b"")], _reverse),
    "wasi write": Scenario(wasi_write_guest("wasi_unstable"), [("op", b"")]),
    "wasi environ": Scenario(WASI_ENVIRON, [("op", b"")], options={"wasi": WasiOptions(["a"])}),
    "abort": Scenario(ABORT, [("op", b""), ("op", b"")]),
    "logs": Scenario(LOGS, [("op", b"")]),
    "growth": Scenario(GROWTH, [("op", b"x" * 60000), ("op", b"yz")], _reverse),
    "start trap": Scenario(START_TRAP, [("op", b"")]),
    "trap and rebuild": Scenario(TRAP_ON_OP, [("ok", b""), ("trap", b""), ("ok", b"")]),
    **{
        f"hostile {what}": Scenario(hostile(code), [("op", b"")])
        for what, code, _, _ in HOSTILE
    },
}


def _outcome(exc: WapcError) -> tuple[Any, ...]:
    """An error as comparable across engines: engine trap texts differ by design."""
    if isinstance(exc, GuestTrap):
        message = exc.message
        if message.startswith("guest trapped:"):
            message = "<engine trap>"
        # Frame offsets may differ by an instruction between engines; names may not.
        functions = tuple(frame.function for frame in exc.frames)
        return (type(exc).__name__, message, exc.phase, exc.guest_error, functions)
    return (type(exc).__name__, exc.message, getattr(exc, "raw", None))


def _run(scenario: Scenario, engine: str) -> list[Any]:
    record: list[Any] = []
    logs, on_log = collecting()
    try:
        guest = guest_from_wat(
            scenario.wat, engine, host_call=scenario.host_call, on_log=on_log, **scenario.options
        )
    except WapcError as exc:
        return [("instantiate", _outcome(exc))]
    for operation, payload in scenario.calls:
        try:
            record.append(("ok", guest.call(operation, payload), guest.last.warnings))
        except WapcError as exc:
            record.append(_outcome(exc))
        record.append(list(logs))
        logs.clear()
    return record


@pytest.mark.cross_engine
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_results_on_every_engine(all_engines: list[str], name: str) -> None:
    results = {engine: _run(SCENARIOS[name], engine) for engine in all_engines}
    first, *others = all_engines
    for engine in others:
        assert results[engine] == results[first], f"{engine} differs from {first}"


# -- nothing escapes, no limit is ignored -------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ValueError("sink broke"), "guest trapped: sink broke"),
        (RuntimeError("sink broke"), "guest trapped: sink broke"),  # wasmer's trap type
        (RecursionError("too deep"), "host ran out of resources: RecursionError"),
    ],
    ids=["ValueError", "RuntimeError", "RecursionError"],
)
def test_an_exception_in_a_host_function_ends_as_a_trap(
    engine_name: str, raised: Exception, expected: str
) -> None:
    def on_log(message: str, source: str) -> None:
        raise raised

    guest = guest_from_wat(LOGS, engine_name, on_log=on_log)
    with pytest.raises(GuestTrap) as info:
        guest.call("op")
    assert info.value.message == expected
    guest.session.on_log = None
    assert guest.call("op") == b"from"  # rebuilt and usable


SPIN = guest_module("""
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 1))
""")


def test_fuel_is_enforced_or_refused(engine_name: str) -> None:
    limits = Limits(fuel=10_000)
    if engine_name == "wasmer":
        with pytest.raises(UsageError, match="a fuel limit is not supported by the wasmer engine"):
            guest_from_wat(SPIN, engine_name, limits=limits)
        return
    guest = guest_from_wat(SPIN, engine_name, limits=limits)
    with pytest.raises(LimitExceeded) as info:
        guest.call("op")
    assert info.value.limit == "fuel"


START_LOG = guest_module("""
  (memory (export "memory") 1)
  (data (i32.const 0) "hi")
  (func $log_from_start (call $console_log (i32.const 0) (i32.const 2)))
  (start $log_from_start)
  (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1))
""")


def test_the_start_section_reaches_memory(engine_name: str) -> None:
    # Engines hand memory over only after instantiation, so the start function is
    # run as the first init step instead (as AssemblyScript top-level code needs).
    logs, on_log = collecting()
    guest = guest_from_wat(START_LOG, engine_name, on_log=on_log)
    assert logs == [("hi", "wapc")]
    with pytest.raises(GuestTrap):  # this guest sets no response: the call still runs
        guest.call("op")
    assert logs == [("hi", "wapc")]  # the start function ran once, not per call
