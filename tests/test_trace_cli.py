"""`wapc trace` end to end: the plain timeline, JSON lines, live output, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stub_guests import AS_GUEST, FORWARD_WAT, HANG_WAT, REPO, build
from typer.testing import CliRunner

from wapc_cli.cli.app import app

EXAMPLE = REPO / "examples" / "tarmac-kv.yaml"
STEPS = ("guest_call", "guest_request", "host_call", "host_response_len", "host_response",
         "guest_response", "return")


@pytest.fixture(scope="module")
def forward(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("guests") / "forward.wasm", FORWARD_WAT)


def run(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80", **env})
    return result.exit_code, result.stdout, result.stderr


def stubs(tmp_path: Path, text: str) -> str:
    path = tmp_path / "stubs.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_plain_timeline_fits_80_columns(forward: Path, tmp_path: Path) -> None:
    table = stubs(tmp_path, "calls:\n  - {name: hello, match: 'b:ns:*', reply: {json: {a: 1}}}\n")
    code, out, _ = run("trace", str(forward), "op", "-p", '{"key":"greeting"}', "--stubs", table)
    assert code == 0
    assert "\x1b" not in out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    for step in (*STEPS, "console_log", "init"):
        assert f" {step} " in out or out.rstrip().endswith(step), step
    assert "b:ns:op → ok  [hello]" in out
    assert '{"key":"greeting"}' in out and '{"a":1}' in out
    assert "summary" in out and "host      1 call" in out


def test_no_color_and_force_color(forward: Path) -> None:
    _, plain, _ = run("trace", str(forward), "op", NO_COLOR="1", FORCE_COLOR="1")
    assert "\x1b" not in plain
    _, colored, _ = run("trace", str(forward), "op", FORCE_COLOR="1")
    assert "\x1b[" in colored


def test_guest_error_shows_in_timeline_and_exits_1(forward: Path) -> None:
    code, out, err = run("trace", str(forward), "op")
    assert code == 1
    assert "b:ns:op → failed  [no handler]" in out
    assert "guest_error" in out and "guest_error (exit 1)" in out
    assert err.strip() == "wapc: error: no host call handler for b:ns:op"


def test_jsonl_schema(forward: Path, tmp_path: Path) -> None:
    table = stubs(tmp_path, "calls:\n  - {match: 'b:ns:op', reply: pong}\n")
    code, out, _ = run("trace", str(forward), "op", "-p", "ping", "--stubs", table,
                       "--format", "jsonl")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert all(isinstance(e["event"], str) and isinstance(e["t_ns"], int) for e in events)
    assert not any(e["event"].startswith("_") for e in events)
    call = next(e for e in events if e["event"] == "host_call")
    for key in ("binding", "namespace", "operation", "payload_len", "payload_b64", "result",
                "stub", "duration_ns"):
        assert key in call
    assert call["stub"] == "stubs.yaml:2" and call["payload_len"] == 4
    summary = events[-1]
    assert summary["event"] == "summary" and summary["exit_code"] == 0
    assert summary["response_len"] == 4


def test_default_fail_shows_the_call_that_stopped_the_run(forward: Path, tmp_path: Path) -> None:
    code, out, err = run("trace", str(forward), "op", "--stubs",
                         stubs(tmp_path, "default: fail\n"), "-f", "jsonl")
    assert code == 5 and "default: fail" in err
    events = [json.loads(line) for line in out.splitlines()]
    aborted = next(e for e in events if e["event"] == "host_call")
    assert aborted["aborted"] is True and aborted["result"] is None
    assert aborted["stub"] == "default: fail"
    assert events[-1]["outcome"] == "stub_failure" and events[-1]["exit_code"] == 5


def test_trace_can_record(forward: Path, tmp_path: Path) -> None:
    record = tmp_path / "rec.yaml"
    table = stubs(tmp_path, "calls:\n  - {match: 'b:ns:op', reply: {echo: true}}\n")
    code, _, _ = run("trace", str(forward), "op", "-p", "x", "--stubs", table,
                     "--record", str(record), "-f", "jsonl")
    assert code == 0 and "times: 1" in record.read_text()


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "wapc_cli", "trace", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env,
    )


@pytest.mark.parametrize("fmt", ["jsonl", "rich"])
def test_a_hanging_guest_still_shows_its_steps(tmp_path: Path, fmt: str) -> None:
    guest = build(tmp_path / "hang.wasm", HANG_WAT)
    proc = _spawn(str(guest), "op", "--timeout", "60", "--format", fmt)
    try:
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if "host_call" in line:
                break
        assert any("host_call" in line for line in seen), seen
        assert proc.poll() is None  # still running: the steps came out live
    finally:
        proc.kill()
        proc.communicate()


def test_timeout_ends_the_trace_with_exit_3(tmp_path: Path) -> None:
    guest = build(tmp_path / "hang.wasm", HANG_WAT)
    code, out, err = run("trace", str(guest), "op", "--timeout", "0.3", "-f", "jsonl")
    assert code == 3 and "timeout" in err
    names = [json.loads(line)["event"] for line in out.splitlines()]
    assert names[-3:] == ["host_call", "return", "summary"]


# -- the AssemblyScript sample guest (integration) ------------------------------------------
@pytest.mark.integration
def test_as_guest_multi_trace_with_stubs() -> None:
    assert AS_GUEST.exists(), "build the sample guests first (scripts/build-guests)"
    code, out, _ = run("trace", str(AS_GUEST), "multi", "--stubs", str(EXAMPLE))
    assert code == 0 and "\x1b" not in out
    assert all(len(line) <= 80 for line in out.splitlines())
    for key in ("tarmac:kvstore:get", "tarmac:kvstore:set", "tarmac:logger:info",
                "tarmac:kvstore:delete"):
        assert key in out
    assert "[kv-get-greeting]" in out and "Unable to delete key" in out
    assert '"delete_ok":false' in out


@pytest.mark.integration
def test_as_guest_multi_trace_with_preset() -> None:
    code, out, _ = run("trace", str(AS_GUEST), "multi", "--preset", "tarmac", "-f", "jsonl")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    calls = [e for e in events if e["event"] == "host_call"]
    assert [c["operation"] for c in calls] == ["get", "set", "info", "delete"]
    assert [c["result"] for c in calls] == [0, 1, 1, 1]  # Tarmac: deleting a missing key is 200
    assert all(c["stub"] == "preset:tarmac" for c in calls)
    preset = events[-1]["preset"]
    assert preset["kvstore_keys"] == ["greeting"]
    assert preset["logs"] == [{"level": "info", "message": "multi ran"}]
