"""Property tests: arbitrary i32s into every import, arbitrary bytes as a module.

A WAT guest reads its payload as little-endian i32s: the first picks an import,
the next eight are its arguments, the last is what ``__guest_call`` returns.
Whatever the numbers, a call must end in a response, a GuestError or a
GuestTrap (exit 0, 1 or 3), never in another exception, and the next call must
work. Mutated and random modules go through ``wapc call`` and ``wapc inspect``:
exit codes from the documented set only, no traceback, no internal error.

The generators live here and are shared with ``benchmarks/fuzz_campaign.py``,
which runs them for longer.
"""

from __future__ import annotations

import random
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime
from conftest import guest_from_wat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import GuestError, GuestTrap
from wapc_cli.runtime.guest import Guest
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest
from wapc_cli.runtime.wasi import WasiOptions


@dataclass(frozen=True)
class Target:
    module: str
    name: str
    params: str  # one letter per parameter: i (i32) or I (i64, fed a sign-extended i32)
    result: bool


TARGETS = [
    Target("wapc", "__guest_request", "ii", False),
    Target("wapc", "__guest_response", "ii", False),
    Target("wapc", "__guest_error", "ii", False),
    Target("wapc", "__host_call", "iiiiiiii", True),
    Target("wapc", "__host_response_len", "", True),
    Target("wapc", "__host_response", "i", False),
    Target("wapc", "__host_error_len", "", True),
    Target("wapc", "__host_error", "i", False),
    Target("wapc", "__console_log", "ii", False),
    Target("env", "__console_log", "ii", False),
    Target("env", "abort", "iiii", False),
    *(
        Target("wasi_snapshot_preview1", name, params, True)
        for name, params in [
            ("args_get", "ii"), ("args_sizes_get", "ii"), ("environ_get", "ii"),
            ("environ_sizes_get", "ii"), ("clock_res_get", "ii"), ("clock_time_get", "iIi"),
            ("random_get", "ii"), ("fd_write", "iiii"), ("fd_read", "iiii"),
            ("fd_close", "i"), ("fd_fdstat_get", "ii"), ("fd_seek", "iIii"),
            ("fd_tell", "ii"), ("fd_prestat_get", "ii"), ("fd_prestat_dir_name", "iii"),
            ("fd_filestat_get", "ii"), ("path_filestat_get", "iiiii"),
            ("path_open", "iiiiiIIii"), ("fd_readdir", "iiiIi"), ("sched_yield", ""),
            ("proc_exit", "i"),
        ]
    ),
]
ARGS = 9  # the most parameters any target takes
PAYLOAD = 2048  # where the guest asks for its payload


def _wat_type(params: str, result: bool) -> str:
    ps = " ".join("i64" if p == "I" else "i32" for p in params)
    return (f"(param {ps})" if ps else "") + (" (result i32)" if result else "")


def forwarding_guest() -> str:
    imports = [
        f'(import "{t.module}" "{t.name}" (func $t{i} {_wat_type(t.params, t.result)}))'
        for i, t in enumerate(TARGETS)
    ]
    branches = []
    for i, t in enumerate(TARGETS):
        args = " ".join(
            f"(i64.extend_i32_s (i32.load (i32.const {PAYLOAD + 4 + 4 * k})))" if p == "I"
            else f"(i32.load (i32.const {PAYLOAD + 4 + 4 * k}))"
            for k, p in enumerate(t.params)
        )
        call = f"(call $t{i} {args})"
        branches.append(f"(block $b{i} {'(drop ' + call + ')' if t.result else call} (br $done))")
    dispatch = "(br_table " + " ".join(f"$c{i}" for i in range(len(TARGETS))) + \
        f" $c0 (i32.rem_u (i32.load (i32.const {PAYLOAD})) (i32.const {len(TARGETS)})))"
    # Nested blocks: the innermost holds the br_table; block $c{i} ends right before branch i.
    body = dispatch
    for i in range(len(TARGETS)):
        body = f"(block $c{i} {body}) {branches[i]}"
    return f"""(module
  {" ".join(imports)}
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $t0 (i32.const 1024) (i32.const {PAYLOAD}))
    (block $done {body})
    (i32.load (i32.const {PAYLOAD + 4 + 4 * ARGS}))))"""


INTERESTING = [0, 1, -1, 2, 4, 8, 16, 3, 4095, 4096, 65531, 65532, 65535, 65536, 65537,
               PAYLOAD, 2**31 - 1, -(2**31), 2**31 - 16, -16, 0x7FFF0000]
# Edge values, values inside the guest's one page (so imports get past the bounds
# checks and do real work), and anything at all.
i32s = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 70000),
                 st.integers(-(2**31), 2**31 - 1))


