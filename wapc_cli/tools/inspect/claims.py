"""wasmCloud actor claims (``jwt`` / ``wasmcloud_jwt`` sections) and Kubewarden policy metadata.

wasmCloud 0.x signs an actor by embedding a JWT in a custom section (wascap
``src/wasm.rs``: ``jwt`` before wascap 0.9, ``wasmcloud_jwt`` since): header
``{"typ":"jwt","alg":"Ed25519"}``, claims ``iss`` (the account, ``A...``),
``sub`` (the module, ``M...``), ``iat``/``exp``/``nbf``, ``wascap_revision``,
and ``wascap``: ``{name, hash, tags, caps, rev, ver, call_alias, prov}``
(``src/jwt.rs``). ``hash`` is the upper-case hex SHA-256 of the module with
those sections taken out, every other section re-encoded as it was (id,
shortest LEB128 size, contents); a host enforces it from revision 3 on. The
signature is Ed25519 over ``header.claims`` by the issuer, whose public key
is its nkeys form (base32 of a prefix byte, the 32-byte key and a CRC-16):
checked here with ``cryptography``.

Kubewarden keeps a policy's metadata (``kwctl annotate``) as JSON in the
custom section ``io.kubewarden.metadata`` (policy-evaluator ``constants.rs``,
``policy_metadata.rs``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from ...wasm.module import Module
from ...wasm.reader import encode_uleb

JWT_SECTIONS = ("jwt", "wasmcloud_jwt")
KUBEWARDEN_SECTION = "io.kubewarden.metadata"
#: wascap checks the module hash from this claims revision on (``MIN_WASCAP_INTERNAL_REVISION``).
HASH_ENFORCED_FROM = 3
#: The largest JWT read (a real one is a few hundred bytes).
MAX_JWT_BYTES = 1 << 20
#: nkeys prefix bytes (the first base32 character) of the keys a claim names.
NKEYS_PREFIXES = {"A": 0 << 3, "M": 12 << 3, "O": 14 << 3, "N": 13 << 3, "U": 20 << 3,
                  "C": 2 << 3, "V": 21 << 3}


@dataclass(frozen=True)
class ActorClaims:
    """What an actor's embedded JWT says, and what checking it found."""

    section: str
    issuer: str | None
    subject: str | None
    name: str | None
    caps: tuple[str, ...]
    tags: tuple[str, ...]
    call_alias: str | None
    revision: int | None  # ``wascap.rev``: the actor's own revision
    version: str | None
    provider: bool
    issued_at: int | None
    expires: int | None
    not_before: int | None
    wascap_revision: int | None
    module_hash: str | None  # as claimed
    computed_hash: str
    signature: str  # "valid" | "invalid" | "not verified: ..."
    problems: tuple[str, ...] = ()

    @property
    def hash_matches(self) -> bool:
        return self.module_hash is not None and self.module_hash == self.computed_hash

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires < time.time()

    def as_json(self) -> dict[str, Any]:
        return {
            "section": self.section, "issuer": self.issuer, "subject": self.subject,
            "name": self.name, "caps": list(self.caps), "tags": list(self.tags),
            "call_alias": self.call_alias, "revision": self.revision,
            "version": self.version, "provider": self.provider,
            "issued_at": self.issued_at, "expires": self.expires,
            "not_before": self.not_before, "expired": self.expired,
            "wascap_revision": self.wascap_revision, "module_hash": self.module_hash,
            "computed_hash": self.computed_hash, "hash_matches": self.hash_matches,
            "hash_enforced": (self.wascap_revision or 0) >= HASH_ENFORCED_FROM,
            "signature": self.signature, "problems": list(self.problems),
        }


def module_hash(module: Module, data: bytes) -> str:
    """wascap's hash: SHA-256 of the module without its JWT sections, upper-case hex."""
    digest = hashlib.sha256(data[:8])
    for section in module.sections:
        if section.id == 0 and section.name in JWT_SECTIONS:
            continue
        digest.update(bytes([section.id]) + encode_uleb(section.size))
        digest.update(data[section.offset:section.offset + section.size])
    return digest.hexdigest().upper()


def _custom_data(module: Module, data: bytes, name: str) -> bytes | None:
    """The contents (after the name) of the first custom section called ``name``."""
    for section in module.customs:
        if section.name == name:
            encoded = name.encode("utf-8")
            start = section.offset + len(encode_uleb(len(encoded))) + len(encoded)
            return data[start:section.offset + section.size]
    return None


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _crc16(data: bytes) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, initial 0), as nkeys checks keys."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def decode_public_key(key: str) -> bytes:
    """The 32 raw bytes of an nkeys public key (``A...``, ``M...``); ValueError if it is not one."""
    if len(key) != 56 or key[0] not in NKEYS_PREFIXES:
        raise ValueError("not an nkeys public key (56 characters, a known prefix)")
    try:
        raw = base64.b32decode(key)
    except (binascii.Error, ValueError):
        raise ValueError("not base32") from None
    body, checksum = raw[:-2], int.from_bytes(raw[-2:], "little")
    if _crc16(body) != checksum:
        raise ValueError("its checksum does not match")
    if body[0] != NKEYS_PREFIXES[key[0]]:
        raise ValueError("its prefix byte does not match")
    return body[1:]


