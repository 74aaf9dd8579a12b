"""``--admission-request``: the policy's ``validate_settings`` runs first, as policy-server
(and ``kwctl run``) calls it; settings it refuses are reported in policy-server's words
(``Policy settings are invalid: ...``), exit 1, and ``validate`` is not called."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from kubewarden_guests import SETTINGS_VALID, settings_policy_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import ExitCode, GuestError, GuestTrap
from wapc_cli.tools.kubewarden.admission import (
    InvalidSettings,
    check_settings,
    kwctl_payloads,
    settings_problem,
)

REQUEST = {"uid": "42", "kind": {"group": "", "version": "v1", "kind": "Pod"},
           "operation": "CREATE", "object": {"metadata": {"name": "nginx"}}}
ACCEPT = b'{"accepted":true,"message":null,"code":null,"mutated_object":null,' \
         b'"audit_annotations":null,"warnings":null}'
REFUSED = b'{"valid":false,"message":"allowed_registries must not be empty"}'


def write_policy(folder: Path, name: str, **answers: bytes | str) -> Path:
    path = folder / f"{name}.wasm"
    path.write_bytes(wasmtime.wat2wasm(settings_policy_wat(**answers)))  # type: ignore[arg-type]
    return path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "review.json").write_text(json.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": REQUEST}))
    (tmp_path / "settings.yaml").write_text("allowed_registries: []\n")
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def call(files: Path, policy: Path, *extra: str) -> tuple[int, str, str]:
    return run("call", str(policy), "validate", "--admission-request",
               str(files / "review.json"), "--settings", str(files / "settings.yaml"), *extra)


def test_invalid_settings_stop_before_validate(files: Path, engine_name: str) -> None:
    policy = write_policy(files, "refuses", settings=REFUSED, validate="trap")
    code, out, err = call(files, policy, "-e", engine_name)
    # exit 1, not the trap's 3: validate (which would trap) never ran
    assert code == int(ExitCode.GUEST_ERROR) == 1, err
    assert err == "wapc: error: Policy settings are invalid: " \
                  "allowed_registries must not be empty\n"
    assert out == ""


def test_supervised_runs_check_the_settings_too(files: Path, engine_name: str) -> None:
    """With a limit, wasmer runs in a child process: validate_settings in one of its own."""
    refuses = write_policy(files, "refuses", settings=REFUSED, validate="trap")
    code, _, err = call(files, refuses, "-e", engine_name, "--timeout", "20")
    assert code == 1 and "Policy settings are invalid: allowed_registries" in err
    accepts = write_policy(files, "accepts", validate=ACCEPT)
    code, _, err = call(files, accepts, "-e", engine_name, "--timeout", "20")
    assert code == 0 and "kubewarden verdict: accepted" in err


def test_valid_settings_go_on_to_validate(files: Path, engine_name: str) -> None:
    policy = write_policy(files, "accepts", validate=ACCEPT)
    for host in ("wapc", "kubewarden"):  # the same instance (kwctl), or a fresh one
        code, _, err = call(files, policy, "-e", engine_name, "--host", host)
        assert code == 0, err
        assert "kubewarden verdict: accepted" in err


def test_validate_settings_gets_the_settings_alone(files: Path) -> None:
    """An echoing validate_settings hands the settings back: a settings file that reads
    as a SettingsValidationResponse is then its own verdict."""
    policy = write_policy(files, "echo", settings="echo", validate=ACCEPT)
    (files / "settings.yaml").write_text('{"valid": false, "message": "echoed back"}')
    code, _, err = call(files, policy)
    assert code == 1 and "Policy settings are invalid: echoed back" in err
    (files / "settings.yaml").write_text("valid: true\n")
    code, _, err = call(files, policy)
    assert code == 0, err
    assert kwctl_payloads(files / "review.json", files / "settings.yaml")[1] == b'{"valid":true}'


def test_a_guest_error_or_no_verdict_is_invalid_settings(files: Path) -> None:
    failing = write_policy(files, "fails", settings="error:no handler for validate_settings",
                           validate=ACCEPT)
    code, _, err = call(files, failing)
    assert code == 1
    assert ("Policy settings are invalid: Error invoking settings validation callback: "
            "no handler for validate_settings") in err
    garbage = write_policy(files, "garbage", settings=b"ok", validate=ACCEPT)
    code, _, err = call(files, garbage)
    assert code == 1 and "Policy settings are invalid: error: the response is not a " \
                         "SettingsValidationResponse" in err


def test_no_message_is_said_as_policy_server_says_it() -> None:
    problem = settings_problem(b'{"valid":false,"message":null}', None)
    assert isinstance(problem, InvalidSettings)
    assert problem.message == "Policy settings are invalid: no message"
    assert problem.exit_code == ExitCode.GUEST_ERROR
    assert settings_problem(SETTINGS_VALID, None) is None
    assert settings_problem(b'{"valid":true,"message":7}', None) is not None


def test_a_trap_in_validate_settings_stays_a_trap(files: Path) -> None:
    policy = write_policy(files, "traps", settings="trap", validate=ACCEPT)
    code, _, err = call(files, policy)
    assert code == 3 and "(during validate_settings)" in err

    def trapping(operation: str, payload: bytes) -> bytes:
        raise GuestTrap("guest trapped: unreachable")

    with pytest.raises(GuestTrap) as info:
        check_settings(trapping, b"{}")
    assert info.value.phase == "validate_settings"

    def erring(operation: str, payload: bytes) -> bytes:
        raise GuestError("boom", b"boom")

    with pytest.raises(InvalidSettings):
        check_settings(erring, b"{}")


def test_json_reports_the_invalid_settings(files: Path) -> None:
    policy = write_policy(files, "refuses", settings=REFUSED, validate="trap")
    code, out, _ = call(files, policy, "--json")
    document = json.loads(out)
    assert code == 1 and document["ok"] is False and document["exit_code"] == 1
    assert document["error"]["kind"] == "guest_error"
    assert document["error"]["message"] == ("Policy settings are invalid: "
                                            "allowed_registries must not be empty")


def test_the_trace_shows_validate_settings_then_validate(files: Path) -> None:
    policy = write_policy(files, "accepts", validate=ACCEPT)
    code, out, err = run("trace", str(policy), "validate", "--format", "jsonl",
                         "--admission-request", str(files / "review.json"))
    assert code == 0, err
    calls = [json.loads(line) for line in out.splitlines()]
    operations = [event.get("operation") for event in calls
                  if event.get("event") == "guest_call"]
    assert operations == ["validate_settings", "validate"], operations


def test_without_admission_request_nothing_changes(files: Path) -> None:
    policy = write_policy(files, "refuses", settings=REFUSED, validate=ACCEPT)
    code, _, err = run("call", str(policy), "validate", "-p", "{}")
    assert code == 0, err
    code, _, err = run("call", str(policy), "validate_settings", "--admission-request",
                       str(files / "review.json"))
    assert code == 0, err  # asked for validate_settings itself: answered, not checked twice


def test_as_a_real_process(files: Path) -> None:
    policy = write_policy(files, "refuses", settings=REFUSED, validate="trap")
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(policy), "validate",
         "--admission-request", str(files / "review.json")],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr == ("wapc: error: Policy settings are invalid: "
                           "allowed_registries must not be empty\n")
