"""kwctl's record/replay session files: read (``--stubs``), replayed in strict order, written.

kwctl ``run --record-host-capabilities-interactions FILE`` writes, and
``--replay-host-capabilities-interactions FILE`` reads, a YAML list of
exchanges (kwctl ``src/callback_handler/proxy.rs``)::

    - type: Exchange
      request: |
        !KubernetesGetResource
        api_version: v1
        kind: Namespace
        name: test-policy
        namespace: null
        disable_cache: false
      response:
        type: Error            # or Success, with payload: '<the body as text>'
        message: Cannot find v1/Namespace named 'test-policy' inside of namespace 'None'

``request`` is a string: serde_yaml of policy-evaluator's ``CallbackRequestType``
(:mod:`.requests`). Replay is strict FIFO: each request that reaches the
callback channel must equal the next recorded one, else ``Replay error:
unexpected request. Was expecting ..., got ... instead``; past the end, ``the
list of recorded responses is empty``. Both, and a recorded ``Error``, reach
the guest as ``Callback evaluation failure: ...``. Entries left over are only
reported (kwctl warns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..stubs.bounded_yaml import YamlTooLarge, collector_paused, compose_bounded
from ..stubs.source import Node, Source
from .requests import ChannelRequest

#: policy-evaluator's ``CallbackRequestType`` variants (``src/callback_requests.rs``): the
#: tags kwctl writes and reads; serde_yaml refuses any other.
REQUEST_VARIANTS = (
    "SigstorePubKeyVerify", "SigstoreKeylessVerify", "SigstoreKeylessPrefixVerify",
    "SigstoreGithubActionsVerify", "SigstoreCertificateVerify", "OciManifestDigest",
    "OciManifest", "OciManifestAndConfig", "DNSLookupHost", "CryptoIsCertificateTrusted",
    "KubernetesListResourceNamespace", "KubernetesListResourceAll", "KubernetesGetResource",
    "KubernetesCanI",
)
#: Sessions longer than this are read with the cycle collector paused (~30% faster).
MANY_EXCHANGES = 1000
UNEXPECTED = "Replay error: unexpected request. Was expecting {expected}, got {got} instead"
EXHAUSTED = "the list of recorded responses is empty"


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its response (``error`` None: success with ``payload``)."""

    request: ChannelRequest
    payload: bytes = b""
    error: str | None = None


class ReplayError(Exception):
    """A request the session cannot answer (kwctl's replay error text)."""


class Replay:
    """The exchanges of one session file, answered in order (one per run)."""

    def __init__(self, exchanges: Sequence[Exchange]) -> None:
        self.exchanges = list(exchanges)
        self.used = 0

    def answer(self, request: ChannelRequest) -> Exchange:
        if self.used >= len(self.exchanges):
            raise ReplayError(EXHAUSTED)
        expected = self.exchanges[self.used]
        if not expected.request.same_as(request):
            raise ReplayError(UNEXPECTED.format(expected=expected.request.debug(),
                                                got=request.debug()))
        self.used += 1
        return expected

    @property
    def left(self) -> int:
        return len(self.exchanges) - self.used


# -- reading ------------------------------------------------------------------------------
def looks_like_session(root: Node) -> bool:
    """A YAML list whose first entry has ``type: Exchange`` (or no entry): a kwctl session."""
    if not isinstance(root, yaml.SequenceNode):
        return False
    if not root.value:
        return True  # kwctl records a run without interactions as []
    first = root.value[0]
    return isinstance(first, yaml.MappingNode) and any(
        isinstance(key, yaml.ScalarNode) and key.value == "type"
        and isinstance(value, yaml.ScalarNode) and value.value == "Exchange"
        for key, value in first.value)


def parse_session_node(source: Source, root: Node) -> tuple[Exchange, ...] | None:
    """The exchanges of a session file's root list; problems go to ``source``."""
    assert isinstance(root, yaml.SequenceNode)
    # thousands of exchanges, millions of nodes alive: no cycle collection while reading
    with collector_paused(len(root.value) > MANY_EXCHANGES):
        return _exchanges(source, root)


