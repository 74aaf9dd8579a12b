"""Tarmac's own test function (sample_guests/tarmac, ported from Tarmac's testdata/main.go)
under --preset tarmac with no stub table: the POST runs to "Howdie"."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from stub_guests import REPO
from typer.testing import CliRunner

from wapc_cli.cli.app import app

GUEST = REPO / "sample_guests" / "build" / "tarmac_handler.wasm"
#: A Tarmac ServerRequest, as its HTTP handler builds it for a POST with the body "Howdie".
REQUEST = json.dumps({"headers": {"content-type": "application/text"},
                      "payload": base64.b64encode(b"Howdie").decode()})


def server_response(out: str | bytes) -> tuple[dict[str, object], bytes]:
    reply = json.loads(out)
    return reply["status"], base64.b64decode(reply.get("payload", ""))


@pytest.mark.integration
def test_post_runs_to_howdie_in_process(engine_name: str) -> None:
    result = CliRunner().invoke(app, ["call", str(GUEST), "http:POST", "--preset", "tarmac",
                                      "--engine", engine_name, "--payload", REQUEST])
    assert result.exit_code == 0, result.stderr
    status, payload = server_response(result.stdout)
    assert status == {"code": 200, "status": "Success"} and payload == b"Howdie"
    assert "[guest tarmac debug] " + REQUEST in result.stderr  # the logger call, marked


@pytest.mark.integration
def test_post_runs_to_howdie_as_a_subprocess() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(GUEST), "http:POST", "--preset", "tarmac",
         "--payload", REQUEST], capture_output=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    status, payload = server_response(done.stdout)
    assert status == {"code": 200, "status": "Success"} and payload == b"Howdie"


@pytest.mark.integration
def test_trace_shows_the_four_host_calls_and_the_store() -> None:
    result = CliRunner().invoke(app, ["trace", str(GUEST), "http:POST", "--preset", "tarmac",
                                      "--payload", REQUEST, "-f", "jsonl"])
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    calls = [(e["namespace"], e["operation"], e["result"]) for e in events
             if e["event"] == "host_call"]
    assert calls == [("logger", "debug", 1), ("kvstore", "set", 1), ("kvstore", "get", 1),
                     ("sql", "query", 1)]
    preset = events[-1]["preset"]
    assert preset["kvstore_keys"] == ["test-data"]
    assert preset["logs"] == [{"level": "debug", "message": REQUEST}]


@pytest.mark.integration
def test_get_is_not_implemented_and_bad_payload_is_a_500() -> None:
    result = CliRunner().invoke(app, ["call", str(GUEST), "http:GET", "--preset", "tarmac"])
    assert result.exit_code == 0 and server_response(result.stdout)[0] == {
        "code": 503, "status": "Not Implemented"}
    result = CliRunner().invoke(app, ["call", str(GUEST), "http:POST", "--preset", "tarmac",
                                      "--payload", '{"payload":"SG93ZGll!"}'])
    assert server_response(result.stdout)[0] == {
        "code": 500,
        "status": "Failed to perform base64 decode - illegal base64 data at input byte 8"}
