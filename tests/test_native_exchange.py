"""The waPC imports and __guest_call in C (native_exchange.c, wasmtime_calls.c) against Python.

The C imports do only their common case and hand everything else to the
session's Python methods, so any difference in outcome is a bug. These tests
drive one guest through scripts of raw import calls -- pointers at the memory's
end, past it, at 2**32 - 1; missing host answers; handlers that answer with
every kind of value or raise -- and compare the outcome with the native imports
against the Python imports (in this process: the same engine path with
``native_imports`` off), and against a process that has no native code at all
(``WAPC_NATIVE=0``: the ctypes crossings and a Python state class).
"""

from __future__ import annotations

import functools
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from conftest import WAPC_IMPORTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wapc_cli.engines.base import Limits
from wapc_cli.engines.wasmtime_common import WasmtimeModule
from wapc_cli.engines.wasmtime_engine import WasmtimeEngine
from wapc_cli.errors import GuestTrap, WapcError
from wapc_cli.runtime import exchange_state
from wapc_cli.runtime.guest import Guest, WapcModule
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest, HostReply
from wapc_cli.runtime.session import HostAbort

HERE = Path(__file__).parent
PAGE = 65536

# A guest that runs a script: the payload is a sequence of 36-byte steps, each a
# u32 kind and eight u32 arguments, copied to 0x8000 by __guest_request (the
# operation goes to 0). Two pages of memory; names at 0x100.. for host calls.
#   1 __guest_response(a0, a1)   2 __guest_error(a0, a1)   3 __host_call(a0..a7) -> [0x7000]
#   4 __host_response_len -> [a0]   5 __host_response(a0)   6 __host_error_len -> [a0]
#   7 __host_error(a0)   8 __console_log(a0, a1)   9 __guest_request(a0, a1)
#   10 return a0 (ends the script)   11 memory.grow(a0)   12 unreachable
DRIVER = "(module" + WAPC_IMPORTS + """
  (memory (export "memory") 2)
  (data (i32.const 0x100) "bindingnamespaceoperation\\ff\\fename")
  (func $a0 (param $p i32) (result i32) (i32.load offset=4 (local.get $p)))
  (func $a1 (param $p i32) (result i32) (i32.load offset=8 (local.get $p)))
  (func $a2 (param $p i32) (result i32) (i32.load offset=12 (local.get $p)))
  (func $a3 (param $p i32) (result i32) (i32.load offset=16 (local.get $p)))
  (func $a4 (param $p i32) (result i32) (i32.load offset=20 (local.get $p)))
  (func $a5 (param $p i32) (result i32) (i32.load offset=24 (local.get $p)))
  (func $a6 (param $p i32) (result i32) (i32.load offset=28 (local.get $p)))
  (func $a7 (param $p i32) (result i32) (i32.load offset=32 (local.get $p)))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $k i32)
    (call $guest_request (i32.const 0) (i32.const 0x8000))
    (local.set $p (i32.const 0x8000))
    (local.set $end (i32.add (i32.const 0x8000) (local.get $len)))
    (block $done (loop $next
      (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 36)) (local.get $end)))
      (local.set $k (i32.load (local.get $p)))
      (if (i32.eq (local.get $k) (i32.const 1)) (then
        (call $guest_response (call $a0 (local.get $p)) (call $a1 (local.get $p)))))
      (if (i32.eq (local.get $k) (i32.const 2)) (then
        (call $guest_error (call $a0 (local.get $p)) (call $a1 (local.get $p)))))
      (if (i32.eq (local.get $k) (i32.const 3)) (then
        (i32.store (i32.const 0x7000) (call $host_call
          (call $a0 (local.get $p)) (call $a1 (local.get $p))
          (call $a2 (local.get $p)) (call $a3 (local.get $p))
          (call $a4 (local.get $p)) (call $a5 (local.get $p))
          (call $a6 (local.get $p)) (call $a7 (local.get $p))))))
      (if (i32.eq (local.get $k) (i32.const 4)) (then
        (i32.store (i32.and (call $a0 (local.get $p)) (i32.const 0xfffc))
          (call $host_response_len))))
      (if (i32.eq (local.get $k) (i32.const 5)) (then
        (call $host_response (call $a0 (local.get $p)))))
      (if (i32.eq (local.get $k) (i32.const 6)) (then
        (i32.store (i32.and (call $a0 (local.get $p)) (i32.const 0xfffc))
          (call $host_error_len))))
      (if (i32.eq (local.get $k) (i32.const 7)) (then
        (call $host_error (call $a0 (local.get $p)))))
      (if (i32.eq (local.get $k) (i32.const 8)) (then
        (call $console_log (call $a0 (local.get $p)) (call $a1 (local.get $p)))))
      (if (i32.eq (local.get $k) (i32.const 9)) (then
        (call $guest_request (call $a0 (local.get $p)) (call $a1 (local.get $p)))))
      (if (i32.eq (local.get $k) (i32.const 10)) (then
        (return (call $a0 (local.get $p)))))
      (if (i32.eq (local.get $k) (i32.const 11)) (then
        (drop (memory.grow (call $a0 (local.get $p))))))
      (if (i32.eq (local.get $k) (i32.const 12)) (then unreachable))
      (local.set $p (i32.add (local.get $p) (i32.const 36)))
      (br $next)))
    (i32.const 1))
)"""

