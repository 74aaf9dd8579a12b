"""``httpclient:call``'s transport: a real HTTP request, to granted hosts only, bounded.

What Tarmac does (``pkg/callbacks/httpclient``): a fresh Go ``http.Transport{}``
per call (so no proxy from the environment: a zero Transport has no ``Proxy``
function, unlike Go's default one), ``InsecureSkipVerify`` when asked, the
user's headers set on the request, redirects followed as Go's ``http.Client``
does (at most 10; 301/302/303 turn into GET without a body, 307/308 keep both),
Go's own ``User-Agent`` and transparent gzip, every response header lower-cased
with its first value, and the whole body read.

What a local run adds, because the guest is not trusted with the user's
network: only hosts in the allow-http grant are reached (every redirect hop is
checked too); one request takes at most :data:`TIMEOUT_S` and never longer than
the exchange has left (then the run ends with the timeout limit,
:class:`~wapc_cli.runtime.budget.OutOfTime`); at most :data:`MAX_BODY` bytes of
body are read, streaming, and a larger body fails the call. Tarmac sets neither
bound. A stop request (Ctrl-C) ends the wait at once.

The request runs on a worker thread while the caller's thread waits in short
slices, so the whole request (connect, redirects, a server that drips its body
byte by byte) stays within its deadline; an abandoned worker stops at its next
chunk or at httpx's own timeout, which is the same deadline.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...runtime import budget, interrupts

if TYPE_CHECKING:
    import httpx

#: The longest one request may take (connect, redirects, the whole body).
TIMEOUT_S = 30.0
#: The most body bytes read (after gzip decoding too); more fails the call.
MAX_BODY = 10 * 1024 * 1024
#: Go's http.Client gives up after this many redirects.
MAX_REDIRECTS = 10
#: What Go's transport sends when the request sets no User-Agent.
GO_USER_AGENT = "Go-http-client/1.1"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: Headers Go drops when a redirect leaves the original domain.
_SENSITIVE = ("authorization", "www-authenticate", "cookie", "cookie2")


class HttpRefused(Exception):
    """The request was not made: its host is not granted, or its URL or method is unusable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HttpFailed(Exception):
    """The request was made and failed: connect, TLS, timeout, a body over the bound."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    insecure: bool


@dataclass(frozen=True)
class HttpResult:
    code: int
    headers: dict[str, str]  # lower-cased names, first value of each (Go's Header.Get)
    body: bytes


# -- the grant ---------------------------------------------------------------------------
def check_grant(text: str) -> str:
    """One allow-http grant (``HOST``, ``HOST:PORT``, ``[IPv6]:PORT`` or ``*``), normalised.

    Raises ``ValueError`` saying what is wrong (the caller names where it came from).
    """
    value = text.strip()
    if value == "*":
        return value
    if not value:
        raise ValueError("an empty grant (expected HOST, HOST:PORT or *)")
    if "://" in value or "/" in value:
        raise ValueError(f"'{value}' is a URL; grant a HOST or HOST:PORT (e.g. example.com:443)")
    host, port = _split_host_port(value)
    if port is not None:
        return f"{_bracketed(host)}:{port}"
    return _bracketed(host)


def _split_host_port(value: str) -> tuple[str, int | None]:
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError(f"'{value}': an IPv6 address needs its closing ']'")
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"'{value}': '{host}' is not an IPv6 address") from None
        if not rest:
            return host.lower(), None
        if not rest.startswith(":"):
            raise ValueError(f"'{value}': expected ':PORT' after the ']'")
        return host.lower(), _port(value, rest[1:])
    if value.count(":") > 1:
        raise ValueError(f"'{value}': write an IPv6 address in brackets, e.g. [::1]:8080")
    host, sep, port_text = value.partition(":")
    if not host or any(c.isspace() for c in host) or "@" in host:
        raise ValueError(f"'{value}' names no host (expected HOST or HOST:PORT)")
    return host.lower().rstrip("."), _port(value, port_text) if sep else None


def _port(value: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"'{value}': the port must be a number from 1 to 65535")
    return int(text)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def granted(url: httpx.URL, allow: tuple[str, ...]) -> bool:
    """Whether ``url``'s host (and port: explicit, else 80/443 by scheme) is granted."""
    host = url.host.lower().rstrip(".")
    port = url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme, 0)
    for grant in allow:
        if grant == "*":
            return True
        name, grant_port = _split_host_port(grant)
        if name == host and (grant_port is None or grant_port == port):
            return True
    return False


