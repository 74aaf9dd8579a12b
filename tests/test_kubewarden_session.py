"""kwctl record/replay session files: read by ``--stubs`` (by their shape), replayed in strict
order with kwctl's error texts, written by ``--record --record-format kwctl``."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import wasmtime
import yaml
from kubewarden_guests import SDK_LOG_EVENT, get_resource, list_all, policy_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.tools.stubs.loader import load_stub_file

# The exchange's head for get_resource("Namespace", "test-policy"), as kwctl records it.
GET_NAMESPACE_EXCHANGE = """\
- type: Exchange
  request: |
    !KubernetesGetResource
    api_version: v1
    kind: Namespace
    name: test-policy
    namespace: null
    disable_cache: false
"""

# Head and response together: verbatim kwctl's tests/data/host-capabilities-sessions/
# context-aware-demo-namespace-not-found.yml (as docs/hosts.md quotes it).
NOT_FOUND_SESSION = GET_NAMESPACE_EXCHANGE + """\
  response:
    type: Error
    message: Cannot find v1/Namespace named 'test-policy' inside of namespace 'None'
"""

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "test-policy", "labels": {"owner": "team-a"}}}
TWO_CALLS_SESSION = GET_NAMESPACE_EXCHANGE + f"""\
  response:
    type: Success
    payload: '{json.dumps(NAMESPACE, separators=(",", ":"))}'
- type: Exchange
  request: |
    !KubernetesListResourceAll
    api_version: networking.k8s.io/v1
    kind: Ingress
    label_selector: null
    field_selector: null
  response:
    type: Success
    payload: '{{"apiVersion":"v1","kind":"List","metadata":{{}},"items":[]}}'
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    def guest(name: str, calls: list) -> None:  # type: ignore[type-arg]
        (tmp_path / name).write_bytes(wasmtime.wat2wasm(policy_wat(calls)))

    guest("get.wasm", [("kubewarden", "tracing", "log", SDK_LOG_EVENT),
                       ("kubewarden", "kubernetes", "get_resource",
                        get_resource("Namespace", "test-policy"))])
    guest("two.wasm", [("kubewarden", "kubernetes", "get_resource",
                        get_resource("Namespace", "test-policy")),
                       ("kubewarden", "kubernetes", "list_resources_all",
                        list_all("Ingress", api_version="networking.k8s.io/v1"))])
    guest("other.wasm", [("kubewarden", "kubernetes", "get_resource",
                          get_resource("Namespace", "another"))])
    (tmp_path / "not-found.yml").write_text(NOT_FOUND_SESSION)
    (tmp_path / "two.yml").write_text(TWO_CALLS_SESSION)
    return tmp_path


def test_a_session_file_is_detected_by_its_shape(folder: Path) -> None:
    table = load_stub_file(folder / "two.yml")
    assert table.preset == "kubewarden" and table.kwctl_session is not None
    first = table.kwctl_session[0]
    assert first.request.variant == "KubernetesGetResource"
    assert first.request.get("namespace") is None and first.error is None
    schema = json.loads(resources.files("wapc_cli").joinpath("schemas/stubs.schema.json")
                        .read_text("utf-8"))
    jsonschema.validate(yaml.safe_load(TWO_CALLS_SESSION), schema)
    code, out, err = run("stubs", "check", str(folder / "two.yml"))
    assert code == 0, err
    assert "two.yml" in out + err


def test_replaying_kwctls_own_fixture(folder: Path, engine_name: str) -> None:
    code, _, err = run("call", str(folder / "get.wasm"), "validate", "--engine", engine_name,
                       "--stubs", str(folder / "not-found.yml"))
    assert code == 1
    assert ("Callback evaluation failure: Cannot find v1/Namespace named 'test-policy' inside "
            "of namespace 'None'") in err
    assert "[guest log] INFO starting validation" in err  # tracing/log is not in the file


def test_replay_is_strict_fifo_with_kwctls_texts(folder: Path) -> None:
    code, out, err = run("call", str(folder / "two.wasm"), "validate", "-d", "raw",
                         "--stubs", str(folder / "two.yml"))
    assert code == 0, err
    assert json.loads(out) == {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []}
    code, _, err = run("call", str(folder / "other.wasm"), "validate",
                       "--stubs", str(folder / "two.yml"))
    assert code == 1
    assert ("Callback evaluation failure: Replay error: unexpected request. Was expecting "
            'KubernetesGetResource { api_version: "v1", kind: "Namespace", name: '
            '"test-policy", namespace: None, disable_cache: false }, got KubernetesGetResource '
            '{ api_version: "v1", kind: "Namespace", name: "another", namespace: None, '
            "disable_cache: false } instead") in err
    empty = folder / "empty.yml"
    empty.write_text("[]\n")
    code, _, err = run("call", str(folder / "other.wasm"), "validate", "--stubs", str(empty))
    assert code == 1
    assert "Callback evaluation failure: the list of recorded responses is empty" in err


