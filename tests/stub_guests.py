"""Inline WAT guests shared by the stub and trace tests."""

from __future__ import annotations

from pathlib import Path

import wasmtime

#: The eight waPC imports a host-calling test guest needs (all but __console_log),
#: with the short names these guests use: $req $resp $err $hc $rlen $rget $elen $eget.
#: (conftest.WAPC_IMPORTS is all nine, with long names.)
SHORT_IMPORTS = """
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wapc" "__guest_error" (func $err (param i32 i32)))
  (import "wapc" "__host_call"
    (func $hc (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $rlen (result i32)))
  (import "wapc" "__host_response" (func $rget (param i32)))
  (import "wapc" "__host_error_len" (func $elen (result i32)))
  (import "wapc" "__host_error" (func $eget (param i32)))"""


def data_string(raw: bytes) -> str:
    """``raw`` as the inside of a WAT data string (every byte escaped)."""
    return "".join(f"\\{b:02x}" for b in raw)


def fail_on_host_error(succeeded: str) -> str:
    """WAT that, when ``succeeded`` (an i32 expression, e.g. ``(call $hc ...)``) is 0,
    ends ``__guest_call`` with the host error (read into memory at 65536) as the guest
    error. Needs SHORT_IMPORTS and an i32 local ``$n``."""
    return f"""
    (if (i32.eqz {succeeded})
      (then
        (local.set $n (call $elen))
        (call $eget (i32.const 65536))
        (call $err (i32.const 65536) (local.get $n))
        (return (i32.const 0))))"""


def answer_host_call(succeeded: str) -> str:
    """WAT ending ``__guest_call`` with the last host call's answer, read into memory at
    65536: the host error as the guest error when ``succeeded`` is 0 (see
    :func:`fail_on_host_error`), else the host response as the guest response."""
    return fail_on_host_error(succeeded) + """
    (local.set $n (call $rlen))
    (call $rget (i32.const 65536))
    (call $resp (i32.const 65536) (local.get $n))
    (i32.const 1)"""


# One host call b:ns:<the guest operation> with the guest payload; the host's
# answer becomes the guest's response (success) or guest error (failure).
_FORWARD_CALL = """
      (call $hc (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 2)
                (i32.const 32) (local.get $op_len)
                (i32.const 1024) (local.get $len))"""
FORWARD_WAT = f"""
(module {SHORT_IMPORTS}
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "bnsforwarding")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $n i32)
    (call $req (i32.const 32) (i32.const 1024))
    (call $log (i32.const 3) (i32.const 10)){answer_host_call(_FORWARD_CALL)}))
"""

# A host call, then an endless loop: what a hanging guest looks like.
HANG_WAT = """
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__host_call"
    (func $hc (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bnsop")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $req (i32.const 32) (i32.const 1024))
    (drop (call $hc (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 2)
                    (i32.const 3) (i32.const 2) (i32.const 1024) (local.get $len)))
    (loop $forever (br $forever))
    (i32.const 1)))
"""

# Echoes any payload (memory grows to hold it).
ECHO_WAT = """
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (if (i32.gt_u (i32.add (local.get $len) (i32.const 65536))
                  (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.add (i32.div_u (local.get $len) (i32.const 65536)) (i32.const 1))))))
    (call $req (i32.const 0) (i32.const 65536))
    (call $resp (i32.const 65536) (local.get $len))
    (i32.const 1)))
"""


REPO = Path(__file__).resolve().parent.parent
AS_GUEST = REPO / "sample_guests" / "build" / "as_guest.wasm"


def build(path: Path, text: str) -> Path:
    path.write_bytes(wasmtime.wat2wasm(text))
    return path


def host_call_wat(binding: str, namespace: str, operation: str) -> str:
    """A guest making one host call ``binding:namespace:operation`` with its own payload:
    the answer is its response (success) or its guest error (a failed host call).

    A probe for one host capability (Tarmac's kvstore, httpclient, function:NAME, ...).
    """
    names = (binding + namespace + operation).encode("utf-8")
    bind, ns, op = (len(binding.encode()), len(namespace.encode()), len(operation.encode()))
    call = f"""
      (call $hc (i32.const 0) (i32.const {bind}) (i32.const {bind})
                (i32.const {ns}) (i32.const {bind + ns}) (i32.const {op})
                (i32.const 2048) (local.get $len))"""
    return f"""
(module {SHORT_IMPORTS}
  (memory (export "memory") 2)
  (data (i32.const 0) "{data_string(names)}")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $n i32)
    (call $req (i32.const 1024) (i32.const 2048)){answer_host_call(call)}))
"""
