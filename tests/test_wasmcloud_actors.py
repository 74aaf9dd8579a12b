"""wasmCloud 0.x actors: the pinger answered by the ponger through ``reply: {guest: ...}``,
and ``wapc inspect`` reading (and verifying) an actor's embedded claims.

The pinger and ponger are our own WAT builds following wasmCloud's conventions
(tests/wasmcloud_actors.py), signed here with a real Ed25519 key.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
import wasmtime
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner
from wasmcloud_actors import PINGER_WAT, PONG_ALIAS, PONGER_WAT, custom_section, nkey, sign

from wapc_cli.cli.app import app
from wapc_cli.tools.inspect.claims import decode_public_key, encode_public_key

STUBS = f"""\
# wasmCloud routes an actor-to-actor call by the target's call alias (the namespace).
calls:
  - match: ":{PONG_ALIAS}:Pingpong.Ping"
    reply: {{guest: ponger.wasm, operation: Pingpong.Ping}}
"""


@pytest.fixture(scope="module")
def actors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wasmcloud")
    ponger = bytes(wasmtime.wat2wasm(PONGER_WAT))
    signed, claims = sign(ponger, name="Ponger", caps=["wasmcloud:builtin:logging"],
                          call_alias=PONG_ALIAS)
    (folder / "ponger.wasm").write_bytes(signed)
    (folder / "ponger.claims.json").write_text(json.dumps(claims))
    pinger = bytes(wasmtime.wat2wasm(PINGER_WAT))
    (folder / "pinger.wasm").write_bytes(sign(pinger, name="Pinger", caps=[
        "wasmcloud:httpserver"], section="jwt")[0])  # the pre-0.9 wascap section name
    (folder / "actors.yaml").write_text(STUBS)
    return folder


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_pinger_is_answered_by_the_ponger(actors: Path, engine_name: str) -> None:
    request = msgpack.packb({"method": "GET", "path": "/", "queryString": "", "header": {},
                             "body": b""})
    result = CliRunner().invoke(app, [
        "call", str(actors / "pinger.wasm"), "HttpServer.HandleRequest", "--payload-hex",
        request.hex(), "-e", engine_name, "--stubs", str(actors / "actors.yaml"), "-d", "raw"])
    assert result.exit_code == 0, result.stderr
    response = msgpack.unpackb(result.stdout_bytes)
    assert response == {"statusCode": 200, "header": {}, "body": b"Ping pong"}


def test_the_actor_to_actor_call_is_a_nested_exchange(actors: Path) -> None:
    code, out, err = run("trace", str(actors / "pinger.wasm"), "HttpServer.HandleRequest",
                         "--stubs", str(actors / "actors.yaml"), "-f", "jsonl")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    host_call = next(e for e in events if e["event"] == "host_call")
    assert (host_call["binding"], host_call["namespace"], host_call["operation"]) == (
        "", PONG_ALIAS, "Pingpong.Ping")
    inner = [e for e in events if e.get("depth") == 1]
    assert [e["event"] for e in inner][-3:] == ["guest_request", "guest_response", "return"]


def test_without_the_ponger_the_call_fails_like_a_missing_target(actors: Path) -> None:
    code, _, err = run("call", str(actors / "pinger.wasm"), "HttpServer.HandleRequest")
    assert code == 1 and f":{PONG_ALIAS}:Pingpong.Ping" in err


def test_inspect_shows_the_claims(actors: Path) -> None:
    claims = json.loads((actors / "ponger.claims.json").read_text())
    code, out, err = run("inspect", str(actors / "ponger.wasm"), "--json")
    assert code == 0, err
    found = json.loads(out)["wasmcloud"]
    assert found["section"] == "wasmcloud_jwt"
    assert found["issuer"] == claims["iss"] and found["issuer"].startswith("A")
    assert found["subject"] == claims["sub"] and found["subject"].startswith("M")
    assert found["name"] == "Ponger" and found["caps"] == ["wasmcloud:builtin:logging"]
    assert found["call_alias"] == PONG_ALIAS and found["revision"] == 1
    assert found["expires"] is None and found["expired"] is False
    assert found["hash_matches"] is True and found["hash_enforced"] is True
    assert found["signature"] == "valid" and found["problems"] == []
    code, out, _ = run("inspect", str(actors / "ponger.wasm"))
    assert "wasmCloud claims" in out and "call alias: wasmcloud/ponger" in out
    assert "signature: valid" in out and "hash: matches the module" in out


def test_the_old_jwt_section_name_is_read_too(actors: Path) -> None:
    _, out, _ = run("inspect", str(actors / "pinger.wasm"), "--json")
    found = json.loads(out)["wasmcloud"]
    assert found["section"] == "jwt" and found["name"] == "Pinger"
    assert found["signature"] == "valid" and found["hash_matches"]


def test_a_changed_module_or_a_forged_signature_is_reported(tmp_path: Path) -> None:
    ponger = bytes(wasmtime.wat2wasm(PONGER_WAT))
    signed, _ = sign(ponger, name="Ponger", caps=[])
    tampered = tmp_path / "tampered.wasm"
    tampered.write_bytes(signed + custom_section("extra", b"added after signing"))
    found = json.loads(run("inspect", str(tampered), "--json")[1])["wasmcloud"]
    assert found["hash_matches"] is False and found["signature"] == "valid"
    assert any("does not match" in p for p in found["problems"])
    # Signed by one key, claiming another issuer: the signature does not verify.
    other = nkey("A", Ed25519PrivateKey.generate())
    forged = tmp_path / "forged.wasm"
    forged.write_bytes(_reissued(ponger, other))
    found = json.loads(run("inspect", str(forged), "--json")[1])["wasmcloud"]
    assert found["issuer"] == other and found["signature"] == "invalid"
    expired, _ = sign(ponger, name="Old", caps=[], expires=int(time.time()) - 60)
    (tmp_path / "expired.wasm").write_bytes(expired)
    found = json.loads(run("inspect", str(tmp_path / "expired.wasm"), "--json")[1])["wasmcloud"]
    assert found["expired"] is True and "the claims have expired" in found["problems"]


def _reissued(module: bytes, issuer: str) -> bytes:
    """Claims naming ``issuer`` but signed by a different key."""
    import base64

    signed, _ = sign(module, name="Ponger", caps=[])
    token = signed[len(module):].split(b"wasmcloud_jwt", 1)[1].decode()
    head, claims_b64, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
    claims["iss"] = issuer
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return module + custom_section("wasmcloud_jwt", f"{head}.{body}.{signature}".encode())


def test_an_unsigned_module_has_no_claims_and_garbage_is_no_crash(tmp_path: Path) -> None:
    plain = tmp_path / "plain.wasm"
    plain.write_bytes(wasmtime.wat2wasm(PONGER_WAT))
    assert json.loads(run("inspect", str(plain), "--json")[1])["wasmcloud"] is None
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(bytes(wasmtime.wat2wasm(PONGER_WAT)) + custom_section("jwt", b"\xff.x"))
    code, out, _ = run("inspect", str(junk), "--json")
    assert code == 0  # claims never make a module non-conformant
    found = json.loads(out)["wasmcloud"]
    assert found["signature"].startswith("not verified") and found["problems"]



@pytest.mark.parametrize(("section", "contents", "problem"), [
    # JSON nested deeper than Python's parser recurses: no internal error
    ("wasmcloud_jwt", b"e30." + base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000)
     + b".AAAA", "JSON nested too deep"),
    ("wasmcloud_jwt", b"e30.e30.e30." * 3, "10 dot-separated parts, not 3"),
    ("wasmcloud_jwt", b"e30." + b"A" * (1 << 20) + b".AAAA", "larger than 1 MiB"),
    ("io.kubewarden.metadata", b"[" * 100_000 + b"]" * 100_000, "is not JSON"),
])
def test_hostile_claims_and_metadata_read_as_unreadable(
    tmp_path: Path, section: str, contents: bytes, problem: str
) -> None:
    module = tmp_path / "hostile.wasm"
    module.write_bytes(bytes(wasmtime.wat2wasm(PONGER_WAT)) + custom_section(section, contents))
    code, out, err = run("inspect", str(module), "--json")
    assert code == 0, err
    report = json.loads(out)
    found = report["wasmcloud"]["problems"] if section != "io.kubewarden.metadata" \
        else [report["kubewarden"]["problem"]]
    assert any(problem in text for text in found), found
    code, out, _ = run("inspect", str(module))
    assert code == 0 and problem in out.replace("\n    ", " ")
    if section != "io.kubewarden.metadata":
        assert "none claimed" in out  # not "does not match (claimed None ...)"

def test_nkeys_round_trip_and_checksum() -> None:
    key = Ed25519PrivateKey.generate()
    encoded = nkey("M", key)
    assert encode_public_key("M", decode_public_key(encoded)) == encoded
    broken = encoded[:-1] + ("A" if encoded[-1] != "A" else "B")
    with pytest.raises(ValueError):
        decode_public_key(broken)


def test_kubewarden_metadata_in_inspect(tmp_path: Path) -> None:
    metadata = {"protocolVersion": "v1", "rules": [{"apiGroups": [""], "apiVersions": ["v1"],
                "resources": ["pods"], "operations": ["CREATE"]}], "mutating": False,
                "contextAwareResources": [{"apiVersion": "v1", "kind": "Namespace"}],
                "executionMode": "kubewarden-wapc", "annotations": {
                    "io.kubewarden.policy.title": "demo"}}
    policy = tmp_path / "annotated.wasm"
    policy.write_bytes(bytes(wasmtime.wat2wasm(PONGER_WAT)) + custom_section(
        "io.kubewarden.metadata", json.dumps(metadata).encode()))
    found = json.loads(run("inspect", str(policy), "--json")[1])["kubewarden"]
    assert found["valid"] and found["protocol_version"] == "v1"
    assert found["context_aware_resources"] == [{"apiVersion": "v1", "kind": "Namespace"}]
    assert found["annotations"]["io.kubewarden.policy.title"] == "demo"
    _, out, _ = run("inspect", str(policy))
    assert "Kubewarden metadata" in out and "context-aware: v1/Namespace" in out


def test_as_a_real_process(actors: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(actors / "pinger.wasm"),
         "HttpServer.HandleRequest", "--stubs", str(actors / "actors.yaml"), "-d", "raw"],
        capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert msgpack.unpackb(done.stdout)["body"] == b"Ping pong"
    done = subprocess.run([sys.executable, "-m", "wapc_cli", "inspect",
                           str(actors / "ponger.wasm"), "--json"],
                          capture_output=True, timeout=120, check=False)
    assert json.loads(done.stdout)["wasmcloud"]["signature"] == "valid"
