"""A probe guest for the Tarmac preset's tests: ONE host call, its parts taken from the payload.

Payload: three little-endian u32 lengths (binding, namespace, operation), then
those three names, then the host call's payload (the rest). Operation
``call``: the host's response bytes, or the host error as a guest error.
Operation ``frame``: always a success, whose response is ``[ok u8][body len
u32][body][error text]`` -- so a test sees the body AND the error of a failed
host call, as Tarmac sends both. :func:`ask` asks the preset directly, with no guest.
"""

from __future__ import annotations

import struct
from typing import Any

from conftest import WAPC_IMPORTS, guest_from_wat

from wapc_cli.runtime.hostcalls import HostCallRequest, HostReply
from wapc_cli.tools.tarmac.preset import TarmacPreset

PROBE_WAT = f"""
(module
  {WAPC_IMPORTS}
  (memory (export "memory") 1)
  ;; grow memory so that it holds at least $bytes bytes
  (func $ensure (param $bytes i32)
    (local $need i32)
    (local.set $need (i32.sub
      (i32.div_u (i32.add (local.get $bytes) (i32.const 65535)) (i32.const 65536))
      (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
        (then unreachable)))))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $b i32) (local $n i32) (local $o i32) (local $names i32) (local $pl i32)
    (local $ok i32) (local $out i32) (local $blen i32) (local $elen i32)
    (call $ensure (i32.add (local.get $len) (i32.const 512)))
    (call $guest_request (i32.const 0) (i32.const 256))
    (local.set $b (i32.load (i32.const 256)))
    (local.set $n (i32.load (i32.const 260)))
    (local.set $o (i32.load (i32.const 264)))
    (local.set $names (i32.const 268))
    (local.set $pl (i32.sub (local.get $len)
      (i32.add (i32.const 12) (i32.add (local.get $b) (i32.add (local.get $n) (local.get $o))))))
    (local.set $ok (call $host_call
      (local.get $names) (local.get $b)
      (i32.add (local.get $names) (local.get $b)) (local.get $n)
      (i32.add (local.get $names) (i32.add (local.get $b) (local.get $n))) (local.get $o)
      (i32.add (local.get $names) (i32.add (local.get $b) (i32.add (local.get $n) (local.get $o))))
      (local.get $pl)))
    (local.set $out (i32.add (local.get $len) (i32.const 272)))
    (local.set $blen (call $host_response_len))
    (if (local.get $ok)
      (then (local.set $elen (i32.const 0)))
      (else (local.set $elen (call $host_error_len))))
    (call $ensure (i32.add (i32.add (local.get $out) (i32.const 8))
                           (i32.add (local.get $blen) (local.get $elen))))
    (i32.store8 (local.get $out) (local.get $ok))
    (i32.store (i32.add (local.get $out) (i32.const 1)) (local.get $blen))
    (call $host_response (i32.add (local.get $out) (i32.const 5)))
    (if (i32.eqz (local.get $ok))
      (then (call $host_error
        (i32.add (i32.add (local.get $out) (i32.const 5)) (local.get $blen)))))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 102))  ;; "frame"
      (then
        (call $guest_response (local.get $out)
          (i32.add (i32.const 5) (i32.add (local.get $blen) (local.get $elen))))
        (return (i32.const 1))))
    (if (local.get $ok)
      (then
        (call $guest_response (i32.add (local.get $out) (i32.const 5)) (local.get $blen))
        (return (i32.const 1))))
    (call $guest_error (i32.add (i32.add (local.get $out) (i32.const 5)) (local.get $blen))
                       (local.get $elen))
    (i32.const 0)))
"""


def ask(preset: TarmacPreset, key: str, payload: bytes = b"") -> HostReply:
    """The preset's own answer to host call ``binding:namespace:operation`` with ``payload``."""
    binding, namespace, operation = key.split(":")
    reply = preset.answer(HostCallRequest(binding, namespace, operation, payload))
    assert reply is not None
    return reply


def probe_payload(key: str, payload: bytes) -> bytes:
    """The probe's payload for one host call ``binding:namespace:operation`` with ``payload``."""
    binding, namespace, operation = (part.encode() for part in key.split(":", 2))
    header = struct.pack("<III", len(binding), len(namespace), len(operation))
    return header + binding + namespace + operation + payload


def unframe(response: bytes) -> tuple[bool, bytes, str | None]:
    """(ok, body, error) from a ``frame`` response."""
    ok = response[0] == 1
    (length,) = struct.unpack("<I", response[1:5])
    body = response[5 : 5 + length]
    error = None if ok else response[5 + length :].decode("utf-8")
    return ok, body, error


class Probe:
    """One instantiated probe guest answering with ``handler``."""

    def __init__(self, engine: str, handler: Any) -> None:
        self.guest = guest_from_wat(PROBE_WAT, engine, host_call=handler)

    def frame(self, key: str, payload: bytes = b"") -> tuple[bool, bytes, str | None]:
        return unframe(self.guest.call("frame", probe_payload(key, payload)))