def test_the_trace_shows_the_replay_progress(folder: Path) -> None:
    code, out, _ = run("trace", str(folder / "get.wasm"), "validate", "--format", "jsonl",
                       "--stubs", str(folder / "two.yml"))
    assert code == 0  # the first exchange answered; the second was never asked for
    summary = json.loads(out.splitlines()[-1])
    assert summary["preset"]["replay"] == {"exchanges": 2, "used": 1, "left": 1}
    code, out, _ = run("trace", str(folder / "get.wasm"), "validate",
                       "--stubs", str(folder / "two.yml"))
    assert code == 0
    assert "1 of 2 exchanges answered, 1 left" in out
    assert "INFO: starting validation" in out and "kvstore" not in out


def test_recording_in_kwctl_format_then_replaying(folder: Path, engine_name: str) -> None:
    context = folder / "cluster.yaml"
    context.write_text(yaml.safe_dump([NAMESPACE, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "prod"}}]))
    record = folder / "recorded.yml"
    code, first, err = run("call", str(folder / "two.wasm"), "validate", "-d", "raw",
                           "--engine", engine_name, "--k8s-context", str(context),
                           "--record", str(record), "--record-format", "kwctl")
    assert code == 0, err
    entries = yaml.safe_load(record.read_text())
    assert [e["type"] for e in entries] == ["Exchange", "Exchange"]
    assert entries[0]["request"].startswith("!KubernetesGetResource\napi_version: v1\n")
    assert json.loads(entries[0]["response"]["payload"]) == NAMESPACE
    code, again, err = run("call", str(folder / "two.wasm"), "validate", "-d", "raw",
                           "--engine", engine_name, "--stubs", str(record))
    assert code == 0, err
    assert again == first
    # tracing/log and denials are settled before the channel: kwctl does not record them.
    log_only = folder / "log.yml"
    code, _, _ = run("call", str(folder / "get.wasm"), "validate", "--k8s-context", str(context),
                     "--record", str(log_only), "--record-format", "kwctl")
    recorded = yaml.safe_load(log_only.read_text())
    assert len(recorded) == 1 and "!KubernetesGetResource" in recorded[0]["request"]
    assert recorded[0]["response"]["type"] == "Success"


def test_recorded_errors_keep_the_inner_message(folder: Path) -> None:
    context = folder / "c.yaml"
    context.write_text("resources: []\nallow: [{apiVersion: v1, kind: Namespace}]\n")
    record = folder / "errors.yml"
    code, _, _ = run("call", str(folder / "other.wasm"), "validate", "--k8s-context",
                     str(context), "--record", str(record), "--record-format", "kwctl")
    assert code == 1
    (entry,) = yaml.safe_load(record.read_text())
    assert entry["response"] == {"type": "Error", "message": "Cannot find v1/Namespace named "
                                 "'another' inside of namespace 'None'"}


def test_bad_session_files_name_the_place(folder: Path) -> None:
    bad = folder / "bad.yml"
    bad.write_text("- type: Exchange\n  request: 'not a tagged mapping'\n"
                   "  response: {type: Success, payload: ''}\n")
    code, _, err = run("call", str(folder / "get.wasm"), "validate", "--stubs", str(bad))
    assert code == 2
    assert "bad.yml:2:" in err and "tagged mapping" in err
    bad.write_text("- type: Exchange\n  request: \"!OciManifest\\nimage: x\\n\"\n"
                   "  response: {type: Maybe}\n")
    code, _, err = run("call", str(folder / "get.wasm"), "validate", "--stubs", str(bad))
    assert code == 2 and "expected 'type: Success' or 'type: Error'" in err
    code, _, err = run("call", str(folder / "get.wasm"), "validate", "--record",
                       str(folder / "x.yml"), "--record-format", "json")
    assert code == 2 and "--record-format: expected stubs or kwctl" in err


def test_an_unknown_request_variant_is_refused_at_load(folder: Path) -> None:
    """kwctl (serde_yaml) cannot read a tag that is no CallbackRequestType variant."""
    bad = folder / "unknown_variant.yml"
    bad.write_text("- type: Exchange\n  request: \"!KubernetesGetResources\\nkind: x\\n\"\n"
                   "  response: {type: Success, payload: ''}\n")
    code, _, err = run("call", str(folder / "get.wasm"), "validate", "--stubs", str(bad))
    assert code == 2 and err.count("\n") == 1, err
    assert "unknown_variant.yml:2:" in err and "unknown variant `KubernetesGetResources`" in err