def _exchanges(source: Source, root: yaml.SequenceNode) -> tuple[Exchange, ...] | None:
    exchanges = []
    before = len(source.problems)
    for index, node in enumerate(root.value):
        what = f"exchange #{index + 1}"
        entries = source.mapping(node, what)
        if entries is None:
            continue
        if not source.only_keys(entries, ("type", "request", "response"), what):
            continue
        kind = source.string(entries["type"][1], f"{what}.type") if "type" in entries else None
        if kind != "Exchange":
            source.problem(node, f"{what}: expected 'type: Exchange' (a kwctl session entry)")
            continue
        if "request" not in entries or "response" not in entries:
            source.problem(node, f"{what}: needs request and response")
            continue
        request = _request(source, entries["request"][1], f"{what}.request")
        response = _response(source, entries["response"][1], f"{what}.response")
        if request is not None and response is not None:
            exchanges.append(Exchange(request, *response))
    return tuple(exchanges) if len(source.problems) == before else None


def _request(source: Source, node: Node, what: str) -> ChannelRequest | None:
    text = source.string(node, what)
    if text is None:
        return None
    try:
        inner = compose_bounded(text)
    except YamlTooLarge as exc:  # legal YAML past a bound: say which, not "not YAML"
        source.problem(node, f"{what}: YAML: {exc.message}")
        return None
    except yaml.YAMLError:
        source.problem(node, f"{what}: not YAML (a CallbackRequestType as kwctl writes it)")
        return None
    if not isinstance(inner, yaml.MappingNode) or not inner.tag.startswith("!") \
            or inner.tag.startswith("!!"):
        source.problem(node, f"{what}: expected a tagged mapping such as "
                             "'!KubernetesGetResource' followed by its fields")
        return None
    variant = inner.tag[1:]
    if variant not in REQUEST_VARIANTS:
        source.problem(node, f"{what}: unknown variant `{variant[:80]}`, expected one of "
                             f"{', '.join(f'`{v}`' for v in REQUEST_VARIANTS)}")
        return None
    inner.tag = "tag:yaml.org,2002:map"
    value = source.value(inner)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        source.problem(node, f"{what}: the request's fields must be a mapping with text keys")
        return None
    return ChannelRequest(variant, tuple(value.items()))


def _response(source: Source, node: Node, what: str) -> tuple[bytes, str | None] | None:
    entries = source.mapping(node, what)
    if entries is None:
        return None
    if not source.only_keys(entries, ("type", "payload", "message"), what):
        return None
    kind = source.string(entries["type"][1], f"{what}.type") if "type" in entries else None
    if kind == "Success":
        payload = source.string(entries["payload"][1], f"{what}.payload") \
            if "payload" in entries else ""
        return (payload.encode("utf-8"), None) if payload is not None else None
    if kind == "Error":
        message = source.string(entries["message"][1], f"{what}.message") \
            if "message" in entries else ""
        return (b"", message) if message is not None else None
    source.problem(node, f"{what}: expected 'type: Success' or 'type: Error'")
    return None


# -- writing ------------------------------------------------------------------------------
def request_text(request: ChannelRequest) -> str:
    """The request as serde_yaml writes a ``CallbackRequestType``: its tag, then its fields."""
    body = yaml.safe_dump(dict(request.fields), sort_keys=False, allow_unicode=True,
                          default_flow_style=False, width=1 << 20)
    return f"!{request.variant}\n{body}"


def dump_session(exchanges: Sequence[Exchange]) -> str:
    """A session file kwctl replays (``--replay-host-capabilities-interactions``)."""
    entries: list[dict[str, Any]] = []
    for exchange in exchanges:
        response: dict[str, Any]
        if exchange.error is None:
            response = {"type": "Success",
                        "payload": exchange.payload.decode("utf-8", "replace")}
        else:
            response = {"type": "Error", "message": exchange.error}
        entries.append({"type": "Exchange", "request": request_text(exchange.request),
                        "response": response})
    return yaml.dump(entries, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True,
                     width=1 << 20)


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks (as serde_yaml writes the request)."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text and all(c.isprintable() or c == "\n" for c in text) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_LiteralDumper.add_representer(str, _text)
