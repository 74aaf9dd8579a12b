"""``wapc compat``: the same exchange under every host profile and engine, explained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AVAILABLE_ENGINES, wat
from profile_guests import ECHO_WAT, PROBE_WAT, REACTOR_WAT, write_guest
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import ExitCode
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest
from wapc_cli.runtime.profiles import LIBRARY_PROFILES, HostProfile
from wapc_cli.tools.compat import run_compat
from wapc_cli.tools.host_setup import HostSetup


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("compat_guests")
    return {name: write_guest(directory, name, text) for name, text in
            (("reactor", REACTOR_WAT), ("echo", ECHO_WAT), ("probe", PROBE_WAT))}


def wapc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wapc_cli", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def plain_host(profile: HostProfile) -> HostSetup:
    return HostSetup()


def test_exit_code_is_documented_and_free() -> None:
    assert ExitCode.HOSTS_DIVERGE == 7
    assert len({int(code) for code in ExitCode}) == len(list(ExitCode))


def test_reactor_diverges_naming_wapc_rs_and_initialize(guests: dict[str, Path]) -> None:
    done = wapc("compat", str(guests["reactor"]), "echo", "-p", "hi")
    assert done.returncode == 7, done.stderr
    lines = [line for line in done.stdout.splitlines() if "wapc-rs on" in line]
    assert lines and "`_initialize`" in done.stdout
    assert "wapc-rs does not call `_initialize`" in " ".join(done.stdout.split())


def test_echo_agrees(guests: dict[str, Path]) -> None:
    done = wapc("compat", str(guests["echo"]), "echo", "-p", "hi")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"all {len(LIBRARY_PROFILES) * len(AVAILABLE_ENGINES)} runs agree" in done.stdout


def test_json_has_one_result_per_profile_and_engine(guests: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["compat", str(guests["reactor"]), "echo", "-p", "hi",
                                      "--json"])
    assert result.exit_code == 7, result.output
    data = json.loads(result.stdout)
    pairs = [(r["profile"], r["engine"]) for r in data["results"]]
    assert sorted(pairs) == sorted((p.name, e) for p in LIBRARY_PROFILES
                                   for e in AVAILABLE_ENGINES)
    assert data["agree"] is False
    outcomes = {r["profile"]: r["outcome"] for r in data["results"]}
    assert outcomes == {"wapc": "ok", "wapc-rs": "guest_error", "wapc-go": "ok",
                        "wapc-js": "guest_error"}
    because = {d["profile"]: d["because"] for d in data["divergences"]}
    assert because["wapc-rs"] == "wapc-rs does not call `_initialize`"
    assert set(because) == {"wapc-rs", "wapc-js"}
    echo = CliRunner().invoke(app, ["compat", str(guests["echo"]), "echo", "--json"])
    assert echo.exit_code == 0 and json.loads(echo.stdout)["agree"] is True


def test_explains_host_response_len_after_a_failed_call(engine_name: str) -> None:
    def denied(request: HostCallRequest) -> bytes:
        raise HostCallError("denied", b"body!")

    report = run_compat(wat(PROBE_WAT), name="probe", operation="x", payload=b"",
                        engines=[engine_name], make_host=lambda p: HostSetup(denied))
    assert not report.agree
    because = {d.profile: d.because for d in report.divergences}
    assert "wapc-rs clears the host response after a failed host call" in because["wapc-rs"]
    assert "wapc-go" not in because  # it keeps the body, as the spec's default does


def test_only_the_hosts_asked_for(guests: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["compat", str(guests["reactor"]), "echo", "--host",
                                      "wapc-go", "--host", "tarmac", "--json",
                                      "-e", "wasmtime"])
    assert result.exit_code == 0, result.output
    assert [r["profile"] for r in json.loads(result.stdout)["results"]] == ["wapc-go", "tarmac"]
    bad = CliRunner().invoke(app, ["compat", str(guests["echo"]), "echo", "--host", "nope"])
    assert bad.exit_code == 2


def test_not_a_guest_is_reported_once(tmp_path: Path, engine_name: str) -> None:
    module = tmp_path / "nope.wasm"
    module.write_bytes(wat('(module (memory (export "memory") 1))'))
    done = wapc("compat", str(module), "echo", "-e", engine_name)
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1


def test_a_kubernetes_context_answers_every_profiles_policy(tmp_path: Path) -> None:
    """`--k8s-context` reaches each run's host (the kubewarden preset) as in `wapc call`."""
    import wasmtime
    from kubewarden_guests import get_resource, policy_wat

    policy = tmp_path / "policy.wasm"
    policy.write_bytes(wasmtime.wat2wasm(policy_wat(
        [("kubewarden", "kubernetes", "get_resource", get_resource("Namespace", "default"))])))
    context = tmp_path / "cluster.yaml"
    context.write_text("- {apiVersion: v1, kind: Namespace, metadata: {name: default}}\n")
    result = CliRunner().invoke(app, ["compat", str(policy), "validate", "--json", "-e",
                                      AVAILABLE_ENGINES[0], "--k8s-context", str(context),
                                      "--host", "kubewarden", "--host", "wapc-rs"])
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)["results"]
    assert [r["outcome"] for r in runs] == ["ok", "ok"]
