"""Differential test: the same guests and exchanges under the reference JS host.

`@wapc/host` (npm, the waPC project's own host for JavaScript) is a host we did
not write. For every sample-guest case it can run (no `_initialize`, no WASI
grants, no trap: it neither calls `_initialize` nor resets state after a
trap), its answers must be ours: the same response bytes, the same guest-error
text, the same host calls in the same order, the same console log lines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wapc_cli import GuestError, HostCallError, HostCallRequest
from wapc_cli.runtime.guest import load_module

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "reference_host"
MANIFEST = json.loads((ROOT / "sample_guests" / "manifest.json").read_text())
MODULES = [
    # Not the Zig guest: @wapc/host does not provide env.__console_log.
    "build/as_guest.wasm", "build/rust_guest.wasm",
    "thirdparty/rust_echo_string.wasm", "thirdparty/rust_host_call.wasm",
]


def _comparable(case: dict[str, Any]) -> bool:
    return (
        case["module"] in MODULES
        and case["expect"] != "trap"
        and not case.get("host_skips_init")
        and "payload_gen" not in case
    )


def _payload_hex(case: dict[str, Any]) -> str:
    if "payload_hex" in case:
        return str(case["payload_hex"])
    return str(case.get("payload_text", "")).encode().hex()


def _host_calls(case: dict[str, Any]) -> dict[str, dict[str, str]]:
    table = {}
    for key, answer in case.get("host_calls", {}).items():
        table[key] = {"response_hex": answer.encode().hex()} if isinstance(answer, str) else answer
    return table


def _reference(module: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (REFERENCE / "node_modules" / "@wapc" / "host").is_dir():
        message = "needs node and tests/reference_host/node_modules (scripts/setup installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    request = {
        "module": str(ROOT / "sample_guests" / module),
        "cases": [
            {"operation": c["operation"], "payload_hex": _payload_hex(c),
             "host_calls": _host_calls(c)}
            for c in cases
        ],
    }
    proc = subprocess.run(
        [node, str(REFERENCE / "run.js")], input=json.dumps(request).encode(),
        capture_output=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results


def _ours(module: str, engine: str, case: dict[str, Any]) -> dict[str, Any]:
    table = _host_calls(case)
    seen: list[str] = []
    logs: list[str] = []

    def host(request: HostCallRequest) -> bytes:
        seen.append(request.key)
        answer = table.get(request.key)
        if answer is None:
            raise HostCallError(f"no host call handler for {request.key}")
        if "error" in answer:
            raise HostCallError(answer["error"])
        return bytes.fromhex(answer["response_hex"])

    guest = load_module(ROOT / "sample_guests" / module, engine=engine).instantiate(
        host, on_log=lambda message, source: logs.append(message)
    )
    try:
        response = guest.call(case["operation"], bytes.fromhex(_payload_hex(case)))
    except GuestError as exc:
        return {"error": exc.message, "host_calls": seen, "logs": logs}
    return {"response_hex": response.hex(), "host_calls": seen, "logs": logs}


@pytest.mark.parametrize("module", MODULES)
def test_same_answers_as_the_reference_js_host(module: str, engine_name: str) -> None:
    cases = [c for c in MANIFEST["cases"] if c["module"] == module and _comparable(c)]
    assert cases, f"the manifest has no comparable case for {module}"
    expected = _reference(module, cases)
    for case, theirs in zip(cases, expected, strict=True):
        assert _ours(module, engine_name, case) == theirs, f"{case['operation']}: {case}"