def encode_public_key(prefix: str, raw: bytes) -> str:
    """An nkeys public key from 32 raw Ed25519 bytes (``prefix`` ``A``, ``M``, ...)."""
    body = bytes([NKEYS_PREFIXES[prefix]]) + raw
    return base64.b32encode(body + _crc16(body).to_bytes(2, "little")).decode("ascii")


def _verify(issuer: str | None, signed: bytes, signature: bytes) -> str:
    if not issuer:
        return "not verified: no issuer"
    try:
        raw = decode_public_key(issuer)
    except ValueError as exc:
        return f"not verified: the issuer is {exc}"
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return "not verified: the cryptography package is not installed"
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, signed)
    except InvalidSignature:
        return "invalid"
    except ValueError:
        return "not verified: the issuer key is not an Ed25519 key"
    return "valid"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def actor_claims(module: Module, data: bytes) -> ActorClaims | None:
    """The claims of the first JWT section (None without one)."""
    for name in JWT_SECTIONS:
        raw = _custom_data(module, data, name)
        if raw is not None:
            return _claims(name, raw[:MAX_JWT_BYTES + 1], module_hash(module, data))
    return None


def _claims(section: str, raw: bytes, computed: str) -> ActorClaims:
    problems: list[str] = []
    claims: dict[str, Any] = {}
    signature = "not verified: the token could not be read"
    try:
        if len(raw) > MAX_JWT_BYTES:
            raise ValueError(f"larger than {MAX_JWT_BYTES >> 20} MiB")
        token = raw.decode("utf-8").strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError(f"{len(parts)} dot-separated parts, not 3")
        header_b64, claims_b64, signature_b64 = parts
        header = json.loads(_b64url(header_b64))
        value = json.loads(_b64url(claims_b64))
        if not isinstance(value, dict):
            raise ValueError("the claims are not a JSON object")
        claims = value
        if not isinstance(header, dict) or header.get("alg") != "Ed25519":
            problems.append("the token's header does not say alg Ed25519")
        signature = _verify(_str(claims.get("iss")), f"{header_b64}.{claims_b64}".encode(),
                            _b64url(signature_b64))
    except RecursionError:  # JSON nested deeper than the parser goes: a hostile file
        problems.append(f"the '{section}' section is not a readable JWT (JSON nested too deep)")
    except (UnicodeDecodeError, ValueError, binascii.Error) as exc:
        problems.append(f"the '{section}' section is not a readable JWT ({exc})"
                        if not isinstance(exc, UnicodeDecodeError)
                        else f"the '{section}' section is not UTF-8 text")
    meta = claims.get("wascap")
    meta = meta if isinstance(meta, dict) else {}
    found = ActorClaims(
        section=section, issuer=_str(claims.get("iss")), subject=_str(claims.get("sub")),
        name=_str(meta.get("name")), caps=_strings(meta.get("caps")),
        tags=_strings(meta.get("tags")), call_alias=_str(meta.get("call_alias")),
        revision=_int(meta.get("rev")), version=_str(meta.get("ver")),
        provider=meta.get("prov") is True, issued_at=_int(claims.get("iat")),
        expires=_int(claims.get("exp")), not_before=_int(claims.get("nbf")),
        wascap_revision=_int(claims.get("wascap_revision")),
        module_hash=_str(meta.get("hash")), computed_hash=computed, signature=signature,
    )
    if claims and found.module_hash is not None and not found.hash_matches:
        problems.append("the module's hash does not match the claims (changed after signing)")
    if found.expired:
        problems.append("the claims have expired")
    return _with(found, problems)


def _with(found: ActorClaims, problems: list[str]) -> ActorClaims:
    from dataclasses import replace

    return replace(found, problems=tuple(problems))


def kubewarden_metadata(module: Module, data: bytes) -> dict[str, Any] | None:
    """The policy metadata ``kwctl annotate`` embeds (None without it)."""
    raw = _custom_data(module, data, KUBEWARDEN_SECTION)
    if raw is None:
        return None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"valid": False, "problem": f"the '{KUBEWARDEN_SECTION}' section is not JSON"}
    if not isinstance(value, dict):
        return {"valid": False, "problem": f"the '{KUBEWARDEN_SECTION}' section is not an object"}
    return {
        "valid": True,
        "protocol_version": value.get("protocolVersion"),
        "mutating": value.get("mutating"),
        "background_audit": value.get("backgroundAudit", True),
        "execution_mode": value.get("executionMode", "kubewarden-wapc"),
        "policy_type": value.get("policyType", "kubernetes"),
        "rules": value.get("rules") if isinstance(value.get("rules"), list) else [],
        "context_aware_resources": value.get("contextAwareResources")
        if isinstance(value.get("contextAwareResources"), list) else [],
        "annotations": value.get("annotations")
        if isinstance(value.get("annotations"), dict) else {},
        "minimum_kubewarden_version": value.get("minimumKubewardenVersion"),
    }
