"""Trace renderers in-process: previews, totals, the JSON-lines form of each event."""

from __future__ import annotations

import base64
import io
import json

import msgpack
from conftest import guest_from_wat
from stub_guests import FORWARD_WAT

from wapc_cli.cli.render.preview import human_ns, preview
from wapc_cli.cli.render.trace_jsonl import JsonlSink, event_dict
from wapc_cli.runtime import events as ev
from wapc_cli.runtime.hostcalls import HostCallRequest, HostReply
from wapc_cli.tools.trace import RunInfo, TraceResult, TraceStats


def test_preview_kinds() -> None:
    assert preview(b"") == ("empty", "")
    assert preview(b"multi ran") == ("text", "multi ran")
    assert preview(b"line\nnext") == ("text", "line\\nnext")
    assert preview(b'{ "a": [1, 2] }') == ("json", '{"a":[1,2]}')
    assert preview(msgpack.packb({"k": b"\x00"})) == ("msgpack", '{"k":{"$base64":"AA=="}}')
    assert preview(b"\x00\x01\xff") == ("hex", "00 01 ff")
    kind, text = preview(b"x" * 500, limit=20)
    assert kind == "text" and len(text) == 20 and text.endswith("…")
    assert preview(b"\x01")[0] == "hex"  # one byte is not evidence of MessagePack


def test_human_ns() -> None:
    assert [human_ns(n) for n in (5, 1500, 45_000, 2_500_000, 3_000_000_000)] == [
        "5ns", "1.5µs", "45µs", "2.50ms", "3.00s"]


def test_stats_totals() -> None:
    stats = TraceStats()
    for event in [
        ev.InitStep(0, 100, "start"),
        ev.GuestCall(0, 0, "op", 2, 3),
        ev.GuestRequest(10, 5, 0, 0, 2, 3),
        ev.HostCall(20, 50, "b", "ns", "op", b"abcd", 1, b"xy"),
        ev.HostResponseLen(80, 0, 2),
        ev.HostResponse(90, 5, 0, 2),
        ev.HostCall(100, 40, "b", "ns", "op", b"", 0, b"", "down"),
        ev.GuestResponse(150, 5, 0, 7, b"1234567"),
        ev.Return(200, 0, 1),
    ]:
        stats.add(event)
    assert (stats.total_ns, stats.host_ns, stats.guest_ns, stats.init_ns) == (200, 105, 95, 100)
    assert stats.bytes_in == 5 + 2 and stats.bytes_out == 4 + 7
    key = stats.host_calls["b:ns:op"]
    assert (key.count, key.failed, key.duration_ns) == (2, 1, 90)


def test_event_dict_host_call_fields() -> None:
    data = event_dict(
        ev.HostCall(7, 9, "tarmac", "kvstore", "get", b"{}", 1, b"ok", None, "rule"), "call"
    )
    assert data["event"] == "host_call" and data["t_ns"] == 7 and data["duration_ns"] == 9
    assert (data["binding"], data["namespace"], data["operation"]) == ("tarmac", "kvstore", "get")
    assert data["payload_len"] == 2 and base64.b64decode(data["payload_b64"]) == b"{}"
    assert data["result"] == 1 and data["stub"] == "rule" and data["response_len"] == 2
    json.dumps(data)


def test_jsonl_sink_on_a_real_exchange(engine_name: str) -> None:
    out = io.StringIO()
    sink = JsonlSink(out)
    sink.start(RunInfo("m.wasm", "op", engine_name, b"hi", "test handler"))

    def handler(request: HostCallRequest) -> HostReply:
        return HostReply(request.payload.upper(), None, "upper")

    guest = guest_from_wat(FORWARD_WAT, engine_name, host_call=handler, tracer=sink)
    assert guest.call("op", b"hi") == b"HI"
    sink.finish(TraceResult(0, "ok", None, b"HI"))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "run" and names[-1] == "summary"
    assert names[1:-1] == ["init", "guest_call", "guest_request", "console_log", "host_call",
                           "host_response_len", "host_response", "guest_response", "return"]
    assert all(isinstance(e["t_ns"], int) for e in events)
    host_call = events[names.index("host_call")]
    assert host_call["stub"] == "upper" and host_call["result"] == 1
    assert host_call["duration_ns"] > 0 and host_call["payload_b64"] == "aGk="
    summary = events[-1]
    assert summary["host_calls"]["b:ns:op"]["count"] == 1
    assert summary["bytes_in"] == 2 + 2 + 2 and summary["bytes_out"] == 2 + 2
    assert summary["total_ns"] >= summary["host_ns"]