# Names in the data segment: (pointer, length).
BINDING, NAMESPACE, OPERATION, BAD_UTF8 = (0x100, 7), (0x107, 9), (0x110, 9), (0x119, 6)


def step(kind: int, *args: int) -> bytes:
    values = list(args) + [0] * (8 - len(args))
    return struct.pack("<9I", kind, *[v & 0xFFFFFFFF for v in values])


def answer(request: HostCallRequest) -> Any:
    """A handler whose answer the payload's first byte picks: every kind a handler may give."""
    tag = request.payload[:1]
    if tag == b"f":
        raise HostCallError("no such key ✗", b"body")
    if tag == b"a":
        raise HostAbort(GuestTrap("stub table: unmatched host call"))
    if tag == b"b":
        raise ZeroDivisionError("handler bug")
    if tag == b"r":
        return HostReply(b"reply-body", None, "rule 1")
    if tag == b"e":
        return HostReply(b"error-body", "denied ✗", "rule 2")
    if tag == b"s":
        return "text ✓"
    if tag == b"n":
        return None
    if tag == b"i":
        return 42
    if tag == b"y":
        return bytearray(b"a bytearray")
    names = "|".join((request.binding, request.namespace, request.operation))
    return names.encode() + b">" + request.payload


def host_call(payload_ptr: int, payload_len: int, names: tuple[tuple[int, int], ...] = (
        BINDING, NAMESPACE, OPERATION)) -> bytes:
    spans = [v for span in names for v in span]
    return step(3, *spans, payload_ptr, payload_len)


@functools.cache
def _engine() -> WasmtimeEngine:
    return WasmtimeEngine()


@functools.cache
def _compiled(native: bool, limits: Limits) -> WasmtimeModule:
    compiled = _engine().compile(bytes(wasmtime.wat2wasm(DRIVER)), limits)
    if not native:
        compiled.native_imports = False  # the same engine path, the Python imports
    return compiled


def _guest(native: bool, limits: Limits | None = None) -> Guest:
    limits = limits or Limits()
    compiled = _compiled(native, limits)
    logs: list[tuple[str, str]] = []
    guest = WapcModule(compiled, "<driver>", limits, 0.0).instantiate(
        answer, on_log=lambda m, s: logs.append((m, s)))
    guest.logs = logs  # type: ignore[attr-defined]
    return guest


def run_scripts(scripts: list[bytes], native: bool, timeout: float | None = None) -> list[Any]:
    """Each script's outcome in JSON-able form, on one guest (traps rebuild it)."""
    guest = _guest(native, Limits(timeout_s=timeout))
    outcomes: list[Any] = []
    for script in scripts:
        try:
            result: Any = ["ok", guest.call("run", script).hex()]
        except WapcError as exc:
            result = [type(exc).__name__, str(exc)]
        except KeyboardInterrupt:
            result = ["KeyboardInterrupt"]
        record = guest.last
        outcomes.append([result, record.host_calls, list(record.warnings), guest.logs])  # type: ignore[attr-defined]
        guest.logs.clear()  # type: ignore[attr-defined]
    return outcomes


