"""``tarmac:httpclient:call``: Tarmac's two wire forms around the HTTP transport of :mod:`.http`.

Source: ``pkg/callbacks/httpclient/httpclient.go`` in tarmac-project/tarmac.
The payload is ``HTTPClient`` (``proto/http.proto``) or, when that does not
parse, JSON ``{method, headers, url, body (base64), insecure}``. The answer is
200 whenever the request was made (the server's status is in ``code``),
response header names lower-cased with each header's first value; a request
that cannot be built is 400, one that fails on the way is 500. The
transport (grants, timeouts, size cap) is :mod:`.http`'s.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from ...runtime.hostcalls import HostReply
from . import messages
from .wire import (
    GoBase64Error,
    GoJSONError,
    failed,
    go_b64decode,
    go_unmarshal,
    json_reply,
    proto_reply,
    status_json,
)

#: net/http's validMethod: an RFC 7230 token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _request_problem(method: str, url: str) -> str | None:
    """What ``http.NewRequest`` would refuse, in its words."""
    if method and not _TOKEN.fullmatch(method):
        return f'net/http: invalid method "{method}"'
    if _CONTROL.search(url):
        return f'parse "{url}": net/url: invalid control character in URL'
    return None


class HTTPClient:
    def __init__(self, allow: Sequence[str]) -> None:
        self.allow = tuple(allow)

    def answer(self, operation: str, payload: bytes) -> HostReply:
        if operation != "call":
            return failed("callback not found")
        msg = messages.parse("tarmac.http.HTTPClient", payload)
        if msg is None:
            return self._call_json(payload)
        return self._call_proto(msg)

    def _perform(self, method: str, url: str, headers: dict[str, str], body: bytes,
                 insecure: bool) -> tuple[int, str, Any]:
        """(code, status, HttpResult or None); raises HttpRefused when not granted."""
        from .http import HttpFailed, HttpRequest, perform

        problem = _request_problem(method, url)
        if problem is not None:
            return 400, f"Unable to create HTTP request - {problem}", None
        request = HttpRequest(method=method or "GET", url=url, headers=dict(headers),
                              body=body, insecure=insecure)
        try:
            result = perform(request, self.allow)
        except HttpFailed as exc:
            return 500, f"Unable to execute HTTP request - {exc}", None
        return 200, "OK", result

    def _call_proto(self, msg: Any) -> HostReply:
        from .http import HttpRefused

        try:
            code, text, result = self._perform(msg.method, msg.url, dict(msg.headers),
                                               bytes(msg.body), bool(msg.insecure))
        except HttpRefused as exc:
            return failed(str(exc))
        reply = messages.build("tarmac.http.HTTPClientResponse",
                               status=messages.status(code, text))
        if result is not None:
            reply.code = result.code
            for name, value in result.headers.items():
                reply.headers[name.lower()] = value
            reply.body = result.body
        return proto_reply(code, text, reply)

    def _call_json(self, payload: bytes) -> HostReply:
        from .http import HttpRefused

        code, text = 200, "OK"
        fields = {"method": "", "headers": {}, "url": "", "body": "", "insecure": False}
        try:
            request = go_unmarshal(payload, fields)
        except GoJSONError:
            code, text, request = 400, "Error Parsing Input", dict(fields)
        body = b""
        try:
            body = go_b64decode(request["body"])
        except GoBase64Error as exc:
            code, text = 400, f"Unable to decode data - {exc}"
        result = None
        if code == 200:
            try:
                code, text, result = self._perform(request["method"], request["url"],
                                                   request["headers"], body,
                                                   request["insecure"])
            except HttpRefused as exc:
                return failed(str(exc))
        answer: dict[str, Any] = {"status": status_json(code, text), "code": 0,
                                  "headers": None, "body": ""}
        if result is not None:
            answer["code"] = result.code
            answer["headers"] = dict(sorted((k.lower(), v) for k, v in result.headers.items()))
            answer["body"] = base64.b64encode(result.body).decode("ascii")
        return json_reply(code, text, answer)
