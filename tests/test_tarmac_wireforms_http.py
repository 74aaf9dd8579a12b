"""tarmac:httpclient:call's two wire forms (pkg/callbacks/httpclient/httpclient.go) around
the transport of tools/tarmac/http.py, against a loopback server."""

from __future__ import annotations

import base64
import http.server
import json
from collections.abc import Iterator

import pytest
from tarmac_probe import Probe
from tarmac_servers import loopback_http

from wapc_cli.runtime.hostcalls import HostCallRequest, HostReply
from wapc_cli.tools.tarmac import messages
from wapc_cli.tools.tarmac.options import TarmacOptions
from wapc_cli.tools.tarmac.preset import TarmacPreset


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(201)
        self.send_header("X-Echo", self.headers.get("X-Test", ""))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"gone")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with loopback_http(Handler) as address:
        yield address


def ask(preset: TarmacPreset, payload: bytes) -> HostReply:
    reply = preset.answer(HostCallRequest("tarmac", "httpclient", "call", payload))
    assert reply is not None
    return reply


def test_json_form(server: str) -> None:
    preset = TarmacPreset(TarmacOptions(allow_http=(server,)))
    request = {"method": "POST", "url": f"http://{server}/echo", "headers": {"X-Test": "yes"},
               "body": base64.b64encode(b"ping").decode()}
    reply = ask(preset, json.dumps(request).encode())
    assert reply.ok
    answer = json.loads(reply.body)
    assert list(answer) == ["status", "code", "headers", "body"]  # the Go struct's order
    assert answer["status"] == {"code": 200, "status": "OK"} and answer["code"] == 201
    assert answer["headers"]["x-echo"] == "yes" and base64.b64decode(answer["body"]) == b"ping"
    not_found = json.loads(ask(preset, json.dumps(
        {"method": "GET", "url": f"http://{server}/"}).encode()).body)
    assert not_found["status"]["code"] == 200 and not_found["code"] == 404  # request made: 200


def test_protobuf_form(server: str) -> None:
    preset = TarmacPreset(TarmacOptions(allow_http=(server,)))
    payload = messages.build("tarmac.http.HTTPClient", method="POST", url=f"http://{server}/",
                             headers={"X-Test": "p"}, body=b"\x00bin").SerializeToString()
    reply = ask(preset, bytes(payload))
    parsed = messages.parse("tarmac.http.HTTPClientResponse", reply.body)
    assert reply.ok and parsed.status.code == 200 and parsed.code == 201
    assert parsed.body == b"\x00bin" and parsed.headers["x-echo"] == "p"


def test_request_problems_are_400_and_failures_500(server: str) -> None:
    preset = TarmacPreset(TarmacOptions(allow_http=("*",)))
    bad_method = ask(preset, json.dumps({"method": "GE T", "url": f"http://{server}/"}).encode())
    assert bad_method.error == 'Unable to create HTTP request - net/http: invalid method "GE T"'
    assert json.loads(bad_method.body) == {"status": {"code": 400, "status": bad_method.error},
                                           "code": 0, "headers": None, "body": ""}
    bad_body = ask(preset, b'{"method":"GET","url":"http://x/","body":"!"}')
    assert bad_body.error == "Unable to decode data - illegal base64 data at input byte 0"
    unparsable = ask(preset, b"{nope")
    assert unparsable.error == "Error Parsing Input"
    refused = ask(preset, json.dumps({"method": "GET", "url": "http://127.0.0.1:1/"}).encode())
    assert refused.error is not None and refused.error.startswith("Unable to execute HTTP request")
    assert json.loads(refused.body)["status"]["code"] == 500


def test_without_a_grant_nothing_is_sent(server: str, engine_name: str) -> None:
    preset = TarmacPreset()
    ok, body, error = Probe(engine_name, preset.answer).frame(
        "tarmac:httpclient:call", json.dumps({"method": "GET", "url": f"http://{server}/"}).encode())
    assert not ok and body == b"" and error is not None and "allow-http" in error
