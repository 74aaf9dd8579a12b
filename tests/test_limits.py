"""--timeout, --fuel and --max-memory: enforced on every engine, or refused clearly."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime
from conftest import guest_from_wat
from test_hostile import GROW_UNTIL_REFUSED, guest
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.cli.limits import MAX_TIMEOUT_S, build_limits, parse_size
from wapc_cli.engines.base import MAX_FUEL, Limits
from wapc_cli.errors import GuestError, LimitExceeded, UsageError
from wapc_cli.isolation import run_supervised
from wapc_cli.runtime.hostcalls import HostCallRequest
from wapc_cli.runtime.limits import DEFAULT_TIMEOUT_S, format_size, needs_supervision
from wapc_cli.wasm.memories import cap_memories, defined_memories

LOOP = guest("(loop $forever (br $forever))")
BOMB = guest(GROW_UNTIL_REFUSED)
ECHO = guest("(call $guest_response (i32.const 0) (i32.const 5))")
# A host call during init and another during the call: each one sleeps in the handler.
SLOW_INIT_AND_CALL = guest(
    "(drop (call $host_call (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)"
    " (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))"
    " (call $tick) (call $guest_response (i32.const 0) (i32.const 5))",
    extra="(func $tick (loop $l (br_if $l (i32.const 0)))) "
          '(func (export "wapc_init") (drop (call $host_call (i32.const 0) (i32.const 1)'
          " (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 0)"
          " (i32.const 1))) (call $tick))",
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(wasmtime.wat2wasm(text))
    return path


def sleeper(seconds: float) -> Callable[[HostCallRequest], bytes]:
    def handler(request: HostCallRequest) -> bytes:
        time.sleep(seconds)
        return b""

    return handler


# -- parsing --------------------------------------------------------------------------
def test_default_timeout_and_turning_it_off() -> None:
    assert build_limits(None, None, None).timeout_s == DEFAULT_TIMEOUT_S
    for off in ("0", "none", "off"):
        assert build_limits(off, None, None).timeout_s is None
    assert build_limits("2.5", 10, "64MiB") == Limits(64 * 1024**2, 10, 2.5)


@pytest.mark.parametrize(
    ("text", "size"), [("65536", 65536), ("64KiB", 65536), ("16MiB", 16 << 20), ("1GiB", 1 << 30)]
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert parse_size(format_size(size)) == size


@pytest.mark.parametrize("text", ["", "MiB", "-1", "0", "12XB", "5GiB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(UsageError, match="--max-memory"):
        parse_size(text)


@pytest.mark.parametrize("text", ["1e35", "9e16", str(MAX_TIMEOUT_S + 1)])
def test_absurd_timeouts_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match=r"--timeout: .* more than the maximum of 2592000 seconds"):
        build_limits(text, None, None)
    assert build_limits(str(MAX_TIMEOUT_S), None, None).timeout_s == MAX_TIMEOUT_S


@pytest.mark.parametrize("fuel", [2**64, 2**64 + 100, 10**30])
def test_fuel_beyond_the_engine_range_is_refused(fuel: int) -> None:
    with pytest.raises(UsageError, match=rf"--fuel: .* more than the maximum of {MAX_FUEL}"):
        build_limits(None, fuel, None)
    assert build_limits(None, MAX_FUEL, None).fuel == MAX_FUEL


@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--timeout", "1e35"], "--timeout"), (["--fuel", str(2**64 + 100)], "--fuel")],
)
def test_the_cli_refuses_out_of_range_limits_with_exit_2(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    path = write(tmp_path, "echo.wasm", ECHO)
    result = CliRunner().invoke(app, ["call", str(path), "op", *args])
    assert result.exit_code == 2
    assert f"{flag}: " in result.output and "more than the maximum" in result.output


# -- timeout ---------------------------------------------------------------------------
def test_an_endless_loop_stops_within_the_timeout(tmp_path: Path, engine_name: str) -> None:
    module = write(tmp_path, "loop.wasm", LOOP)
    started = time.monotonic()
    result = CliRunner().invoke(
        app, ["call", str(module), "op", "-e", engine_name, "--timeout", "1", "--json"]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.stderr
    error = json.loads(result.stdout)["error"]
    assert (error["kind"], error["limit"], error["figure"]) == ("limit", "timeout", "1s")
    assert 0.9 < elapsed < 1 + 2, elapsed  # a correctness bound, not a benchmark


def test_the_timeout_includes_init(engine_name: str) -> None:
    """0.6 s in wapc_init + 0.6 s in the call: over a 1 s limit together, not apart."""
    wasm = wasmtime.wat2wasm(SLOW_INIT_AND_CALL)
    limits = Limits(timeout_s=1.0)
    if engine_name == "wasmtime":
        g = guest_from_wat(SLOW_INIT_AND_CALL, engine_name, limits=limits,
                           host_call=sleeper(0.6))
        with pytest.raises(LimitExceeded, match="timeout"):
            g.call("op")
        # A rebuilt instance: init again (0.6 s) and the call (0.6 s): over again.
        with pytest.raises(LimitExceeded, match="timeout"):
            g.call("op")
        # Without init before it, a call has the whole budget.
        g2 = guest_from_wat(SLOW_INIT_AND_CALL, engine_name, limits=limits,
                            host_call=sleeper(0.01))
        g2.call("op")
        g2.session.handler = sleeper(0.6)
        assert g2.call("op") == b"hello"
        assert g2.call("op") == b"hello"
    else:
        outcome = run_supervised(bytes(wasm), operation="op", engine=engine_name,
                                 limits=limits, host_call=sleeper(0.6))
        assert isinstance(outcome.error, LimitExceeded), outcome.error
        assert outcome.error.limit == "timeout"
        outcome = run_supervised(bytes(wasm), operation="op", engine=engine_name,
                                 limits=Limits(timeout_s=2.0), host_call=sleeper(0.6))
        assert outcome.error is None and outcome.response == b"hello"


def test_which_runs_are_supervised() -> None:
    assert needs_supervision("wasmer", Limits(timeout_s=30))
    assert needs_supervision("wasmer", Limits(max_memory_bytes=1 << 20))
    # The CLI's runs must stop on Ctrl-C: wasmer cannot interrupt, so only a child can.
    assert needs_supervision("wasmer", Limits())
    assert not needs_supervision("wasmer", Limits(), stoppable=False)
    assert needs_supervision("wasmer", Limits(timeout_s=30), stoppable=False)
    assert not needs_supervision("wasmtime", Limits(timeout_s=30, max_memory_bytes=1 << 20))
    assert not needs_supervision("wasmtime", Limits())
    assert not needs_supervision("auto", Limits(timeout_s=30))  # auto prefers wasmtime


@pytest.mark.wasmer
def test_wasmer_in_process_refuses_a_timeout_it_cannot_enforce() -> None:
    from conftest import module_from_wat

    with pytest.raises(UsageError, match="timeout is not supported by the wasmer engine"):
        module_from_wat(ECHO, "wasmer", Limits(timeout_s=1))
    with pytest.raises(UsageError, match="a fuel limit is not supported by the wasmer engine"):
        module_from_wat(ECHO, "wasmer", Limits(fuel=1000))


def test_supervised_call_relays_logs_and_host_calls(tmp_path: Path, engine_name: str) -> None:
    wasm = wasmtime.wat2wasm(guest(
        "(call $console_log (i32.const 0) (i32.const 5))"
        "(drop (call $host_call (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)"
        " (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 5)))"
        "(call $host_response (i32.const 100)) (call $guest_response (i32.const 100)"
        " (call $host_response_len))"))
    logs: list[tuple[str, str]] = []
    seen: list[HostCallRequest] = []

    def handler(request: HostCallRequest) -> bytes:
        seen.append(request)
        return b"answer:" + request.payload

    outcome = run_supervised(bytes(wasm), operation="op", engine=engine_name,
                             limits=Limits(timeout_s=10), host_call=handler,
                             on_log=lambda message, source: logs.append((message, source)))
    assert outcome.error is None, outcome.error
    assert outcome.response == b"answer:hello"
    assert logs == [("hello", "wapc")]
    assert [(r.binding, r.payload) for r in seen] == [("h", b"hello")]
    assert outcome.host_calls == 1


# -- fuel ------------------------------------------------------------------------------
def test_fuel_names_the_budget() -> None:
    g = guest_from_wat(LOOP, "wasmtime", limits=Limits(fuel=5000))
    with pytest.raises(LimitExceeded) as caught:
        g.call("op")
    assert (caught.value.limit, caught.value.figure) == ("fuel", "5000")
    assert "5000" in str(caught.value)


# -- max-memory -------------------------------------------------------------------------
def test_cap_memories_lowers_only_the_maximum() -> None:
    wasm = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 2))'))
    capped = cap_memories(wasm, 16 << 20)
    assert [(m.min_pages, m.max_pages) for m in defined_memories(capped)] == [(2, 256)]
    wasm = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 2 10))'))
    assert [m.max_pages for m in defined_memories(cap_memories(wasm, 16 << 20))] == [10]
    assert cap_memories(b"\0asm\x01\0\0\0\x05\xff", 1 << 20) == b"\0asm\x01\0\0\0\x05\xff"


def test_growth_beyond_the_limit_returns_minus_one(engine_name: str) -> None:
    # grow by one page until refused, then report the page count as the response
    text = guest(
        "(block $done (loop $grow (br_if $done (i32.eq (memory.grow (i32.const 1))"
        " (i32.const -1))) (br $grow)))"
        " (i32.store (i32.const 0) (memory.size)) (call $guest_response (i32.const 0)"
        " (i32.const 4))")
    g = guest_from_wat(text, engine_name, limits=Limits(max_memory_bytes=4 << 20))
    assert int.from_bytes(g.call("op"), "little") == 64  # 4 MiB in 64 KiB pages


def test_a_guest_error_after_the_limit_keeps_exit_1_and_names_it(engine_name: str) -> None:
    text = guest(
        "(block $done (loop $grow (br_if $done (i32.eq (memory.grow (i32.const 1))"
        " (i32.const -1))) (br $grow)))"
        " (call $guest_error (i32.const 0) (i32.const 5)) (return (i32.const 0))")
    g = guest_from_wat(text, engine_name, limits=Limits(max_memory_bytes=2 << 20))
    with pytest.raises(GuestError) as caught:
        g.call("op")
    assert str(caught.value).startswith("hello (guest memory grew to 2MiB of the max-memory")


RSS_PROBE = textwrap.dedent("""
    import resource, sys
    from wapc_cli.cli.app import app
    try:
        app(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over an exec, so a probe spawned
    # by a big pytest process would start at pytest's peak.
    with open("/proc/self/status") as status:
        own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(code, own, children, file=sys.stderr)
""")


def max_rss_kib(module: Path, engine: str, *flags: str) -> tuple[int, int]:
    """(exit code, peak RSS in KiB of the process that ran the guest).

    That is the ``wapc`` process itself on wasmtime, its supervised child on wasmer.
    """
    done = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, "call", str(module), "op", "-e", engine, "-q", *flags],
        capture_output=True, text=True, timeout=120,
    )
    code, own, children = done.stderr.strip().splitlines()[-1].split()
    supervised = needs_supervision(engine, Limits(max_memory_bytes=16 << 20))
    return int(code), int(children) if supervised else int(own)


def test_a_memory_bomb_keeps_resident_memory_bounded(tmp_path: Path, engine_name: str) -> None:
    bomb = write(tmp_path, "bomb.wasm", BOMB)
    echo = write(tmp_path, "echo.wasm", ECHO)
    base_code, baseline = max_rss_kib(echo, engine_name, "--max-memory", "16MiB")
    code, bounded = max_rss_kib(bomb, engine_name, "--max-memory", "16MiB")
    assert (base_code, code) == (0, 3)
    # 16 MiB of guest memory plus room for allocator noise; the same bomb given
    # 160 MiB shows the measurement would see a runaway.
    assert bounded - baseline < (16 + 24) * 1024, (baseline, bounded)
    _, loose = max_rss_kib(bomb, engine_name, "--max-memory", "160MiB")
    assert loose - baseline > 100 * 1024, (baseline, loose)
