"""``--record --record-format kwctl``: a run's Kubewarden channel calls as a kwctl session file.

Only what kwctl records is written: the host calls that reach policy-evaluator's
callback channel (``kubernetes`` get/list/can_i, ``oci``, ``net``, ``crypto``,
the legacy ``kubernetes`` binding), whoever answered them here (a context file,
a stub rule, a replayed session). ``tracing/log``, bad request JSON, allow-list
denials and unknown operations are settled before the channel and left out, as
kwctl leaves them out. The file replays with ``kwctl run
--replay-host-capabilities-interactions FILE`` and with ``--stubs FILE`` here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...runtime.hostcalls import HostCallRequest, HostReply
from .preset import BINDING, FAILURE, LEGACY_BINDING, SOURCE
from .requests import (
    KUBERNETES,
    OFFLINE,
    BadRequest,
    ChannelRequest,
    kubernetes_request,
    legacy_request,
    offline_request,
)
from .session import Exchange, dump_session


def channel_request(request: HostCallRequest) -> ChannelRequest | None:
    """The ``CallbackRequestType`` a host call would send, or None when it sends none."""
    binding, namespace, operation = request.binding, request.namespace, request.operation
    try:
        if binding == LEGACY_BINDING:
            return legacy_request(namespace)
        if binding != BINDING:
            return None
        if namespace == "kubernetes" and operation in KUBERNETES:
            return kubernetes_request(operation, request.payload)
        if (namespace, operation) in OFFLINE:
            return offline_request(namespace, operation, request.payload)
    except BadRequest:
        return None
    return None


def session_file(calls: Sequence[tuple[HostCallRequest, HostReply]]) -> str:
    """The kwctl session file of the recorded ``calls``."""
    exchanges = []
    for request, reply in calls:
        channel = channel_request(request)
        if channel is None:
            continue
        source = reply.source or ""
        if source == SOURCE:  # settled before the channel (an allow-list denial)
            continue
        error = reply.error
        if error is not None and error.startswith(FAILURE):
            error = error[len(FAILURE):]
        exchanges.append(Exchange(channel, reply.body if error is None else b"", error))
    return dump_session(exchanges)
