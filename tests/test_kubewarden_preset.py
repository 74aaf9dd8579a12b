"""``--preset kubewarden``: tracing/log, kubernetes get/list/can_i from a context file,
offline capabilities and Kubewarden's error texts, on every engine and from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from kubewarden_guests import (
    SDK_LOG_EVENT,
    SDK_WARNING_EVENT,
    get_resource,
    list_all,
    list_namespaced,
    policy_wat,
)
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.runtime.hostcalls import HostCallRequest
from wapc_cli.tools.kubewarden.context import load_context
from wapc_cli.tools.kubewarden.preset import KubewardenPreset
from wapc_cli.tools.kubewarden.selectors import SelectorError, field_selector, label_selector
from wapc_cli.tools.stubs.host import build_host_setup

CONTEXT = """
resources:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: default, labels: {env: prod, team: core}}
  - apiVersion: v1
    kind: Namespace
    metadata: {name: dev, labels: {env: test}}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web, namespace: dev, labels: {app: web}}
    status: {phase: Running}
  - apiVersion: v1
    kind: Pod
    metadata: {name: job, namespace: dev, labels: {app: batch}}
    status: {phase: Succeeded}
allow:
  - {apiVersion: v1, kind: Namespace}
  - {apiVersion: v1, kind: Pod}
can_i:
  - {user: alice, verb: delete, resource: pods, allowed: true, reason: "RBAC: allowed"}
  - {group: "system:masters", allowed: true}