def payload_for(index: int, args: list[int], result: int) -> bytes:
    return struct.pack(f"<I{ARGS}ii", index, *args, result)


def handler(request: HostCallRequest) -> bytes:
    """Host calls answer with something to read back, or fail with a body."""
    if request.payload[:1] == b"\xff":
        raise HostCallError("refused", body=b"error body")
    return b"answer" * (len(request.payload) % 5)


def make_guest(engine: str, grant: Path) -> Guest:
    wasi = WasiOptions(args=("a1",), env={"K": "V"}, dirs=((str(grant), "/data"),))
    return guest_from_wat(forwarding_guest(), engine, host_call=handler, wasi=wasi,
                          on_log=lambda message, source: None)


def check_one(g: Guest, index: int, args: list[int], result: int) -> str:
    """Run one case; return its outcome class. Anything unexpected propagates."""
    try:
        g.call("fuzz", payload_for(index, args, result))
        outcome = "ok"
    except GuestError:
        outcome = "error"
    except GuestTrap:
        outcome = "trap"
    # After anything, a plain call works (the instance was rebuilt if it trapped):
    # __guest_response(PAYLOAD, 4) answers with the payload's first word, the index.
    follow = payload_for(1, [PAYLOAD, 4] + [0] * (ARGS - 2), 1)
    assert g.call("fuzz", follow) == struct.pack("<I", 1)
    return outcome


@pytest.fixture(scope="module")
def grant() -> Path:
    root = Path(tempfile.mkdtemp(prefix="wapc-fuzz-"))
    (root / "file.txt").write_text("granted file")
    (root / "dir").mkdir()
    return root


_guests: dict[str, Guest] = {}


def guest_for(engine: str, grant: Path) -> Guest:
    if engine not in _guests:
        _guests[engine] = make_guest(engine, grant)
    return _guests[engine]


def test_every_target_is_reachable(engine_name: str, grant: Path) -> None:
    g = guest_for(engine_name, grant)
    for index in range(len(TARGETS)):
        check_one(g, index, [0] * ARGS, 1)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(TARGETS) - 1), args=st.lists(i32s, min_size=ARGS,
       max_size=ARGS), result=i32s)
def test_arbitrary_arguments_to_every_import(
    engine_name: str, grant: Path, index: int, args: list[int], result: int
) -> None:
    check_one(guest_for(engine_name, grant), index, args, result)


# -- module bytes -----------------------------------------------------------------------
SEED_GUEST = """(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 1 4)
  (data (i32.const 0) "seed")
  (global $g (mut i32) (i32.const 0))
  (func $loop (param $n i32) (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n)
    (i32.const 1))))))
  (func (export "wapc_init") (call $log (i32.const 0) (i32.const 4)))
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $req (i32.const 100) (i32.const 200))
    (call $loop (i32.const 1000))
    (call $resp (i32.const 200) (local.get 1))
    (i32.const 1)))"""
SEED = bytes(wasmtime.wat2wasm(SEED_GUEST))
ALLOWED_EXIT_CODES = {0, 1, 2, 3, 4, 5}


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        at = rng.randrange(len(out)) if out else 0
        if kind == 0 and out:
            out[at] = rng.randrange(256)
        elif kind == 1 and out:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 3 and out:
            del out[at : at + rng.randint(1, 8)]
        else:
            out = out[: rng.randrange(len(out) + 1)]
    return bytes(out)


def run_cli(argv: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, argv)
    problem = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not problem, f"{argv}: raised {result.exception!r}"
    assert result.exit_code in ALLOWED_EXIT_CODES, (argv, result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, (
        argv, result.stderr)
    return result.exit_code, result.stderr


def check_module(data: bytes, engine: str, directory: Path) -> tuple[int, int]:
    path = directory / "fuzz.wasm"
    path.write_bytes(data)
    called, _ = run_cli(["call", str(path), "op", "-p", "xyz", "-e", engine, "-q",
                         "--timeout", "2", "--max-memory", "64MiB"])
    inspected, _ = run_cli(["inspect", str(path), "-e", engine, "--timeout", "none"])
    return called, inspected


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_modules(engine_name: str, tmp_path: Path, seed: int) -> None:
    check_module(mutate(SEED, random.Random(seed)), engine_name, tmp_path)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.binary(max_size=200), header=st.sampled_from([b"", b"\0asm", b"\0asm\1\0\0\0"]))
def test_random_modules(engine_name: str, tmp_path: Path, tail: bytes, header: bytes) -> None:
    check_module(header + tail, engine_name, tmp_path)
