"""Inline WAT guests that tell the host libraries apart (docs/hosts.md rows a-g)."""

from __future__ import annotations

import struct
from pathlib import Path

from conftest import WAPC_IMPORTS, wat

#: A reactor that registers its handlers in ``_initialize`` (as TinyGo reactors do):
#: before that, every operation fails with its own error text.
REACTOR_WAT = """(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (memory (export "memory") 1)
  (global $registered (mut i32) (i32.const 0))
  (data (i32.const 16) "no handler registered for this operation")
  (func (export "_initialize") (global.set $registered (i32.const 1)))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (if (i32.eqz (global.get $registered))
      (then (call $guest_error (i32.const 16) (i32.const 40)) (return (i32.const 0))))
    (call $guest_request (i32.const 1024) (i32.const 2048))
    (call $guest_response (i32.const 2048) (local.get $len))
    (i32.const 1)))"""
REACTOR_ERROR = "no handler registered for this operation"

#: A plain echo guest (no init exports, no imports beyond the nine).
ECHO_WAT = """(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 1024) (i32.const 2048))
    (call $guest_response (i32.const 2048) (local.get $len))
    (i32.const 1)))"""

#: Calls host b:n:op with its payload, then answers what it saw: __host_call's result,
#: __host_response_len, __host_error_len (all i32 LE) and the host error's bytes.
PROBE_WAT = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "b") (data (i32.const 8) "n") (data (i32.const 16) "op")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $err_len i32)
    (call $guest_request (i32.const 1024) (i32.const 2048))
    (i32.store (i32.const 4096) (call $host_call (i32.const 0) (i32.const 1) (i32.const 8)
      (i32.const 1) (i32.const 16) (i32.const 2) (i32.const 2048) (local.get $len)))
    (i32.store (i32.const 4100) (call $host_response_len))
    (local.set $err_len (call $host_error_len))
    (i32.store (i32.const 4104) (local.get $err_len))
    (if (local.get $err_len) (then (call $host_error (i32.const 4108))))
    (call $guest_response (i32.const 4096) (i32.add (i32.const 12) (local.get $err_len)))
    (i32.const 1)))"""


def probe_answer(response: bytes) -> tuple[int, int, bytes]:
    """(__host_call's result, __host_response_len, the host error bytes) the probe saw."""
    result, response_len, error_len = struct.unpack_from("<iii", response)
    return result, response_len, response[12 : 12 + error_len]


def result_wat(*, response: bool, error: bool, returns: int, error_first: bool = True) -> str:
    """A guest that sets a response and/or an error (in that order unless not
    ``error_first``) and returns ``returns``."""
    set_response = "(call $guest_response (i32.const 32) (i32.const 8))" if response else ""
    set_error = "(call $guest_error (i32.const 48) (i32.const 10))" if error else ""
    steps = f"{set_error} {set_response}" if error_first else f"{set_response} {set_error}"
    return f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 32) "response") (data (i32.const 48) "guest-fail")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    {steps}
    (i32.const {returns})))"""


#: Op "set" answers "first"; any other op returns 1 WITHOUT setting a response.
CARRY_WAT = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 32) "first")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (if (i32.eq (local.get $op_len) (i32.const 3))
      (then (call $guest_response (i32.const 32) (i32.const 5))))
    (i32.const 1)))"""

#: Counts its calls in a global (op "count" answers the count as one byte); op
#: "trap" hits unreachable. Tells a rebuilt instance from a reused one.
COUNTER_WAT = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (i32.eq (local.get $op_len) (i32.const 4)) (then unreachable))
    (i32.store8 (i32.const 64) (global.get $calls))
    (call $guest_response (i32.const 64) (i32.const 1))
    (i32.const 1)))"""

#: AssemblyScript-style: imports env.abort; op "abort" calls it, others answer "ok".
ABORT_WAT = f"""(module {WAPC_IMPORTS}
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "ok")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (if (i32.eq (local.get $op_len) (i32.const 5))
      (then (call $abort (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 2))))
    (call $guest_response (i32.const 32) (i32.const 2))
    (i32.const 1)))"""

#: Writes "hello\\n" to stdout with WASI fd_write and answers fd_write's errno (i32 LE).
FD_WRITE_WAT = f"""(module {WAPC_IMPORTS}
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello\\n")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 6))
    (i32.store (i32.const 200)
      (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (call $guest_response (i32.const 200) (i32.const 4))
    (i32.const 1)))"""

#: A command-style guest: ``_start`` ends with proc_exit(0); then it echoes.
EXIT_ZERO_WAT = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (i32.const 0)))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 1024) (i32.const 2048))
    (call $guest_response (i32.const 2048) (local.get $len))
    (i32.const 1)))"""

#: ``wapc_init`` traps.
INIT_TRAP_WAT = """(module
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "wapc_init") unreachable)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (i32.const 1)))"""

#: ``wapc_init`` calls __guest_request (there is no request yet).
INIT_REQUEST_WAT = """(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "wapc_init") (call $guest_request (i32.const 0) (i32.const 0)))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 1024) (i32.const 2048))
    (call $guest_response (i32.const 2048) (local.get $len))
    (i32.const 1)))"""


def write_guest(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.wasm"
    path.write_bytes(wat(text))
    return path
