"""Kubewarden-style test policies (inline WAT): the exact host calls the policy SDKs make.

:func:`policy_wat` builds a guest that, on any operation, makes the given host
calls one after the other with fixed payloads (``None``: the guest's own
payload) and then answers with fixed bytes, or with the last call's answer
(its response, or its error as the guest error).

The payloads are the bytes the SDKs send: policy-sdk-rust's ``KubewardenDrain``
serialises a log event with ``serde_json`` into a map with sorted keys
(``column``, ``file``, ``level``, ``line``, ``message`` and the record's
key/values; ``src/logging/event.rs``, ``drain.rs``) and calls
``kubewarden``/``tracing``/``log``; the kubernetes helpers send their request
structs with fields in declaration order (``src/host_capabilities/kubernetes.rs``).
"""

from __future__ import annotations

import json

from stub_guests import SHORT_IMPORTS, answer_host_call, data_string

#: What ``info!(LOG_DRAIN, "starting validation"; "policy" => "demo")`` sends (SDK 0.15).
SDK_LOG_EVENT = json.dumps(
    {"column": 5, "file": "src/lib.rs", "level": "info", "line": 42,
     "message": "starting validation", "policy": "demo"}, separators=(",", ":")).encode()
SDK_WARNING_EVENT = json.dumps(
    {"column": 9, "file": "src/lib.rs", "level": "warning", "line": 57,
     "message": "namespace has no owner label"}, separators=(",", ":")).encode()


def get_resource(kind: str, name: str, namespace: str | None = None,
                 api_version: str = "v1") -> bytes:
    """``GetResourceRequest`` as the Rust SDK serialises it."""
    return json.dumps({"api_version": api_version, "kind": kind, "name": name,
                       "namespace": namespace, "disable_cache": False},
                      separators=(",", ":")).encode()


def list_all(kind: str, label_selector: str | None = None, field_selector: str | None = None,
             api_version: str = "v1") -> bytes:
    return json.dumps({"api_version": api_version, "kind": kind,
                       "label_selector": label_selector, "field_selector": field_selector},
                      separators=(",", ":")).encode()


def list_namespaced(kind: str, namespace: str, label_selector: str | None = None,
                    api_version: str = "v1") -> bytes:
    return json.dumps({"api_version": api_version, "kind": kind, "namespace": namespace,
                       "label_selector": label_selector, "field_selector": None},
                      separators=(",", ":")).encode()


Call = tuple[str, str, str, "bytes | None"]


def policy_wat(calls: list[Call], respond: bytes | None = None) -> str:
    """The guest: ``calls`` in order, then ``respond`` (or the last call's answer)."""
    segments, body, offset = [], [], 0
    for binding, namespace, operation, payload in calls:
        names = (binding + namespace + operation).encode()
        b, n, o = len(binding.encode()), len(namespace.encode()), len(operation.encode())
        segments.append(f'  (data (i32.const {offset}) "{data_string(names)}")')
        start = offset
        offset += len(names)
        if payload is None:
            payload_ptr, payload_len = "(i32.const 16384)", "(local.get $len)"
        else:
            segments.append(f'  (data (i32.const {offset}) "{data_string(payload)}")')
            payload_ptr, payload_len = f"(i32.const {offset})", f"(i32.const {len(payload)})"
            offset += len(payload)
        body.append(f"""
    (local.set $ok (call $hc (i32.const {start}) (i32.const {b}) (i32.const {start + b})
                             (i32.const {n}) (i32.const {start + b + n}) (i32.const {o})
                             {payload_ptr} {payload_len}))""")
    assert offset < 16384, "payloads too large for the test guest"
    if respond is not None:
        segments.append(f'  (data (i32.const 32768) "{data_string(respond)}")')
        finish = f"""
    (call $resp (i32.const 32768) (i32.const {len(respond)}))
    (i32.const 1)"""
    else:
        finish = answer_host_call("(local.get $ok)")
    return f"""
(module {SHORT_IMPORTS}
  (memory (export "memory") 4)
{chr(10).join(segments)}
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $ok i32) (local $n i32)
    (if (i32.gt_u (local.get $len) (i32.const 16000)) (then (return (i32.const 0))))
    (call $req (i32.const 8192) (i32.const 16384)){"".join(body)}{finish}))
"""


#: A ``SettingsValidationResponse`` accepting the settings (SDK ``settings.rs``).
SETTINGS_VALID = b'{"valid":true,"message":null}'


def settings_policy_wat(settings: bytes | str = SETTINGS_VALID,
                        validate: bytes | str = "echo") -> str:
    """A policy answering ``validate_settings`` and ``validate`` (told apart by the length of
    the operation's name). Each answer: bytes to respond with; ``"echo"``: the payload;
    ``"trap"``: ``unreachable``; ``"error:TEXT"``: TEXT as the guest error."""
    segments, branches = [], []
    for offset, answer in ((0, settings), (4096, validate)):
        if isinstance(answer, bytes):
            segments.append(f'  (data (i32.const {offset}) "{data_string(answer)}")')
            branches.append(f"(call $resp (i32.const {offset}) (i32.const {len(answer)})) "
                            "(i32.const 1)")
        elif answer == "echo":
            branches.append("(call $resp (i32.const 65536) (local.get $len)) (i32.const 1)")
        elif answer == "trap":
            branches.append("unreachable")
        else:
            text = answer.removeprefix("error:").encode()
            segments.append(f'  (data (i32.const {offset}) "{data_string(text)}")')
            branches.append(f"(call $err (i32.const {offset}) (i32.const {len(text)})) "
                            "(i32.const 0)")
    return f"""
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wapc" "__guest_error" (func $err (param i32 i32)))
  (memory (export "memory") 4)
{chr(10).join(segments)}
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (if (i32.gt_u (local.get $len) (i32.const 196608)) (then (return (i32.const 0))))
    (call $req (i32.const 8192) (i32.const 65536))
    (if (result i32) (i32.eq (local.get $op_len) (i32.const 17))  ;; validate_settings
      (then {branches[0]})
      (else {branches[1]}))))
"""
