"""``tarmac:httpclient:call``'s transport against a real loopback server, and through the CLI."""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stub_guests import build, host_call_wat
from tarmac_servers import loopback_http
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.runtime import budget
from wapc_cli.tools.tarmac import http as transport
from wapc_cli.tools.tarmac.http import (
    HttpFailed,
    HttpRefused,
    HttpRequest,
    check_grant,
    perform,
)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path
        if path == "/hello":
            body = json.dumps({"path": path, "headers": dict(self.headers)}).encode()
            self.send_response(201)
            self.send_header("X-Twice", "first")
            self.send_header("X-Twice", "second")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hello")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/away":
            self.send_response(302)
            self.send_header("Location", "http://elsewhere.invalid:81/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/gzip":
            body = gzip.compress(b"unzipped as Go does")
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path.startswith("/big/"):
            size = int(path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            left = size
            try:
                while left > 0:
                    self.wfile.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
            except OSError:
                pass  # the client stopped reading: that is the point
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):  # a byte now and then: never a read timeout
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with loopback_http(Handler) as address:
        yield address


def get(url: str, **headers: str) -> HttpRequest:
    return HttpRequest("GET", url, dict(headers), b"", False)


# -- the transport ---------------------------------------------------------------------------
def test_granted_get_answers_code_lowercased_headers_and_body(server: str) -> None:
    result = perform(get(f"http://{server}/hello", **{"X-Asked": "yes"}), (server,))
    assert result.code == 201
    assert result.headers["x-twice"] == "first"  # Go's Header.Get: the first value
    assert result.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in result.headers)
    sent = json.loads(result.body)["headers"]
    assert sent["X-Asked"] == "yes"
    assert sent["User-Agent"] == "Go-http-client/1.1" and sent["Accept-Encoding"] == "gzip"


def test_post_sends_the_body(server: str) -> None:
    request = HttpRequest("POST", f"http://{server}/echo", {}, b"payload bytes", False)
    assert perform(request, ("127.0.0.1",)).body == b"payload bytes"


def test_grants_host_any_port_host_port_and_star(server: str) -> None:
    host, port = server.split(":")
    for grant in (host, server, "*"):
        assert perform(get(f"http://{server}/hello"), (grant,)).code == 201
    with pytest.raises(HttpRefused) as info:
        perform(get(f"http://{server}/hello"), (f"{host}:{int(port) + 1}",))
    assert "not granted" in info.value.message and "the allow-http grant" in info.value.message
    with pytest.raises(HttpRefused):
        perform(get(f"http://{server}/hello"), ())
    with pytest.raises(HttpRefused):
        perform(get(f"http://{server}/hello"), ("localhost",))  # names, not resolved addresses


def test_default_ports_by_scheme() -> None:
    import httpx

    assert transport.granted(httpx.URL("http://example.com/"), ("example.com:80",))
    assert transport.granted(httpx.URL("https://example.com/"), ("example.com:443",))
    assert not transport.granted(httpx.URL("https://example.com/"), ("example.com:80",))


def test_redirects_are_followed_and_each_hop_is_checked(server: str) -> None:
    result = perform(get(f"http://{server}/redirect"), (server,))
    assert result.code == 201 and json.loads(result.body)["path"] == "/hello"
    with pytest.raises(HttpRefused, match=r"redirect to elsewhere\.invalid:81 is not granted"):
        perform(get(f"http://{server}/away"), (server,))
    with pytest.raises(HttpFailed, match="stopped after 10 redirects"):
        perform(get(f"http://{server}/loop"), (server,))


def test_gzip_is_undone_as_gos_transport_does(server: str) -> None:
    result = perform(get(f"http://{server}/gzip"), (server,))
    assert result.body == b"unzipped as Go does"
    assert "content-encoding" not in result.headers


def test_body_over_the_bound_fails_and_at_the_bound_passes(server: str) -> None:
    limit = transport.MAX_BODY
    assert len(perform(get(f"http://{server}/big/{limit}"), (server,)).body) == limit
    with pytest.raises(HttpFailed, match="larger than 10 MiB"):
        perform(get(f"http://{server}/big/{limit + 1}"), (server,))