END = 2 * PAGE
# Where spans start and how long they are: inside, touching the end, past it, wrapping.
POINTERS = [0, 0x200, 0x7000, END - 16, END - 1, END, END + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
LENGTHS = [0, 1, 16, 17, 0x1000, END, 0x7FFFFFFF, 0xFFFFFFFF]

pointers = st.sampled_from(POINTERS)
lengths = st.sampled_from(LENGTHS)
tag_indexes = st.integers(0, 9)  # which answer a host call gets (TAGS, laid out by _prelude)
name_spans = st.sampled_from([BINDING, NAMESPACE, OPERATION, BAD_UTF8, (END - 3, 3), (END, 1),
                              (0xFFFFFFFF, 2), (0x100, 0)])
steps = st.one_of(
    st.builds(lambda p, n: step(1, p, n), pointers, lengths),
    st.builds(lambda p, n: step(2, p, n), pointers, lengths),
    st.builds(lambda i, names: host_call(TAG_AT + i, 1, names),
              tag_indexes, st.tuples(name_spans, name_spans, name_spans)),
    st.builds(lambda p: step(4, p), st.sampled_from([0x7100, 0x7104])),
    st.builds(lambda p: step(5, p), pointers),
    st.builds(lambda p: step(6, p), st.sampled_from([0x7100, 0x7104])),
    st.builds(lambda p: step(7, p), pointers),
    st.builds(lambda p, n: step(8, p, n), pointers, st.sampled_from([0, 5, 40, END])),
    st.builds(lambda p, n: step(9, p, n), pointers, pointers),
    st.builds(lambda r: step(10, r), st.sampled_from([0, 1, 7, 0xFFFFFFFF])),
    st.builds(lambda n: step(11, n), st.sampled_from([0, 1, 2])),
    st.just(step(12)),
)


TAGS = b"fabresniy-"  # every answer kind of `answer`, "-" the plain bytes
TAG_AT = 0x6000 + 36 + 4  # where _prelude() leaves them


def _prelude() -> bytes:
    """Copy the script to 0x6000 (the operation "run" just before it), led by a step that
    does nothing (kind 0) whose arguments spell TAGS: a host call whose payload is the
    byte at TAG_AT + i then gets answer kind TAGS[i]."""
    return step(9, 0x6000 - 3, 0x6000) + step(0, *struct.unpack("<8I", TAGS.ljust(32, b"\0")))


@pytest.fixture(scope="module")
def native_built() -> None:
    if not exchange_state.NATIVE_CALLBACKS:
        if os.environ.get("CI"):
            pytest.fail("the native extensions are not built (CI must build them)")
        pytest.skip("native extensions not built here (no C compiler at install)")


def test_the_extensions_are_built_and_used_under_ci() -> None:
    """CI builds both extensions (scripts/setup's pip install) and the default path uses them."""
    if not os.environ.get("CI") and not exchange_state.NATIVE_CALLBACKS:
        pytest.skip("native extensions not built here")
    from wapc_cli.engines import wasmtime_fast

    assert wasmtime_fast.GuestCall is not None
    assert set(exchange_state.NATIVE_CALLBACKS) == {
        "__guest_request", "__guest_response", "__guest_error", "__host_call",
        "__host_response_len", "__host_response", "__host_error_len", "__host_error",
        "__console_log",
    }
    guest = _guest(native=True)
    assert guest.instance is not None and guest.instance.hot_path == "native"
    assert _guest(native=False).instance.hot_path == "c-api"  # type: ignore[union-attr]


# Scripts written out: each is one thing the C code decides on its own.
FIXED = [
    step(1, 0x200, 16),                                   # a response inside memory
    step(1, END - 16, 16),                                # ... ending at the last byte
    step(1, END - 16, 17),                                # ... one past it
    step(1, 0xFFFFFFFF, 2),                               # ... wrapping at 2**32
    step(1, END, 0),                                      # an empty span at the very end
    step(1, END + 1, 0),                                  # ... one past it
    step(9, END - 3, 0),                                  # the operation "run" ends at END
    step(9, END - 2, 0),                                  # ... would not fit
    step(9, 0, END - 10),                                 # the payload would not fit
    step(5, 0x200),                                       # __host_response with no host call
    step(7, 0x200),                                       # __host_error with no failure
    step(4, 0x7100) + step(6, 0x7104) + step(1, 0x7100, 8),  # the lengths before any call
    host_call(0x8000, 36) + step(4, 0x7100) + step(5, 0x7200) + step(1, 0x7200, 60),
    host_call(0x8000, 0) + step(4, 0x7100) + step(5, END) + step(1, 0x7100, 4),
    host_call(0x8000, 4) + step(5, END - 4) + step(1, END - 4, 4),  # fits at the end exactly
    host_call(0x8000, 36, (BAD_UTF8, BAD_UTF8, (0x100, 0))) + step(5, 0x7200) + step(1, 0x7200, 40),
    host_call(END - 1, 2),                                 # the payload span past the end
    host_call(0, 0, ((0xFFFFFFFF, 2), NAMESPACE, OPERATION)),
    step(11, 1) + step(1, END + 100, 16),                  # memory grew: the new page is reachable
    step(8, 0x100, 16) + step(8, END - 1, 2),               # a log, then one out of bounds
    step(2, 0x100, 7) + step(10, 0),                       # the plain guest error
    step(2, 0x100, 7) + step(1, 0x100, 7) + step(10, 1),   # both set
    step(10, 0),                                           # 0 without an error
    step(10, 7),                                           # not a valid result
    step(12),                                              # a trap, then the guest is rebuilt
    step(1, 0x200, 1),
]


def _tagged_host_calls() -> list[bytes]:
    """One host call per answer kind, then every import that reads its answer."""
    return [
        _prelude() + host_call(TAG_AT + i, 1) + step(4, 0x7100) + step(5, 0x7200)
        + step(6, 0x7104) + step(1, 0x7100, 0x300)
        for i in range(len(TAGS))
    ] + [  # and the failure's text, read back where the host call failed
        _prelude() + host_call(TAG_AT + i, 1) + step(6, 0x7104) + step(7, 0x7300)
        + step(1, 0x7100, 0x300)
        for i in range(len(TAGS))
    ]


def test_fixed_scripts_match_the_python_imports(native_built: None) -> None:
    scripts = FIXED + _tagged_host_calls()
    native = run_scripts(scripts, native=True)
    python = run_scripts(scripts, native=False)
    for script, a, b in zip(scripts, native, python, strict=True):
        assert a == b, script.hex()
    # and they are the right outcomes, not merely equal ones
    assert native[0][0] == ["ok", bytes(16).hex()]
    assert native[2][0][0] == "GuestTrap" and "__guest_response" in native[2][0][1]
    assert native[3][0][0] == "GuestTrap"
    assert native[9][0][0] == "GuestTrap" and "no pending host response" in native[9][0][1]
    answers = dict(zip(TAGS, native[len(FIXED):], strict=False))
    errors = dict(zip(TAGS, native[len(FIXED) + len(TAGS):], strict=True))
    assert answers[ord("a")][0][0] == "GuestTrap"
    assert answers[ord("-")][0][0] == "ok"
    assert b"binding|namespace|operation>-".hex() in answers[ord("-")][0][1]
    assert "no such key ✗".encode().hex() in errors[ord("f")][0][1]
    assert "denied ✗".encode().hex() in errors[ord("e")][0][1]
    assert "no pending host error" in errors[ord("-")][0][1]


def test_scripts_under_a_deadline_match(native_built: None) -> None:
    """With a timeout the host call goes through reply_in_time: the same answers."""
    scripts = _tagged_host_calls()
    assert run_scripts(scripts, native=True, timeout=30) == run_scripts(
        scripts, native=False, timeout=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, min_size=1, max_size=6))
