"""A wasmCloud 0.x pinger/ponger pair (our own WAT builds, not wasmCloud's binaries) and claims.

The real example actors (wasmCloud's ``examples/actor/pinger`` and ``ponger``)
are Rust ``wasmbus-rpc`` builds that no package registry here carries, so these
follow the same conventions by hand: ``pinger`` answers
``HttpServer.HandleRequest`` by calling the actor ``wasmcloud/ponger`` (its call
alias) with ``Pingpong.Ping`` and an empty payload (an operation without input),
reads the msgpack string it answers, and replies with a msgpack ``HttpResponse``
``{statusCode: 200, header: {}, body: b"Ping " + pong}`` (struct as a named map,
as ``rmp_serde::encode::write_named`` writes it). ``ponger`` answers
``Pingpong.Ping`` with the msgpack string ``"pong"``. Both import the nine waPC
functions from ``wapc`` (as wasmCloud 0.18's ``wapc-guest`` actors did).

:func:`sign` embeds wascap claims: a ``wasmcloud_jwt`` section holding an
Ed25519-signed JWT, the keys nkeys-encoded, made here with ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from stub_guests import SHORT_IMPORTS, data_string, fail_on_host_error

from wapc_cli.wasm.reader import encode_uleb

PONG_ALIAS = "wasmcloud/ponger"

PONG_OP = b"Pingpong.Ping"
_PONG = b"\xa4pong"  # msgpack: the string "pong"
PONGER_WAT = f"""
(module {SHORT_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "{data_string(PONG_OP)}")
  (data (i32.const 32) "{data_string(_PONG)}")
  (data (i32.const 64) "unknown operation")
  (func $is_ping (param $len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $len) (i32.const {len(PONG_OP)})) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.ne (i32.load8_u (i32.add (i32.const 1024) (local.get $i)))
                    (i32.load8_u (local.get $i)))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (if (i32.gt_u (local.get $len) (i32.const 60000)) (then (return (i32.const 0))))
    (call $req (i32.const 1024) (i32.const 2048))
    (if (call $is_ping (local.get $op_len))
      (then (call $resp (i32.const 32) (i32.const 5)) (return (i32.const 1))))
    (call $err (i32.const 64) (i32.const 17))
    (i32.const 0)))
"""

_ALIAS = PONG_ALIAS.encode()
# HttpResponse {statusCode: 200, header: {}, body: bin8(...)}: the fixed head, then the body.
_HEAD = b"\x83\xaastatusCode\xcc\xc8\xa6header\x80\xa4body\xc4"
# Binding "" (an actor target), namespace: ponger's call alias, no payload.
_PING_CALL = f"""(call $hc (i32.const 0) (i32.const 0) (i32.const 0) (i32.const {len(_ALIAS)})
                           (i32.const {len(_ALIAS)}) (i32.const {len(PONG_OP)})
                           (i32.const 0) (i32.const 0))"""
PINGER_WAT = f"""
(module {SHORT_IMPORTS}
  (memory (export "memory") 2)
  (data (i32.const 0) "{data_string(_ALIAS + PONG_OP)}")
  (data (i32.const 100) "{data_string(_HEAD)}")
  (data (i32.const 200) "Ping ")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $n i32) (local $pong i32) (local $head i32)
    (if (i32.gt_u (local.get $len) (i32.const 60000)) (then (return (i32.const 0))))
    (call $req (i32.const 1024) (i32.const 2048)){fail_on_host_error(_PING_CALL)}
    (local.set $n (call $rlen))
    (if (i32.gt_u (local.get $n) (i32.const 32)) (then (return (i32.const 0))))
    (call $rget (i32.const 300))
    ;; a msgpack fixstr: 0xa0 | length, then the text
    (local.set $pong (i32.and (i32.load8_u (i32.const 300)) (i32.const 31)))
    (local.set $head (i32.const {len(_HEAD)}))
    ;; response at 400: head, body length, "Ping ", the pong text
    (memory.copy (i32.const 400) (i32.const 100) (local.get $head))
    (i32.store8 (i32.add (i32.const 400) (local.get $head))
                (i32.add (i32.const 5) (local.get $pong)))
    (memory.copy (i32.add (i32.const 401) (local.get $head)) (i32.const 200) (i32.const 5))
    (memory.copy (i32.add (i32.const 406) (local.get $head)) (i32.const 301) (local.get $pong))
    (call $resp (i32.const 400) (i32.add (i32.add (local.get $head) (i32.const 6))
                                         (local.get $pong)))
    (i32.const 1)))
"""

_PREFIX = {"A": 0 << 3, "M": 12 << 3}


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def nkey(prefix: str, key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    body = bytes([_PREFIX[prefix]]) + raw
    return base64.b32encode(body + _crc16(body).to_bytes(2, "little")).decode()


def _segment(value: object) -> str:
    text = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


def custom_section(name: str, data: bytes) -> bytes:
    encoded = name.encode()
    body = encode_uleb(len(encoded)) + encoded + data
    return b"\x00" + encode_uleb(len(body)) + body


def sign(module: bytes, *, name: str, caps: list[str], call_alias: str | None = None,
         section: str = "wasmcloud_jwt", expires: int | None = None,
         account: Ed25519PrivateKey | None = None) -> tuple[bytes, dict[str, object]]:
    """``module`` with wascap claims appended; also the claims (``iss``, ``sub``, ...)."""
    account = account or Ed25519PrivateKey.generate()
    subject = Ed25519PrivateKey.generate()
    metadata: dict[str, object] = {"name": name, "hash": hashlib.sha256(module).hexdigest().upper(),
                                   "tags": [], "caps": caps, "rev": 1, "ver": "0.1.0"}
    if call_alias is not None:
        metadata["call_alias"] = call_alias
    metadata["prov"] = False
    claims: dict[str, object] = {"jti": "test-jti", "iat": int(time.time()),
                                 "iss": nkey("A", account), "sub": nkey("M", subject)}
    if expires is not None:
        claims["exp"] = expires
    claims.update({"wascap": metadata, "wascap_revision": 3})
    signed = f"{_segment({'typ': 'jwt', 'alg': 'Ed25519'})}.{_segment(claims)}"
    signature = base64.urlsafe_b64encode(account.sign(signed.encode())).rstrip(b"=").decode()
    token = f"{signed}.{signature}".encode()
    return module + custom_section(section, token), claims