def test_a_dripping_server_meets_the_request_time_limit(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "TIMEOUT_S", 0.5)
    started = time.monotonic()
    with pytest.raises(HttpFailed, match=r"no complete answer within 0\.5s"):
        perform(get(f"http://{server}/slow"), (server,))
    assert time.monotonic() - started < 5


def test_the_exchange_budget_cuts_a_request_short(server: str) -> None:
    started = time.monotonic()
    with budget.running_until(time.monotonic() + 0.4), pytest.raises(budget.OutOfTime):
        perform(get(f"http://{server}/slow"), (server,))
    assert time.monotonic() - started < 5


def test_connection_refused_is_a_failure_in_gos_words() -> None:
    with pytest.raises(HttpFailed, match=r'Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: '
                                         r"connect: connection refused"):
        perform(get("http://127.0.0.1:1/"), ("*",))


@pytest.mark.parametrize(("url", "words"), [
    ("ftp://127.0.0.1/", 'unsupported protocol scheme "ftp"'),
    ("http:///nohost", "no Host in request URL"),
])
def test_unusable_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(HttpRefused, match=words):
        perform(get(url), ("*",))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same server over TLS, with a self-signed certificate (made by openssl)."""
    import shutil
    import ssl

    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is needed to make a test certificate")
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with loopback_http(Handler, tls=context) as address:
        yield address


def test_insecure_skips_tls_verification(tls_server: str) -> None:
    url = f"https://{tls_server}/hello"
    with pytest.raises(HttpFailed, match=r"(?i)certificate"):
        perform(HttpRequest("GET", url, {}, b"", False), (tls_server,))
    assert perform(HttpRequest("GET", url, {}, b"", True), (tls_server,)).code == 201


@pytest.mark.parametrize(("grant", "normalised"), [
    ("Example.COM", "example.com"), ("example.com:443", "example.com:443"), ("*", "*"),
    ("[::1]:8080", "[::1]:8080"), ("[::1]", "[::1]"), ("127.0.0.1", "127.0.0.1"),
])
def test_check_grant_accepts(grant: str, normalised: str) -> None:
    assert check_grant(grant) == normalised


@pytest.mark.parametrize("grant", ["", "http://x", "x/y", "a:b", "a:0", "a:70000", "::1",
                                   "[::1", "[zz]:1", "@h", "a b"])
def test_check_grant_refuses(grant: str) -> None:
    with pytest.raises(ValueError):
        check_grant(grant)


# -- through the CLI -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("http") / "http.wasm",
                 host_call_wat("tarmac", "httpclient", "call"))


def payload(url: str) -> str:
    return json.dumps({"method": "GET", "url": url, "headers": {}, "body": "",
                       "insecure": False})


def test_cli_granted_get_answers_as_tarmac(probe: Path, server: str) -> None:
    result = CliRunner().invoke(app, ["call", str(probe), "x", "-p",
                                      payload(f"http://{server}/hello"),
                                      "--allow-http", server])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == {"code": 200, "status": "OK"}
    assert answer["code"] == 201 and answer["headers"]["x-twice"] == "first"
    assert json.loads(base64.b64decode(answer["body"]))["path"] == "/hello"


def test_cli_refusal_names_the_flag(probe: Path, server: str) -> None:
    result = CliRunner().invoke(app, ["call", str(probe), "x", "-p",
                                      payload(f"http://{server}/hello"), "--preset", "tarmac"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"wapc: error: host {server} is not granted: the "
                                     "--allow-http grant allows nothing")


def test_cli_refusal_as_a_subprocess_and_in_the_trace(probe: Path, server: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "trace", str(probe), "x", "-p",
         payload(f"http://{server}/hello"), "--allow-http", "localhost", "-f", "jsonl"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--allow-http grant allows localhost" in done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    call = next(e for e in events if e["event"] == "host_call")
    assert call["ok"] is False and "--allow-http" in call["error"]


@pytest.mark.parametrize(("value", "words"), [
    ("http://example.com", "is a URL"), ("a:0", "port must be a number"), ("", "empty grant"),
])
def test_cli_bad_grant_is_one_line_exit_2(probe: Path, value: str, words: str) -> None:
    result = CliRunner().invoke(app, ["call", str(probe), "x", "--allow-http", value])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wapc: error: --allow-http: ")
    assert words in lines[0]