def test_random_scripts_match_the_python_imports(
    native_built: None, script_steps: list[bytes]
) -> None:
    script = _prelude() + b"".join(script_steps) + step(1, 0x7000, 64)
    assert run_scripts([script], native=True) == run_scripts([script], native=False)


def test_a_process_without_native_code_gives_the_same_outcomes(native_built: None) -> None:
    """WAPC_NATIVE=0: the ctypes crossings and the Python state class, in a fresh process."""
    scripts = FIXED + _tagged_host_calls()
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import test_native_exchange as t\n"
        "from wapc_cli.runtime import exchange_state\n"
        "from wapc_cli.engines import wasmtime_fast\n"
        "assert not exchange_state.NATIVE_CALLBACKS and wasmtime_fast.GuestCall is None\n"
        "scripts = [bytes.fromhex(s) for s in json.load(sys.stdin)]\n"
        "print(json.dumps(t.run_scripts(scripts, native=True)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps([s.hex() for s in scripts]),
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "WAPC_NATIVE": "0"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(json.dumps(run_scripts(scripts, native=True)))


def test_a_keyboard_interrupt_in_a_handler_propagates(native_built: None) -> None:
    def interrupted(request: HostCallRequest) -> bytes:
        raise KeyboardInterrupt

    module = WapcModule(_compiled(True, Limits()), "<driver>", Limits(), 0.0)
    guest = module.instantiate(interrupted)
    with pytest.raises(KeyboardInterrupt):
        guest.call("run", host_call(0x100, 4))
    assert guest.call("run", step(1, 0x100, 7)) == b"binding"  # rebuilt, answering