"""


def call(preset: KubewardenPreset, namespace: str, operation: str, payload: bytes,
         binding: str = "kubewarden") -> tuple[Any, str | None]:
    reply = preset.answer(HostCallRequest(binding, namespace, operation, payload))
    body = json.loads(reply.body) if reply.body else None
    return body, reply.error


@pytest.fixture
def context_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(CONTEXT)
    return path


@pytest.fixture
def preset(context_file: Path) -> KubewardenPreset:
    return KubewardenPreset(load_context(context_file))


def test_get_resource_answers_the_object_and_kubewardens_not_found_text(
        preset: KubewardenPreset) -> None:
    body, error = call(preset, "kubernetes", "get_resource", get_resource("Namespace", "dev"))
    assert error is None and body["metadata"]["labels"] == {"env": "test"}
    body, error = call(preset, "kubernetes", "get_resource", get_resource("Pod", "web", "dev"))
    assert error is None and body["status"]["phase"] == "Running"
    _, error = call(preset, "kubernetes", "get_resource", get_resource("Namespace", "nope"))
    assert error == ("Callback evaluation failure: Cannot find v1/Namespace named 'nope' "
                     "inside of namespace 'None'")


def test_the_go_sdks_empty_strings_mean_none(preset: KubewardenPreset) -> None:
    # policy-sdk-go's GetResourceRequest / ListAllResourcesRequest have plain strings.
    go_get = b'{"api_version":"v1","kind":"Namespace","name":"dev","namespace":"",' \
             b'"disable_cache":false}'
    body, error = call(preset, "kubernetes", "get_resource", go_get)
    assert error is None and body["metadata"]["name"] == "dev"
    go_list = b'{"api_version":"v1","kind":"Namespace","label_selector":"","field_selector":""}'
    body, error = call(preset, "kubernetes", "list_resources_all", go_list)
    assert error is None and len(body["items"]) == 2


def test_list_resources_with_label_and_field_selectors(preset: KubewardenPreset) -> None:
    body, error = call(preset, "kubernetes", "list_resources_all", list_all("Namespace"))
    assert error is None and body["kind"] == "List"
    assert [i["metadata"]["name"] for i in body["items"]] == ["default", "dev"]
    body, _ = call(preset, "kubernetes", "list_resources_all",
                   list_all("Namespace", label_selector="env in (prod,stage),team"))
    assert [i["metadata"]["name"] for i in body["items"]] == ["default"]
    body, _ = call(preset, "kubernetes", "list_resources_by_namespace",
                   list_namespaced("Pod", "dev", label_selector="app!=web"))
    assert [i["metadata"]["name"] for i in body["items"]] == ["job"]
    body, _ = call(preset, "kubernetes", "list_resources_all",
                   list_all("Pod", field_selector="status.phase=Running,metadata.namespace=dev"))
    assert [i["metadata"]["name"] for i in body["items"]] == ["web"]
    body, _ = call(preset, "kubernetes", "list_resources_by_namespace",
                   list_namespaced("Pod", "default"))
    assert body["items"] == []


def test_the_allow_list_is_checked_for_get_and_list_but_not_can_i(
        preset: KubewardenPreset) -> None:
    denied = ("Policy has not been granted access to Kubernetes apps/v1/Deployment resources. "
              "The violation has been reported.")
    for operation, payload in (
        ("get_resource", get_resource("Deployment", "x", "dev", api_version="apps/v1")),
        ("list_resources_all", list_all("Deployment", api_version="apps/v1")),
    ):
        assert call(preset, "kubernetes", operation, payload) == (None, denied)
    review = {"subject_access_review": {"groups": None, "user": "alice", "resource_attributes": {
        "group": "", "name": None, "namespace": "dev", "resource": "pods", "subresource": None,
        "verb": "delete", "version": "v1"}}, "disable_cache": False}
    body, error = call(preset, "kubernetes", "can_i", json.dumps(review).encode())
    assert error is None and body == {"allowed": True, "reason": "RBAC: allowed"}
    review["subject_access_review"]["user"] = "bob"
    body, _ = call(preset, "kubernetes", "can_i", json.dumps(review).encode())
    assert body["allowed"] is False
    review["subject_access_review"]["groups"] = ["system:masters"]
    body, _ = call(preset, "kubernetes", "can_i", json.dumps(review).encode())
    assert body == {"allowed": True}


def test_without_allow_the_kinds_in_the_file_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{"apiVersion": "v1", "kind": "Service",
                                 "metadata": {"name": "api", "namespace": "x"}}]))
    preset = KubewardenPreset(load_context(path))
    body, error = call(preset, "kubernetes", "list_resources_all", list_all("Service"))
    assert error is None and len(body["items"]) == 1
    _, error = call(preset, "kubernetes", "list_resources_all", list_all("Namespace"))
    assert error is not None and "not been granted access to Kubernetes v1/Namespace" in error


def test_unknown_operations_and_bad_json_have_kubewardens_texts(
        preset: KubewardenPreset) -> None:
    assert call(preset, "kubernetes", "delete", b"{}")[1] == "unknown operation: delete"
    assert call(preset, "tracing", "flush", b"{}")[1] == "unknown operation: flush"
    assert call(preset, "nope", "x", b"")[1] == "unknown namespace: nope"
    assert call(preset, "x", "y", b"", binding="other")[1] == "unknown binding: other"
    assert call(preset, "kubernetes", "get_resource", b"{not json")[1] == \
        "key must be a string at line 1 column 2"
    assert call(preset, "kubernetes", "get_resource", b"")[1] == \
        "EOF while parsing a value at line 1 column 1"
    assert call(preset, "kubernetes", "get_resource", b'{"api_version":"v1"}')[1] == \
        "missing field `kind`"


def test_the_legacy_kubernetes_binding_lists_without_the_allow_list(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("resources:\n  - {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
                    "allow: []\n")
    preset = KubewardenPreset(load_context(path))
    body, error = call(preset, "namespaces", "anything", b"ignored", binding="kubernetes")
    assert error is None and [i["metadata"]["name"] for i in body["items"]] == ["a"]
    assert call(preset, "pods", "x", b"", binding="kubernetes")[1] == "unknown namespace: pods"


def test_oci_net_crypto_fail_clearly_offline_and_kubernetes_without_a_context() -> None:
    preset = KubewardenPreset()
    for namespace, operation, payload in (
        ("oci", "v1/manifest_digest", b'"ghcr.io/kubewarden/policy:v1"'),
        ("net", "v1/dns_lookup_host", b'"example.com"'),
        ("crypto", "v1/is_certificate_trusted",
         b'{"cert":{"encoding":"Pem","data":[45]},"cert_chain":null,"not_after":null}'),
        ("oci", "v2/verify", b'{"type":"SigstorePubKeyVerify","image":"i","pub_keys":[],'
                             b'"annotations":null}'),
    ):
        _, error = call(preset, namespace, operation, payload)
        assert error == (f"Callback evaluation failure: {namespace}/{operation} is not "
                         "available offline: this host has no network; answer it with a stub "
                         "rule or a recorded kwctl session")
    assert call(preset, "oci", "v9/nope", b"")[1] == "unknown operation: v9/nope"
    # No context file: kwctl without context-aware access denies every kind.
    _, error = call(preset, "kubernetes", "get_resource", get_resource("Namespace", "x"))
    assert error is not None and error.startswith("Policy has not been granted access")


def test_tracing_log_always_succeeds_and_keeps_the_level() -> None:
    preset = KubewardenPreset()
    lines: list[tuple[str, str]] = []
    preset.log_sink = lambda message, source: lines.append((source, message))
    assert call(preset, "tracing", "log", SDK_LOG_EVENT) == (None, None)
    assert call(preset, "tracing", "log", SDK_WARNING_EVENT) == (None, None)
    assert call(preset, "tracing", "log", b"\xff not json") == (None, None)
    assert lines == [("log", 'INFO starting validation policy="demo"'),
                     ("log", "WARN namespace has no owner label"),
                     ("log", "ERROR cannot decode the guest's log event")]
    assert preset.summary()["logs"][0] == {"level": "INFO", "message": "starting validation",
                                           "policy": "demo"}


def test_selectors_refuse_what_the_api_server_refuses() -> None:
    with pytest.raises(SelectorError):
        label_selector("a in (x")
    with pytest.raises(SelectorError):
        label_selector("=x")
    with pytest.raises(SelectorError):
        field_selector("metadata.name")
    for refused in ("env=prod,", "env=prod,,app=x", "env=prod=x", "env notin ()",
                    "env in (a b)"):  # as labels.Parse refuses them
        with pytest.raises(SelectorError):
            label_selector(refused)
    assert label_selector("  ")({"metadata": {}})  # an empty selector matches everything
    match = label_selector("!gone,env notin (prod)")
    assert match({"metadata": {"labels": {"env": "dev"}}})
    assert match({"metadata": {}})
    assert not match({"metadata": {"labels": {"gone": "1"}}})


def test_a_bad_context_file_is_one_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("- {kind: Namespace}\n")
    result = CliRunner().invoke(app, ["call", str(path), "x", "--k8s-context", str(path)])
    assert result.exit_code == 2
    assert "needs apiVersion, kind and metadata.name" in result.stderr
    assert "Traceback" not in result.stderr
    path.write_text("[1, 2, 3]\n")  # three problems: the first, and how many more
    result = CliRunner().invoke(app, ["call", str(path), "x", "--k8s-context", str(path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "(and 2 more problems)" in result.stderr
    assert "stubs check" not in result.stderr  # it checks stub tables, not contexts


# -- the CLI, on every engine ------------------------------------------------------------
def build(path: Path, text: str) -> Path:
    path.write_bytes(wasmtime.wat2wasm(text))
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_policy_logs_and_reads_a_namespace(tmp_path: Path, context_file: Path,
                                              engine_name: str) -> None:
    policy = build(tmp_path / "policy.wasm", policy_wat([
        ("kubewarden", "tracing", "log", SDK_LOG_EVENT),
        ("kubewarden", "kubernetes", "get_resource", get_resource("Namespace", "default")),
    ]))
    code, out, err = run("call", str(policy), "validate", "--engine", engine_name,
                         "--k8s-context", str(context_file), "--decode", "raw")
    assert code == 0, err
    assert json.loads(out)["metadata"]["name"] == "default"
    assert '[guest log] INFO starting validation policy="demo"' in err
    code, out, _ = run("trace", str(policy), "validate", "--engine", engine_name,
                       "--k8s-context", str(context_file), "--format", "jsonl")
    events = [json.loads(line) for line in out.splitlines()]
    calls = [e for e in events if e["event"] == "host_call"]
    assert [(c["namespace"], c["operation"]) for c in calls] == [
        ("tracing", "log"), ("kubernetes", "get_resource")]
    summary = events[-1]
    assert summary["preset"]["logs"][0]["message"] == "starting validation"


def test_the_preset_is_chosen_by_flag_and_described(tmp_path: Path) -> None:
    policy = build(tmp_path / "p.wasm", policy_wat([("kubewarden", "oci", "v1/manifest_digest",
                                                     b'"ghcr.io/x/y:1"')]))
    code, _, err = run("call", str(policy), "validate", "--preset", "kubewarden")
    assert code == 1
    assert "oci/v1/manifest_digest is not available offline" in err
    setup = build_host_setup([], "kubewarden", None)
    assert setup.preset_name == "kubewarden" and "preset kubewarden" in setup.describe


def test_a_stub_rule_answers_before_the_preset(tmp_path: Path) -> None:
    policy = build(tmp_path / "p.wasm", policy_wat([("kubewarden", "net", "v1/dns_lookup_host",
                                                     b'"example.com"')]))
    table = tmp_path / "dns.yaml"
    table.write_text("preset: kubewarden\ncalls:\n  - match: kubewarden:net:v1/dns_lookup_host\n"
                     "    reply: {json: {ips: [192.0.2.1]}}\n")
    code, out, err = run("call", str(policy), "validate", "--stubs", str(table), "-d", "raw")
    assert code == 0, err
    assert json.loads(out) == {"ips": ["192.0.2.1"]}


def test_as_a_real_process(tmp_path: Path, context_file: Path) -> None:
    policy = build(tmp_path / "p.wasm", policy_wat([
        ("kubewarden", "tracing", "log", SDK_WARNING_EVENT),
        ("kubewarden", "kubernetes", "list_resources_all", list_all("Namespace", "env=test")),
    ]))
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(policy), "validate",
         "--k8s-context", str(context_file)],
        capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert [i["metadata"]["name"] for i in json.loads(done.stdout)["items"]] == ["dev"]
    assert b"[guest log] WARN namespace has no owner label" in done.stderr


def test_the_policys_metadata_grants_its_allow_list(tmp_path: Path, context_file: Path) -> None:
    from wasmcloud_actors import custom_section

    calls = [("kubewarden", "kubernetes", "get_resource", None)]
    wasm = bytes(wasmtime.wat2wasm(policy_wat(calls)))
    metadata = {"protocolVersion": "v1", "rules": [], "mutating": False,
                "contextAwareResources": [{"apiVersion": "v1", "kind": "Namespace"}]}
    annotated = tmp_path / "annotated.wasm"
    annotated.write_bytes(wasm + custom_section("io.kubewarden.metadata",
                                                json.dumps(metadata).encode()))
    plain = tmp_path / "plain.wasm"
    plain.write_bytes(wasm)
    context = tmp_path / "no-allow.yaml"
    context.write_text(CONTEXT.split("allow:")[0])  # resources only: the policy decides
    pod = get_resource("Pod", "web", "dev").decode()
    code, _, err = run("call", str(annotated), "validate", "--k8s-context", str(context),
                       "-p", pod)
    assert code == 1 and "not been granted access to Kubernetes v1/Pod" in err
    code, out, _ = run("call", str(annotated), "validate", "--k8s-context", str(context),
                       "-p", get_resource("Namespace", "dev").decode())
    assert code == 0 and "dev" in out
    code, _, err = run("call", str(plain), "validate", "--k8s-context", str(context), "-p", pod)
    assert code == 0, err  # no metadata: every kind of the file
    code, _, err = run("call", str(annotated), "validate", "--k8s-context", str(context_file),
                       "-p", pod)
    assert code == 0, err  # the file's own allow: wins


def test_a_large_json_context_is_read_as_json(tmp_path: Path) -> None:
    """`kubectl get -o json` of a big cluster: more values than the YAML reader's bound
    (it would also take ~40 s for 30 MB); JSON is read as JSON, within the byte limit."""
    from wapc_cli.tools.stubs.bounded_yaml import MAX_NODES

    count = MAX_NODES // 5 + 1000  # apiVersion, kind, metadata, name, labels, env: > MAX_NODES
    items = [{"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": f"n{i}", "labels": {"env": "prod"}}} for i in range(count)]
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    preset = KubewardenPreset(load_context(path))
    body, error = call(preset, "kubernetes", "get_resource", get_resource("Namespace", "n7"))
    assert error is None and body["metadata"]["name"] == "n7"
