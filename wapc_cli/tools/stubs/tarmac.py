"""``--preset tarmac``: host calls answered the way Tarmac's capabilities answer them.

JSON wire form (Tarmac also accepts protobuf; we do not). Every answer carries
``status: {code, status}``; a code other than 200 is a failed host call WITH
that body, as in Tarmac. sql, httpclient and function calls need real backends:
they fail with a clear "not stubbed" error unless a stub rule answers them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...runtime.hostcalls import HostCallRequest, HostReply

SOURCE = "preset:tarmac"
LOG_LEVELS = ("info", "warn", "error", "debug", "trace")
NEEDS_STUB = ("sql", "httpclient", "function")


@dataclass
class TarmacState:
    """What a run did to the simulated Tarmac: its store, log lines and metrics."""

    kvstore: dict[str, bytes] = field(default_factory=dict)
    logs: list[tuple[str, str]] = field(default_factory=list)  # (level, message)
    counters: Counter[str] = field(default_factory=Counter)
    gauges: dict[str, float] = field(default_factory=dict)
    histograms: dict[str, list[float]] = field(default_factory=dict)


class TarmacPreset:
    def __init__(self, seed: dict[str, bytes] | None = None) -> None:
        self.state = TarmacState(kvstore=dict(seed or {}))

    def answer(self, request: HostCallRequest) -> HostReply | None:
        """The preset's answer, or None when the call is not Tarmac's to answer."""
        if request.binding != "tarmac":
            return None
        namespace, op = request.namespace, request.operation
        if namespace == "logger":
            if op not in LOG_LEVELS:
                return _status(400, f"unknown logger level '{op}' (one of {', '.join(LOG_LEVELS)})")
            self.state.logs.append((op, request.payload.decode("utf-8", "replace")))
            return HostReply(b"", None, SOURCE)
        if namespace in NEEDS_STUB:
            return HostReply(
                error=f"{request.key} is not stubbed: --preset tarmac has no {namespace} "
                "backend; answer it with a rule in a --stubs table",
                source=SOURCE,
            )
        if namespace == "kvstore":
            return self._kvstore(op, request.payload)
        if namespace == "metrics":
            return self._metrics(op, request.payload)
        return None

    # -- kvstore -----------------------------------------------------------------
    def _kvstore(self, op: str, payload: bytes) -> HostReply:
        store = self.state.kvstore
        if op == "keys":
            return _status(200, "OK", keys=sorted(store))
        request = _json_object(payload)
        if request is None:
            return _status(400, "Unable to unmarshal request: expected a JSON object")
        key = request.get("key")
        if not isinstance(key, str) or not key:
            return _status(400, "Invalid Request: 'key' must be a non-empty string")
        if op == "get":
            if key not in store:
                return _status(404, f"Unable to fetch key '{key}'")
            return _status(200, "OK", data=base64.b64encode(store[key]).decode("ascii"))
        if op == "set":
            data = request.get("data")
            if not isinstance(data, str):
                return _status(400, "Invalid Request: 'data' must be base64 text")
            try:
                store[key] = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                return _status(400, "Invalid Request: 'data' is not valid base64")
            return _status(200, "OK")
        if op == "delete":
            if key not in store:
                return _status(404, f"Unable to delete key '{key}': not found")
            del store[key]
            return _status(200, "OK")
        return _status(400, f"unknown kvstore operation '{op}' (get, set, delete, keys)")

    # -- metrics -----------------------------------------------------------------
    def _metrics(self, op: str, payload: bytes) -> HostReply:
        request = _json_object(payload)
        name = request.get("name") if request else None
        if not isinstance(name, str) or not name:
            return _status(400, "Invalid Request: 'name' must be a non-empty string")
        state = self.state
        if op == "counter":
            state.counters[name] += 1
        elif op == "gauge":
            action = request.get("action") if request else None
            if action not in ("inc", "dec"):
                return _status(400, "Invalid Request: gauge 'action' must be inc or dec")
            state.gauges[name] = state.gauges.get(name, 0.0) + (1 if action == "inc" else -1)
        elif op == "histogram":
            value = request.get("value") if request else None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return _status(400, "Invalid Request: histogram 'value' must be a number")
            state.histograms.setdefault(name, []).append(float(value))
        else:
            return _status(400, f"unknown metrics operation '{op}' (counter, gauge, histogram)")
        return HostReply(b"", None, SOURCE)

    def summary(self) -> dict[str, Any]:
        state = self.state
        return {
            "kvstore_keys": sorted(state.kvstore),
            "logs": [{"level": lvl, "message": msg} for lvl, msg in state.logs],
            "counters": dict(state.counters),
            "gauges": dict(state.gauges),
            "histograms": {k: list(v) for k, v in state.histograms.items()},
        }


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _status(code: int, text: str, **fields: Any) -> HostReply:
    body = json.dumps({"status": {"code": code, "status": text}, **fields},
                      separators=(",", ":")).encode("utf-8")
    return HostReply(body, None if code == 200 else text, SOURCE)