def test_the_session_state_is_the_python_attributes(native_built: None) -> None:
    """What the C imports write is what Python reads, and the other way round."""
    guest = _guest(native=True)
    guest.call("run", host_call(0x110, 9) + step(1, 0x100, 7))
    session = guest.session
    assert session.host_body == b"binding|namespace|operation>operation"
    assert session.host_fault is None and session.host_calls == 1
    assert session.response == b"binding" and session.error is None
    session.host_body = b"set from Python"
    del session.host_fault  # a deleted field reads as None and takes the Python path
    assert session.host_fault is None


def test_names_are_decoded_like_the_python_imports(native_built: None) -> None:
    seen: list[HostCallRequest] = []

    def keep(request: HostCallRequest) -> bytes:
        seen.append(request)
        return b""

    guest = WapcModule(_compiled(True, Limits()), "<driver>", Limits(), 0.0).instantiate(keep)
    same_length = ((0x100, 7), (0x107, 7), (0x110, 7))  # "binding", "namespa", "operati"
    script = (host_call(0, 0) + host_call(0, 0, same_length) + host_call(0, 0)
              + host_call(0, 0, (BAD_UTF8, (0x100, 0), (0x100, 70))) + step(1, 0, 0))
    assert guest.call("run", script) == b""
    assert [(r.binding, r.namespace, r.operation) for r in seen[:3]] == [
        ("binding", "namespace", "operation"), ("binding", "namespa", "operati"),
        ("binding", "namespace", "operation")]
    assert seen[3].binding == "\ufffd\ufffdname" and seen[3].namespace == ""
    assert seen[3].operation.startswith("bindingnamespaceoperation\ufffd\ufffdname")


