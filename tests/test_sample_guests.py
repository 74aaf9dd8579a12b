"""Real guests, built by real SDKs (and two built by others), on every engine.

Cases come from sample_guests/manifest.json, written next to the guests'
sources, so the expectations live with the guests rather than in this file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wapc_cli import GuestError, GuestTrap, HostCallError, HostCallRequest, WasiOptions
from wapc_cli.runtime.guest import WapcModule, read_module_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent / "sample_guests"
MANIFEST = json.loads((ROOT / "manifest.json").read_text())

# Cases that describe a host which skips the init exports: we always run them.
CASES = [c for c in MANIFEST["cases"] if not c.get("host_skips_init")]


def _case_id(case: dict[str, Any]) -> str:
    return f"{Path(case['module']).stem}:{case['operation']}:{CASES.index(case)}"


_modules: dict[tuple[str, str], WapcModule] = {}


def _module(path: str, engine: str) -> WapcModule:
    key = (path, engine)
    if key not in _modules:
        data = read_module_file(ROOT / path)
        _modules[key] = WapcModule.from_bytes(data, engine=engine, name=path)
    return _modules[key]


def _payload(case: dict[str, Any]) -> bytes:
    if "payload_gen" in case:
        length = case["payload_gen"]["length"]
        return bytes(i % 256 for i in range(length))
    if "payload_hex" in case:
        return bytes.fromhex(case["payload_hex"])
    return str(case.get("payload_text", "")).encode()


class ScriptedHost:
    """Answers host calls from the case's table and records what was asked."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self.seen: list[HostCallRequest] = []

    def __call__(self, request: HostCallRequest) -> bytes:
        self.seen.append(request)
        answer = self.table.get(request.key)
        if answer is None:
            raise HostCallError(f"no host call handler for {request.key}")
        if isinstance(answer, str):
            return answer.encode()
        if "error" in answer:
            raise HostCallError(answer["error"])
        return bytes.fromhex(answer["response_hex"])


def _wasi(case: dict[str, Any], tmp_path: Path) -> WasiOptions:
    spec = case.get("wasi")
    if not spec:
        return WasiOptions()
    dirs: tuple[tuple[str, str], ...] = ()
    preopen = spec.get("preopen")
    if preopen:
        root = tmp_path / "preopen"
        root.mkdir()
        for name, text in preopen.get("files", {}).items():
            (root / name).write_text(text)
        for name in preopen.get("dirs", []):
            (root / name).mkdir()
        dirs = ((str(root), preopen["guest_path"]),)
    args = spec.get("args", [])
    return WasiOptions(
        args=tuple(args[1:]), env=spec.get("env", {}), program_name=args[0] if args else "g",
        dirs=dirs,
    )


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_manifest_case(case: dict[str, Any], engine_name: str, tmp_path: Path) -> None:
    module = _module(case["module"], engine_name)
    host = ScriptedHost(case.get("host_calls", {}))
    logs: list[tuple[str, str]] = []
    guest = module.instantiate(
        host, on_log=lambda m, s: logs.append((m, s)), wasi=_wasi(case, tmp_path)
    )
    payload = _payload(case)
    expect = case["expect"]
    if expect == "response":
        response = guest.call(case["operation"], payload)
        if case.get("response_equals_payload"):
            assert response == payload
        elif "response_hex" in case:
            assert response.hex() == case["response_hex"]
        elif "response_lines_sorted" in case:
            assert sorted(response.decode().splitlines()) == case["response_lines_sorted"]
        else:
            assert response.decode() == case["response_text"]
    elif expect == "guest_error":
        with pytest.raises(GuestError) as error:
            guest.call(case["operation"], payload)
        if "error_text" in case and "host_calls" in case:
            assert error.value.message == case["error_text"]
        assert case["error_contains"] in error.value.message
    else:
        with pytest.raises(GuestTrap) as trap:
            guest.call(case["operation"], payload)
        if "abort" in case:
            abort = case["abort"]
            expected = f"abort: {abort['message']} at {abort['file']}:{abort['line']}:"
            assert expected in str(trap.value)
            assert str(trap.value).endswith(f":{abort['column']}")

    lines = {source: [m for m, s in logs if s == source] for source in
             ("wapc", "env", "wasi:stdout", "wasi:stderr")}
    if "log_contains" in case:
        assert any(case["log_contains"] in m for m in lines["wapc"] + lines["env"])
    if "stdout_contains" in case:
        assert any(case["stdout_contains"] in m for m in lines["wasi:stdout"])
    if "stderr_contains" in case:
        assert any(case["stderr_contains"] in m for m in lines["wasi:stderr"])
    if "expect_host_calls" in case:
        seen = [(r.key, r.payload) for r in host.seen]
        wanted = [
            (c["call"], bytes.fromhex(c["payload_hex"]) if "payload_hex" in c
             else c["payload_text"].encode())
            for c in case["expect_host_calls"]
        ]
        assert seen == wanted


def test_every_built_guest_is_in_the_manifest() -> None:
    built = {f"build/{p.name}" for p in (ROOT / "build").glob("*.wasm")}
    built |= {f"thirdparty/{p.name}" for p in (ROOT / "thirdparty").glob("*.wasm")}
    assert built <= set(MANIFEST["modules"])
    assert built <= {c["module"] for c in MANIFEST["cases"]}


def test_guest_survives_a_trap_and_answers_again(engine_name: str) -> None:
    guest = _module("build/as_guest.wasm", engine_name).instantiate()
    with pytest.raises(GuestTrap):
        guest.call("trap")
    assert guest.call("echo", b"after") == b"after"


def test_reactor_init_runs_once_across_calls(engine_name: str) -> None:
    guest = _module("build/c_reactor.wasm", engine_name).instantiate()
    assert [guest.call("init_count") for _ in range(3)] == [b"1"] * 3
