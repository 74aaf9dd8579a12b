"""``--preset kubewarden``: a Kubewarden policy's host calls, answered as policy-evaluator does.

policy-evaluator's waPC host callback (``src/runtimes/callback.rs``) knows the
binding ``kubewarden`` with the namespaces ``tracing`` (``log``), ``oci``,
``net``, ``crypto`` and ``kubernetes``, and a legacy binding ``kubernetes``
(``ingresses``, ``namespaces``, ``services``). ``tracing/log`` always succeeds
with an empty body; every other call's JSON is decoded (a bad one fails with
serde_json's text), ``kubernetes`` get/list calls are checked against the
policy's allow-list, and what is left goes over the callback channel. Here
the channel is a kwctl session being replayed (:mod:`.session`), else a
Kubernetes context file (:mod:`.context`) for ``kubernetes``, else nothing:
``oci``, ``net`` and ``crypto`` need the network and fail, clearly, unless a
stub rule or a session answers them. Channel failures read as
``Callback evaluation failure: ...``, as Kubewarden's do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ...runtime.hostcalls import HostCallRequest, HostReply
from .context import K8sContext, resource_name, resource_namespace
from .requests import (
    KUBERNETES,
    OFFLINE,
    BadRequest,
    ChannelRequest,
    kubernetes_request,
    legacy_request,
    offline_request,
)
from .selectors import SelectorError, field_selector, label_selector
from .session import Replay, ReplayError

BINDING = "kubewarden"
LEGACY_BINDING = "kubernetes"
SOURCE = "kubewarden"
#: What answered a call that went over the callback channel (the kwctl recorder's cue).
CHANNEL_SOURCE = "kubewarden: channel"
FAILURE = "Callback evaluation failure: "
DENIED = ("Policy has not been granted access to Kubernetes {api_version}/{kind} resources. "
          "The violation has been reported.")
#: At most this many log lines are kept for the summary (a guest can log in a loop).
MAX_KEPT_LOGS = 1000
LEVELS = {"trace": "TRACE", "debug": "DEBUG", "info": "INFO", "warn": "WARN",
          "warning": "WARN", "error": "ERROR"}

LogSink = Callable[[str, str], None]


def failed(message: str, source: str = SOURCE) -> HostReply:
    return HostReply(b"", message, source)


def _body(value: Any) -> bytes:
    """``serde_json::to_vec``: compact JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class KubewardenPreset:
    """One run's Kubewarden host: the context or session it answers from, the log lines."""

    def __init__(self, context: K8sContext | None = None, replay: Replay | None = None) -> None:
        self.context = context
        self.replay = replay
        self.log_sink: LogSink | None = None
        self.logs: list[dict[str, Any]] = []
        self.logs_dropped = 0
        self.channel_calls = 0

    # -- dispatch (callback.rs) -------------------------------------------------------
    def answer(self, request: HostCallRequest) -> HostReply:
        binding, namespace = request.binding, request.namespace
        operation, payload = request.operation, request.payload
        if binding == LEGACY_BINDING:
            legacy = legacy_request(namespace)
            if legacy is None:
                return failed(f"unknown namespace: {namespace}")
            return self._channel(legacy)  # no allow-list check for the legacy binding
        if binding != BINDING:
            return failed(f"unknown binding: {binding}")
        if namespace == "tracing":
            if operation != "log":
                return failed(f"unknown operation: {operation}")
            self._log(payload)
            return HostReply(b"", None, SOURCE)
        if namespace == "kubernetes":
            if operation not in KUBERNETES:
                return failed(f"unknown operation: {operation}")
            try:
                channel = kubernetes_request(operation, payload)
            except BadRequest as exc:
                return failed(str(exc))
            if operation != "can_i" and not self._allowed(channel):
                return failed(DENIED.format(api_version=channel.get("api_version"),
                                            kind=channel.get("kind")))
            return self._channel(channel)
        if namespace in ("oci", "net", "crypto"):
            if (namespace, operation) not in OFFLINE:
                return failed(f"unknown operation: {operation}")
            try:
                channel = offline_request(namespace, operation, payload)
            except BadRequest as exc:
                return failed(str(exc))
            return self._channel(channel, f"{namespace}/{operation}")
        return failed(f"unknown namespace: {namespace}")

    def _allowed(self, channel: ChannelRequest) -> bool:
        api_version, kind = str(channel.get("api_version")), str(channel.get("kind"))
        if self.replay is not None and self.context is None:
            # A replayed session was recorded with the access it needed.
            return True
        return self.context is not None and self.context.allowed(api_version, kind)

    # -- the callback channel ------------------------------------------------------------
    def _channel(self, channel: ChannelRequest, offline: str | None = None) -> HostReply:
        self.channel_calls += 1
        if self.replay is not None:
            try:
                exchange = self.replay.answer(channel)
            except ReplayError as exc:
                return failed(FAILURE + str(exc), CHANNEL_SOURCE)
            label = f"{CHANNEL_SOURCE} (replay #{self.replay.used})"
            if exchange.error is not None:
                return failed(FAILURE + exchange.error, label)
            return HostReply(exchange.payload, None, label)
        if offline is not None:
            return failed(f"{FAILURE}{offline} is not available offline: this host has no "
                          "network; answer it with a stub rule or a recorded kwctl session",
                          CHANNEL_SOURCE)
        if self.context is None:
            return failed(FAILURE + "kube::Client was not initialized properly", CHANNEL_SOURCE)
        try:
            return HostReply(_body(self._kubernetes(channel)), None, CHANNEL_SOURCE)
        except LookupError as exc:
            return failed(FAILURE + str(exc.args[0]), CHANNEL_SOURCE)

    def _kubernetes(self, channel: ChannelRequest) -> Any:
        context = self.context
        assert context is not None
        if channel.variant == "KubernetesCanI":
            return self._can_i(channel.get("request"))
        api_version, kind = str(channel.get("api_version")), str(channel.get("kind"))
        found = context.of_kind(api_version, kind)
        if channel.variant == "KubernetesGetResource":
            name, namespace = channel.get("name"), channel.get("namespace")
            for resource in found:  # the Go SDK sends "" for a cluster-scoped object
                if resource_name(resource) == name \
                        and (resource_namespace(resource) or "") == (namespace or ""):
                    return resource
            shown = "None" if namespace is None else f'Some("{namespace}")'
            raise LookupError(f"Cannot find {api_version}/{kind} named '{name}' inside of "
                              f"namespace '{shown}'")
        if channel.variant == "KubernetesListResourceNamespace":
            wanted = channel.get("namespace") or ""
            found = [r for r in found if (resource_namespace(r) or "") == wanted]
        try:
            for key, make in (("label_selector", label_selector),
                              ("field_selector", field_selector)):
                selector = channel.get(key)
                if selector:
                    test = make(selector)
                    found = [r for r in found if test(r)]
        except SelectorError as exc:
            raise LookupError(str(exc)) from None
        return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                "items": found}

    def _can_i(self, review: Any) -> dict[str, Any]:
        review = review if isinstance(review, dict) else {}
        attributes = review.get("resource_attributes")
        attributes = attributes if isinstance(attributes, dict) else {}
        user = str(review.get("user") or "")
        groups = [str(g) for g in review.get("groups") or [] if isinstance(g, str)]
        assert self.context is not None
        for rule in self.context.can_i:
            if rule.matches(user, groups, attributes):
                status: dict[str, Any] = {"allowed": rule.allowed}
                if rule.reason is not None:
                    status["reason"] = rule.reason
                return status
        return {"allowed": False, "reason": "no can_i rule of the Kubernetes context matches"}

    # -- tracing/log ---------------------------------------------------------------------
    def _log(self, payload: bytes) -> None:
        """Kubewarden logs the event through its own tracing; bad JSON is only noted."""
        try:
            event = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            event = None
        if not isinstance(event, dict):
            level, message, extra = "ERROR", "cannot decode the guest's log event", {}
        else:
            level = LEVELS.get(str(event.get("level", "")).lower(), "INFO")
            message = str(event.get("message", ""))
            extra = {k: v for k, v in event.items()
                     if k not in ("level", "message", "line", "column", "file")}
        if len(self.logs) < MAX_KEPT_LOGS:
            self.logs.append({"level": level, "message": message, **extra})
        else:
            self.logs_dropped += 1
        if self.log_sink is not None:
            fields = "".join(f" {k}={json.dumps(v, ensure_ascii=False)}" for k, v in extra.items())
            self.log_sink(f"{level} {message}{fields}", "log")

    # -- the end of the run --------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What the trace summary shows: log lines, channel calls, the replay's progress."""
        data: dict[str, Any] = {"logs": list(self.logs), "logs_dropped": self.logs_dropped,
                                "channel_calls": self.channel_calls}
        if self.context is not None:
            data["context"] = {"file": self.context.path,
                               "resources": len(self.context.resources)}
        if self.replay is not None:
            data["replay"] = {"exchanges": len(self.replay.exchanges),
                              "used": self.replay.used, "left": self.replay.left}
        return data

    def close(self) -> None:
        """Nothing to release (the Tarmac preset's interface)."""
