"""``--admission-request FILE --settings FILE``: kwctl's ``validate`` payload, and the verdict
shown readably (accepted, message, code, patch size) in text and ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from kubewarden_guests import settings_policy_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.tools.kubewarden.admission import read_verdict, validate_payload

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "nginx", "namespace": "default"},
       "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}
REQUEST = {"uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
           "kind": {"group": "", "version": "v1", "kind": "Pod"},
           "resource": {"group": "", "version": "v1", "resource": "pods"},
           "name": "nginx", "namespace": "default", "operation": "CREATE",
           "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
           "object": POD}
REVIEW = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": REQUEST}


def respond_wat(response: bytes) -> str:
    """A policy whose ``validate`` answers ``response`` (its settings are always valid)."""
    return settings_policy_wat(validate=response)


def verdict(**fields: object) -> bytes:
    base: dict[str, object] = {"accepted": True, "message": None, "code": None,
                               "mutated_object": None, "audit_annotations": None,
                               "warnings": None}
    base.update(fields)
    return json.dumps(base).encode()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "review.json").write_text(json.dumps(REVIEW))
    (tmp_path / "request.json").write_text(json.dumps(REQUEST))
    (tmp_path / "settings.yaml").write_text("allowed_registries: [ghcr.io]\n")
    (tmp_path / "echo.wasm").write_bytes(wasmtime.wat2wasm(settings_policy_wat()))
    (tmp_path / "reject.wasm").write_bytes(wasmtime.wat2wasm(respond_wat(verdict(
        accepted=False, message="image 'nginx:latest' uses the latest tag", code=403))))
    mutated = json.loads(json.dumps(POD))
    mutated["spec"]["containers"][0]["image"] = "nginx:1.27"
    mutated["metadata"]["labels"] = {"patched": "yes"}
    (tmp_path / "mutate.wasm").write_bytes(wasmtime.wat2wasm(respond_wat(verdict(
        mutated_object=mutated, warnings=["image rewritten"]))))
    (tmp_path / "garbage.wasm").write_bytes(wasmtime.wat2wasm(respond_wat(b"not json")))
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_payload_is_request_and_settings_as_kwctl_builds_it(files: Path) -> None:
    payload = json.loads(validate_payload(files / "review.json", files / "settings.yaml"))
    assert payload == {"request": REQUEST, "settings": {"allowed_registries": ["ghcr.io"]}}
    # An AdmissionRequest on its own is used as it is; no settings file means {}.
    assert json.loads(validate_payload(files / "request.json", None)) == \
        {"request": REQUEST, "settings": {}}
    code, out, err = run("call", str(files / "echo.wasm"), "validate", "-d", "raw",
                         "--admission-request", str(files / "review.json"),
                         "--settings", str(files / "settings.yaml"))
    assert code == 0, err
    assert json.loads(out)["settings"] == {"allowed_registries": ["ghcr.io"]}


def test_a_rejection_is_shown_readably(files: Path, engine_name: str) -> None:
    code, out, err = run("call", str(files / "reject.wasm"), "validate", "--engine",
                         engine_name, "--admission-request", str(files / "review.json"),
                         "--preset", "kubewarden")
    assert code == 0
    assert ("wapc: kubewarden verdict: rejected · code 403 · message: image 'nginx:latest' "
            "uses the latest tag") in err
    code, out, _ = run("call", str(files / "reject.wasm"), "validate", "--json",
                       "--admission-request", str(files / "review.json"))
    document = json.loads(out)
    assert document["verdict"]["accepted"] is False and document["verdict"]["code"] == 403
    assert document["verdict"]["patch_operations"] == 0


def test_a_mutation_shows_its_patch_size(files: Path) -> None:
    code, out, err = run("call", str(files / "mutate.wasm"), "validate", "--json",
                         "--admission-request", str(files / "review.json"))
    assert code == 0, err
    found = json.loads(out)["verdict"]
    assert found["accepted"] and found["mutated"]
    assert found["patch_operations"] == 2 and found["patch_bytes"] > 40
    assert found["warnings"] == ["image rewritten"]
    _, _, err = run("call", str(files / "mutate.wasm"), "validate",
                    "--admission-request", str(files / "review.json"))
    assert "kubewarden verdict: accepted · patch: 2 operations, " in err


def test_a_response_that_is_no_verdict_is_said_so(files: Path) -> None:
    _, _, err = run("call", str(files / "garbage.wasm"), "validate",
                    "--admission-request", str(files / "request.json"))
    assert "not a ValidationResponse (the response is not JSON)" in err
    assert "code 500" in err


def test_verdicts_only_for_kubewarden_validate_calls(files: Path) -> None:
    _, _, err = run("call", str(files / "reject.wasm"), "validate")
    assert "verdict" not in err
    _, _, err = run("call", str(files / "reject.wasm"), "other", "--preset", "kubewarden")
    assert "verdict" not in err
    assert read_verdict(verdict(accepted=True), None).accepted


@pytest.mark.parametrize("args, message", [
    (["--payload", "x"], "--admission-request builds the payload"),
    (["--settings", "SETTINGS"], None),
])
def test_usage_mistakes_are_one_line(files: Path, args: list[str], message: str | None) -> None:
    args = [a.replace("SETTINGS", str(files / "settings.yaml")) for a in args]
    if message is None:  # --settings alone
        code, _, err = run("call", str(files / "echo.wasm"), "validate", *args)
        assert code == 2 and "--settings goes with --admission-request" in err
        return
    code, _, err = run("call", str(files / "echo.wasm"), "validate",
                       "--admission-request", str(files / "review.json"), *args)
    assert code == 2 and message in err
    bad = files / "bad.json"
    bad.write_text("{")
    code, _, err = run("call", str(files / "echo.wasm"), "validate",
                       "--admission-request", str(bad))
    assert code == 2 and "admission request is not JSON" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["--preset", "tarmac"], ["--host", "tarmac"]])
def test_kubewarden_inputs_with_another_preset_are_a_usage_error(
    files: Path, args: list[str]
) -> None:
    """Not silently answered by the Tarmac preset (no verdict, the context never read)."""
    code, _, err = run("call", str(files / "reject.wasm"), "validate",
                       "--admission-request", str(files / "review.json"), *args)
    assert code == 2 and err.count("\n") == 1, err
    assert "--admission-request is for the kubewarden preset" in err
    (files / "ctx.yaml").write_text("[]\n")
    code, _, err = run("call", str(files / "reject.wasm"), "validate", "-p", "{}",
                       "--k8s-context", str(files / "ctx.yaml"), *args)
    assert code == 2 and "--k8s-context is for the kubewarden preset" in err, err


def test_as_a_real_process(files: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(files / "reject.wasm"), "validate",
         "--admission-request", str(files / "review.json"), "--settings",
         str(files / "settings.yaml")], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert b"kubewarden verdict: rejected" in done.stderr
    assert json.loads(done.stdout)["accepted"] is False