def _where(url: httpx.URL) -> str:
    port = url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme, 0)
    return f"{_bracketed(url.host)}:{port}"


def _refuse_ungranted(url: httpx.URL, allow: tuple[str, ...], what: str) -> None:
    if not granted(url, allow):
        grants = ", ".join(allow) if allow else "nothing"
        raise HttpRefused(
            f"{what} {_where(url)} is not granted: the allow-http grant allows {grants}"
        )


# -- the request ---------------------------------------------------------------------------
def perform(request: HttpRequest, allow: tuple[str, ...]) -> HttpResult:
    """Make ``request`` if its host is granted by ``allow``; see the module's docstring.

    Raises :class:`HttpRefused`, :class:`HttpFailed`, ``OutOfTime`` (the exchange's
    budget ran out) or ``KeyboardInterrupt`` (a stop request).
    """
    import httpx

    method = request.method or "GET"  # Go's http.NewRequest: "" means GET
    if not method or any(c not in _TOKEN for c in method):
        raise HttpRefused(f'net/http: invalid method "{method}"')
    try:
        url = httpx.URL(request.url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise HttpRefused(f'parse "{request.url}": {exc}') from None
    op = _op(method, request.url)
    if url.scheme not in _DEFAULT_PORTS:
        raise HttpRefused(f'{op}: unsupported protocol scheme "{url.scheme}"')
    if not url.host:
        raise HttpRefused(f"{op}: http: no Host in request URL")
    for name, value in request.headers.items():
        if not name or any(c not in _TOKEN for c in name):
            raise HttpFailed(f'{op}: net/http: invalid header field name "{name}"')
        if any(c in value for c in "\r\n\0"):
            raise HttpFailed(f'{op}: net/http: invalid header field value for "{name}"')
    _refuse_ungranted(url, allow, "host")
    seconds, cut = budget.limited(TIMEOUT_S)
    if seconds <= 0:
        raise budget.OutOfTime(f"an HTTP request to {_where(url)}")
    worker = _Worker(method, url, request, allow, seconds)
    thread = threading.Thread(target=worker.run, name="wapc-httpclient", daemon=True)
    thread.start()
    end = time.monotonic() + seconds
    while not worker.done.wait(min(budget.WAIT_SLICE_S, max(0.0, end - time.monotonic()))):
        if interrupts.requested():
            worker.cancelled = True
            raise KeyboardInterrupt
        if time.monotonic() >= end:
            worker.cancelled = True
            if cut:
                raise budget.OutOfTime(f"an HTTP request to {_where(url)}")
            raise HttpFailed(f"{op}: no complete answer within {seconds:g}s "
                             "(the time limit of one HTTP request)")
    if worker.error is not None:
        raise worker.error
    assert worker.result is not None
    return worker.result


def _op(method: str, url: str) -> str:
    """How Go's url.Error starts its message: ``Get "http://..."``."""
    return f'{method[:1].upper()}{method[1:].lower()} "{url}"'


class _Worker:
    """The request itself, on its own thread; the caller waits for :attr:`done`."""

    def __init__(self, method: str, url: httpx.URL, request: HttpRequest,
                 allow: tuple[str, ...], seconds: float) -> None:
        self.method = method
        self.url = url
        self.request = request
        self.allow = allow
        self.seconds = seconds
        self.done = threading.Event()
        self.cancelled = False
        self.result: HttpResult | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.result = self._exchange()
        except (HttpRefused, HttpFailed) as exc:
            self.error = exc
        except Exception as exc:  # httpx's errors, and anything else a network can do
            reason = _reason(exc)
            if type(exc).__name__ == "ConnectError" and "SSL" not in reason:
                # Go's words for it: dial tcp 127.0.0.1:9: connect: connection refused
                reason = f"dial tcp {_where(self.url)}: connect: {reason[:1].lower()}{reason[1:]}"
            self.error = HttpFailed(f"{_op(self.method, self.request.url)}: {reason}")
        finally:
            self.done.set()

    def _exchange(self) -> HttpResult:
        import httpx

        context: ssl.SSLContext | bool = False
        if not self.request.insecure:
            context = ssl.create_default_context()  # the system's roots, as Go uses
        with httpx.Client(
            verify=context, trust_env=False, follow_redirects=False,
            # A second past the caller's deadline: the caller's wait ends first and
            # says why (the budget, or this request's own limit).
            timeout=httpx.Timeout(self.seconds + 1.0),
        ) as client:
            client.headers.clear()  # only what Go would send (set below)
            # Go's client sends req.Host, never a "Host" entry of the header map.
            headers = {k: v for k, v in self.request.headers.items() if k.lower() != "host"}
            lowered = {name.lower() for name in headers}
            if "user-agent" not in lowered:
                headers["User-Agent"] = GO_USER_AGENT
            # Go's transport asks for gzip (and undoes it) unless told otherwise.
            gunzip = (
                "accept-encoding" not in lowered and "range" not in lowered
                and self.method != "HEAD"
            )
            if gunzip:
                headers["Accept-Encoding"] = "gzip"
            return self._follow(client, headers, gunzip)

    def _follow(self, client: httpx.Client, headers: dict[str, str], gunzip: bool) -> HttpResult:
        method, url, body = self.method, self.url, self.request.body
        origin = url.host
        for hop in range(MAX_REDIRECTS + 1):
            sent = client.build_request(method, url, headers=headers, content=body or None)
            response = client.send(sent, stream=True)
            try:
                location = response.headers.get("location")
                follow = response.status_code in (301, 302, 303, 307, 308) and location
                if not follow:
                    return self._result(response, gunzip)
            finally:
                response.close()  # a redirect's body is never read
            if hop == MAX_REDIRECTS:
                raise HttpFailed(f"{_op(self.method, self.request.url)}: "
                                 f"stopped after {MAX_REDIRECTS} redirects")
            if self.cancelled:
                raise HttpFailed("cancelled")
            previous = url
            url = url.join(location)
            if url.scheme not in _DEFAULT_PORTS:
                raise HttpFailed(f'{_op(method, str(url))}: unsupported protocol scheme '
                                 f'"{url.scheme}"')
            _refuse_ungranted(url, self.allow, "a redirect to")
            if response.status_code in (301, 302, 303):
                body = b""
                if method not in ("GET", "HEAD"):
                    method = "GET"
            headers = _redirect_headers(headers, previous, url, origin)
        raise AssertionError("unreachable")

    def _result(self, response: httpx.Response, gunzip: bool) -> HttpResult:
        headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            headers.setdefault(name.lower(), value)  # Go's Header.Get: the first value
        decoder = None
        if gunzip and headers.get("content-encoding", "").lower() == "gzip":
            decoder = zlib.decompressobj(wbits=31)
            headers.pop("content-encoding", None)
            headers.pop("content-length", None)
        body = bytearray()
        for chunk in response.iter_raw(_CHUNK):
            if self.cancelled:
                raise HttpFailed("cancelled")
            if decoder is not None:
                # Never inflate more than the bound (plus one byte, to tell "over").
                chunk = decoder.decompress(chunk, MAX_BODY + 1 - len(body))
            body += chunk
            if len(body) > MAX_BODY:
                raise HttpFailed(
                    f"the response body of {_op(self.method, self.request.url)} is larger "
                    f"than {MAX_BODY // (1024 * 1024)} MiB (the most one HTTP request reads)"
                )
        return HttpResult(response.status_code, headers, bytes(body))


def _redirect_headers(
    headers: dict[str, str], previous: httpx.URL, url: httpx.URL, origin: str
) -> dict[str, str]:
    """The next hop's headers: Go drops credentials when leaving the original domain
    (a subdomain keeps them) and sets a Referer unless going from https to http."""
    host = url.host.lower()
    same = host == origin.lower() or host.endswith("." + origin.lower())
    kept = {
        k: v for k, v in headers.items()
        if k.lower() != "referer" and (same or k.lower() not in _SENSITIVE)
    }
    if not (previous.scheme == "https" and url.scheme == "http"):
        kept["Referer"] = str(previous.copy_with(username=None, password=None, fragment=None))
    return kept


def _reason(exc: BaseException) -> str:
    """An httpx/OS error as one line, without Python's ``[Errno N]`` prefix."""
    text = str(exc) or type(exc).__name__
    if text.startswith("[Errno") and "] " in text:
        text = text.split("] ", 1)[1]
    return text.splitlines()[0] if text.strip() else type(exc).__name__


__all__ = [
    "MAX_BODY", "TIMEOUT_S", "HttpFailed", "HttpRefused", "HttpRequest", "HttpResult",
    "check_grant", "granted", "perform",
]
