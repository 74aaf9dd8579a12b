"""One wall-clock budget per exchange, host calls included; limits named for what they stop.

``--timeout`` is the time of the whole exchange: a host-call handler gets only
what is left (a stub's ``delay_ms``, an ``exec:`` reply), and an answer that
comes after the deadline ends the exchange with the timeout, in-process
(wasmtime) and under the supervisor (wasmer) alike. A payload that cannot fit
under ``--max-memory`` is reported as that limit, not as the trap it causes.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import guest_from_wat, wat
from stub_guests import FORWARD_WAT
from test_hostile import guest

from wapc_cli.engines.base import Limits
from wapc_cli.errors import GuestTrap, LimitExceeded
from wapc_cli.isolation import run_supervised
from wapc_cli.runtime import budget
from wapc_cli.runtime.hostcalls import HostCallRequest
from wapc_cli.runtime.limits import format_size

#: Time allowed on top of a limit for the process to start, stop and report.
SLACK_S = 3.0

HOST_CALL = ("(drop (call $host_call (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)"
             " (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))")
#: Ten host calls in a row, then "hello".
TEN_HOST_CALLS = guest(
    f"(block $done (loop $again {HOST_CALL}"
    " (global.set $at (i32.add (global.get $at) (i32.const 1)))"
    " (br_if $again (i32.lt_u (global.get $at) (i32.const 10)))))"
    " (call $guest_response (i32.const 0) (i32.const 5))"
)
#: Grows memory by what the request needs (as an allocator would), traps when refused,
#: then echoes the payload from the new pages.
ALLOCATING_ECHO = guest(
    "(global.set $at (i32.mul (memory.grow (i32.add (i32.shr_u (i32.add (local.get 0)"
    " (local.get 1)) (i32.const 16)) (i32.const 1))) (i32.const 65536)))"
    " (if (i32.lt_s (global.get $at) (i32.const 0)) (then unreachable))"
    " (call $guest_request (global.get $at) (i32.add (global.get $at) (local.get 0)))"
    " (call $guest_response (i32.add (global.get $at) (local.get 0)) (local.get 1))"
)
TRAP = guest("unreachable")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("budget")
    paths = {}
    for name, text in {"forward": FORWARD_WAT, "allocating": ALLOCATING_ECHO,
                       "trap16": guest("unreachable", memory="16")}.items():
        path = folder / f"{name}.wasm"
        path.write_bytes(wat(text))
        paths[name] = str(path)
    tables = {
        "delay": 'calls:\n  - match: "*:*:*"\n    reply: "ok"\n    delay_ms: 5000\n',
        "exec": 'calls:\n  - match: "*:*:*"\n    reply:\n      exec: [sleep, "5"]\n',
        "quick": 'calls:\n  - match: "*:*:*"\n    reply: "ok"\n    delay_ms: 50\n',
    }
    for name, text in tables.items():
        path = folder / f"{name}.yaml"
        path.write_text(text)
        paths[name] = str(path)
    for name, size in {"2m": 2 << 20, "900k": 900 << 10}.items():
        path = folder / f"{name}.bin"
        path.write_bytes(b"a" * size)
        paths[name] = str(path)
    return paths


def wapc_json(*args: str) -> tuple[int, dict[str, Any], str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "wapc_cli", *args, "--json"],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, json.loads(done.stdout), done.stderr, time.monotonic() - started


def sleeper(seconds: float) -> Any:
    def handler(request: HostCallRequest) -> bytes:
        time.sleep(seconds)  # a plain sleep: not shortened to the budget
        return b""

    return handler


# -- host time counts against --timeout ------------------------------------------------
@pytest.mark.parametrize(("table", "doing"), [("delay", "a delay of 5s"),
                                              ("exec", "exec sleep had not answered")])
def test_a_slow_host_call_ends_at_the_timeout(files: dict[str, str], engine_name: str,
                                              table: str, doing: str) -> None:
    """A 5 s stub under --timeout 1 took 5.2 s: the handler now gets only what is left."""
    code, result, _, elapsed = wapc_json("call", files["forward"], "op", "-e", engine_name,
                                         "-s", files[table], "--timeout", "1", "-q")
    assert code == 3
    error = result["error"]
    assert (error["kind"], error["limit"], error["figure"]) == ("limit", "timeout", "1s")
    assert error["message"].startswith("timeout: the guest ran longer than 1s")
    assert f"host call b:ns:op: {doing}" in error["message"]
    assert elapsed < 1 + SLACK_S, elapsed


def test_a_quick_host_call_within_the_budget_answers(files: dict[str, str],
                                                     engine_name: str) -> None:
    code, result, _, _ = wapc_json("call", files["forward"], "op", "-e", engine_name,
                                   "-s", files["quick"], "--timeout", "5", "-q")
    assert (code, result["response"]) == (0, "ok")


def test_host_time_adds_up_to_the_timeout(engine_name: str) -> None:
    """Ten host calls of 0.3 s each under a 1 s limit: each answers, the sum does not."""
    limits = Limits(timeout_s=1.0)
    started = time.monotonic()
    if engine_name == "wasmtime":
        g = guest_from_wat(TEN_HOST_CALLS, engine_name, limits=limits, host_call=sleeper(0.3))
        with pytest.raises(LimitExceeded) as caught:
            g.call("op")
        error: Exception | None = caught.value
    else:
        error = run_supervised(wat(TEN_HOST_CALLS), operation="op", engine=engine_name,
                               limits=limits, host_call=sleeper(0.3)).error
    assert isinstance(error, LimitExceeded) and error.limit == "timeout", error
    assert "its answer came after the deadline" in str(error)
    assert time.monotonic() - started < 1.3 + (SLACK_S if engine_name != "wasmtime" else 0.5)


def test_a_handler_sees_what_is_left_of_the_budget() -> None:
    seen: list[float] = []

    def handler(request: HostCallRequest) -> bytes:
        seen.append(budget.remaining())
        return b""

    g = guest_from_wat(TEN_HOST_CALLS, "wasmtime", limits=Limits(timeout_s=2.0),
                       host_call=handler)
    assert g.call("op") == b"hello"
    assert len(seen) == 10 and all(0 < left <= 2.0 for left in seen)
    assert seen == sorted(seen, reverse=True)
    assert budget.remaining() == math.inf  # outside a host call: no budget
    untimed = guest_from_wat(TEN_HOST_CALLS, "wasmtime", host_call=handler)
    seen.clear()
    untimed.call("op")
    assert seen == [math.inf] * 10


def test_a_sleep_longer_than_the_budget_raises_out_of_time() -> None:
    with budget.running_until(time.monotonic() + 0.1):
        started = time.monotonic()
        with pytest.raises(budget.OutOfTime, match="a delay of 5s"):
            budget.sleep(5)
        assert time.monotonic() - started < 0.5
    with budget.running_until(time.monotonic() + 5):
        budget.sleep(0.01)  # within the budget: no error


@pytest.mark.parametrize("timeout", [1e35, math.inf])
def test_huge_and_infinite_timeouts_do_not_overflow(timeout: float, engine_name: str,
                                                    files: dict[str, str]) -> None:
    """The deadline is a float of time.monotonic(): no counter to overflow, anywhere."""
    from wapc_cli.tools.stubs.host import build_host_setup

    handler = build_host_setup([Path(files["quick"])], None, None).handler
    limits = Limits(timeout_s=timeout)
    if engine_name == "wasmtime":
        g = guest_from_wat(FORWARD_WAT, engine_name, limits=limits, host_call=handler)
        assert g.call("op", b"x") == b"ok"
    outcome = run_supervised(wat(FORWARD_WAT), operation="op", payload=b"x",
                             engine=engine_name, limits=limits, host_call=handler)
    assert (outcome.error, outcome.response) == (None, b"ok")


# -- a request that cannot fit under --max-memory ---------------------------------------
def test_a_payload_larger_than_the_memory_limit_is_named(files: dict[str, str],
                                                         engine_name: str) -> None:
    """It used to be a bare `unreachable` trap (kind trap)."""
    code, result, err, _ = wapc_json("call", files["allocating"], "op", "-e", engine_name,
                                     "--max-memory", "1MiB", "-p", "@" + files["2m"])
    assert code == 3, err
    error = result["error"]
    assert (error["kind"], error["limit"], error["figure"]) == ("limit", "max-memory", "1MiB")
    assert error["message"].startswith(
        "max-memory: the payload (2MiB) is larger than the --max-memory limit of 1MiB; "
        "then guest trapped:"), error["message"]


def test_a_sample_guest_with_a_payload_over_the_limit(files: dict[str, str],
                                                      engine_name: str) -> None:
    module = Path(__file__).parent.parent / "sample_guests" / "build" / "as_guest.wasm"
    code, result, err, _ = wapc_json("call", str(module), "echo", "-e", engine_name,
                                     "--max-memory", "1MiB", "-p", "@" + files["2m"])
    assert code == 3, err
    assert (result["error"]["kind"], result["error"]["limit"]) == ("limit", "max-memory")
    assert "the payload (2MiB)" in result["error"]["message"]


def test_a_payload_that_does_not_fit_above_memory_is_named(engine_name: str) -> None:
    """900 KiB more than the 1 MiB limit leaves above 512 KiB of memory."""
    text = ALLOCATING_ECHO.replace('(memory (export "memory") 1)',
                                   '(memory (export "memory") 8)')
    limits = Limits(max_memory_bytes=1 << 20)
    payload = b"a" * (900 << 10)
    if engine_name == "wasmtime":
        g = guest_from_wat(text, engine_name, limits=limits)
        with pytest.raises(LimitExceeded) as caught:
            g.call("op", payload)
        error: Exception | None = caught.value
    else:
        error = run_supervised(wat(text), operation="op", payload=payload, engine=engine_name,
                               limits=limits).error
    assert isinstance(error, LimitExceeded) and error.limit == "max-memory", error
    assert str(error).startswith(
        f"max-memory: the payload ({format_size(900 << 10)}) does not fit in the 512KiB that "
        "the max-memory limit of 1MiB leaves above the guest's 512KiB of memory; then guest "
        "trapped:"), str(error)


def test_a_small_payload_and_a_plain_trap_stay_a_trap(engine_name: str) -> None:
    """Memory already at the limit is no evidence by itself: a trap is still a trap."""
    limits = Limits(max_memory_bytes=1 << 20)
    if engine_name == "wasmtime":
        g = guest_from_wat(guest("unreachable", memory="16"), engine_name, limits=limits)
        with pytest.raises(GuestTrap) as caught:
            g.call("op", b"hi")
        error: Exception | None = caught.value
    else:
        error = run_supervised(wat(guest("unreachable", memory="16")), operation="op",
                               payload=b"hi", engine=engine_name, limits=limits).error
    assert isinstance(error, GuestTrap) and not isinstance(error, LimitExceeded), error
