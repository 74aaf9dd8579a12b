"""Keeps what a crash bundle needs from an exchange's trace events, passing them on.

Bounded: a guest that makes millions of host calls leaves the first
:data:`MAX_HOST_CALLS` of them in the record (and says how many there were).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...runtime import events as ev

MAX_HOST_CALLS = 1000
#: Payloads and answers kept per host call, at most (the rest is counted, not kept).
MAX_KEPT_BYTES = 64 << 10


class ExchangeRecorder:
    """An event sink: records the call's host calls, request pointers and guest error;
    ``then`` (another sink, e.g. a trace renderer) gets every event too."""

    def __init__(self, then: Callable[[ev.Event], None] | None = None) -> None:
        self.then = then
        self.host_calls: list[ev.HostCall] = []
        self.host_call_count = 0
        self.request: ev.GuestRequest | None = None
        self.response: ev.GuestResponse | None = None
        self.guest_error: str | None = None
        self.returned: ev.Return | None = None

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.GuestCall):  # a new exchange: forget init's
            self.host_calls, self.host_call_count = [], 0
            self.request = self.returned = self.response = None
            self.guest_error = None
        elif isinstance(event, ev.HostCall):
            self.host_call_count += 1
            if len(self.host_calls) < MAX_HOST_CALLS:
                self.host_calls.append(event)
        elif isinstance(event, ev.GuestRequest):
            self.request = event
        elif isinstance(event, ev.GuestResponse):
            self.response = event
        elif isinstance(event, ev.GuestErrorSet):
            self.guest_error = event.message
        elif isinstance(event, ev.Return):
            self.returned = event
        if self.then is not None:
            self.then(event)

    def host_calls_json(self) -> list[dict[str, Any]]:
        from base64 import b64encode

        def kept(data: bytes) -> dict[str, Any]:
            return {"len": len(data), "b64": b64encode(data[:MAX_KEPT_BYTES]).decode("ascii"),
                    "truncated": len(data) > MAX_KEPT_BYTES}

        return [
            {
                "binding": call.binding, "namespace": call.namespace,
                "operation": call.operation, "payload": kept(call.payload),
                "result": call.result, "ok": call.result == 1,
                "response": kept(call.response), "error": call.error, "stub": call.stub,
                "t_ns": call.t_ns, "duration_ns": call.duration_ns,
            }
            for call in self.host_calls
        ]