def _run_isolated(code: str, native: bool = True) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh process (a crash there fails the test, not the test run)."""
    prelude = (
        "import sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import test_native_exchange as t\n"
        "from wapc_cli.engines.base import Limits\n"
        "from wapc_cli.runtime.guest import WapcModule\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120,
        env={**os.environ, "WAPC_NATIVE": "1" if native else "0"},
    )


def test_a_handler_that_replaces_itself_mid_call(native_built: None) -> None:
    """The C host_call holds its own reference to the handler while it runs: a handler
    that swaps session.handler drops the last other one (an lru_cache wrapper then
    touched its freed cache after the call: a segfault)."""
    code = (
        "import functools\n"
        "holder = {}\n"
        "def once(request):\n"
        "    holder['guest'].session.handler = lambda r: b'later'\n"
        "    return b'first'\n"
        "module = WapcModule(t._compiled(True, Limits()), '<driver>', Limits(), 0.0)\n"
        "guest = holder['guest'] = module.instantiate(functools.lru_cache(maxsize=None)(once))\n"
        "script = t.host_call(0x100, 4) + t.step(5, 0x7100) + t.step(1, 0x7100, 5)\n"
        "print(guest.call('run', script), guest.call('run', script))\n"
    )
    done = _run_isolated(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "b'first' b'later'"
    assert _run_isolated(code, native=False).stdout == done.stdout


@pytest.mark.parametrize("native", [True, False])
def test_a_deleted_deadline_reads_as_none(native_built: None, native: bool) -> None:
    """A member Python deleted is NULL in C and reads as None in Python: the C host_call
    takes it for "no deadline" as session.py does (it went to reply_in_time, which failed)."""
    guest = WapcModule(_compiled(native, Limits()), "<driver>", Limits(), 0.0).instantiate(
        lambda request: b"hi")
    del guest.session.deadline
    script = host_call(0x100, 4) + step(4, 0x7100) + step(5, 0x7104) + step(1, 0x7100, 6)
    assert guest.call("run", script) == b"\x02\x00\x00\x00hi"


def test_an_uninitialised_guest_call_raises_instead_of_crashing(native_built: None) -> None:
    code = (
        "from wapc_cli.engines.wasmtime_calls import GuestCall\n"
        "try:\n"
        "    GuestCall.__new__(GuestCall).invoke(0, 0)\n"
        "except ValueError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = _run_isolated(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("refused:")


class _Bytes(bytes):
    pass


# Answers and exceptions beyond `answer`'s tags, and payloads that are not exact bytes.
# (Wrong types on purpose: a handler is user code.)
ODD_ANSWERS: list[Any] = [
    _Bytes(b"sub"), memoryview(b"mv"), True, HostReply(_Bytes(b"q")), bytearray(), b"",
    HostReply(bytearray(b"ba")), HostReply("str body"), HostReply(None),  # type: ignore[arg-type]
    HostReply(b"", "x"), HostCallError("m", bytearray(b"b")),  # type: ignore[arg-type]
    SystemExit(3), KeyboardInterrupt(), RecursionError("r"), GeneratorExit(), "slow",
]


def _odd_outcomes(native: bool, timeout: float | None, late: list[float]) -> list[Any]:
    from wapc_cli.runtime.budget import OutOfTime

    limits = Limits(timeout_s=timeout)
    script = (host_call(0x100, 4) + step(4, 0x7100) + step(6, 0x7104) + step(5, 0x7200)
              + step(7, 0x7300) + step(1, 0x7100, 0x300))
    outcomes: list[Any] = []
    payloads = [("run", script), (bytearray(b"run"), bytearray(script)),
                (memoryview(b"run"), memoryview(script)), (b"run", _Bytes(script))]
    for odd in [*ODD_ANSWERS, OutOfTime("a wait")]:
        def handler(request: HostCallRequest, odd: Any = odd) -> Any:
            if isinstance(odd, BaseException):
                raise odd
            if isinstance(odd, str) and odd == "slow":  # answers an hour late
                late[0] += 3600
                return b"late"
            return odd

        guest = WapcModule(_compiled(native, limits), "<driver>", limits, 0.0).instantiate(handler)
        for operation, payload in payloads:
            late[0] = 0.0
            try:
                outcomes.append(guest.call(operation, payload).hex())  # type: ignore[arg-type]
            except BaseException as exc:  # the outcome is what is compared
                outcomes.append([type(exc).__name__, str(exc)])
    return outcomes


@pytest.mark.parametrize("timeout", [None, 30])
def test_odd_answers_and_payloads_match_the_python_imports(
    native_built: None, timeout: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handler answers and exceptions of every kind, payloads that are not exact bytes, and
    (under a deadline) an answer that comes after it: the same outcomes on both."""
    import time
    import types

    from wapc_cli.runtime import session as session_module

    late = [0.0]  # how far the session's clock has been moved on (a "slow" handler)
    clock = time.monotonic
    monkeypatch.setattr(session_module, "time", types.SimpleNamespace(
        monotonic=lambda: clock() + late[0]))
    native = _odd_outcomes(True, timeout, late)
    assert native == _odd_outcomes(False, timeout, late)
    slow = native[4 * ODD_ANSWERS.index("slow")]
    if timeout is not None:  # the late answer ended the exchange
        assert slow[0] == "LimitExceeded" and "after the deadline" in slow[1]
