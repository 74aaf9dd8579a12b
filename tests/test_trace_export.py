"""``wapc trace --export FILE``: the exchange as Chrome Trace Event JSON (issue #16)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dwarf_guest import MODULE, invoke, run_cli

STUBS = 'calls:\n  - match: "kv:store:get"\n    replies: ["one", "two", "three"]\n'


def _export(tmp_path: Path, engine: str, *extra: str) -> dict[str, Any]:
    stubs = tmp_path / "kv.yaml"
    stubs.write_text(STUBS)
    out = tmp_path / "trace.json"
    done = run_cli("trace", str(MODULE), "lookup", "-e", engine, "--stubs", str(stubs),
                   "--export", str(out), *extra)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def test_three_host_calls_lie_inside_the_call(engine_name: str, tmp_path: Path) -> None:
    document = _export(tmp_path, engine_name)
    events = document["traceEvents"]
    assert all({"ph", "name", "pid", "tid"} <= set(e) for e in events)
    [call] = [e for e in events if e["ph"] == "X" and e.get("cat") == "call"]
    hosts = [e for e in events if e["ph"] == "X" and e.get("cat") == "host_call"]
    assert [h["name"] for h in hosts] == ["kv:store:get"] * 3
    assert [h["args"]["payload_len"] for h in hosts] == [1, 1, 1]
    assert [h["args"]["response_len"] for h in hosts] == [3, 3, 5]
    assert all(h["args"]["stub"].startswith("kv.yaml:") for h in hosts)
    for host in hosts:
        assert call["ts"] <= host["ts"]
        assert host["ts"] + host["dur"] <= call["ts"] + call["dur"]
    assert [h["ts"] for h in hosts] == sorted(h["ts"] for h in hosts)
    assert any(e["ph"] == "X" and e.get("cat") == "init" for e in events)
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and all(c["args"]["bytes"] > 0 for c in counters)
    assert document["otherData"]["operation"] == "lookup"


def test_export_beside_jsonl_output(engine_name: str, tmp_path: Path) -> None:
    document = _export(tmp_path, engine_name, "-f", "jsonl")
    assert len([e for e in document["traceEvents"] if e.get("cat") == "host_call"]) == 3


def test_export_refuses_an_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    out.write_text("keep")
    result = invoke("trace", str(MODULE), "check", "-p", "1", "--export", str(out))
    assert result.exit_code == 2 and "exists" in result.stderr
    assert out.read_text() == "keep"


def _nests(spans: list[dict[str, Any]]) -> None:
    """Every two spans are disjoint or one holds the other (what Perfetto needs on one track)."""
    for a in spans:
        for b in spans:
            a_end, b_end = a["ts"] + a["dur"], b["ts"] + b["dur"]
            disjoint = a_end <= b["ts"] or b_end <= a["ts"]
            holds = (a["ts"] <= b["ts"] and b_end <= a_end) or (
                b["ts"] <= a["ts"] and a_end <= b_end)
            assert disjoint or holds, (a, b)


def test_nested_exchanges_nest_inside_their_host_call(engine_name: str, tmp_path: Path) -> None:
    from stub_guests import ECHO_WAT, build, host_call_wat

    build(tmp_path / "caller.wasm", host_call_wat("tarmac", "function", "greet"))
    build(tmp_path / "echo.wasm", ECHO_WAT)
    out = tmp_path / "nested.json"
    done = run_cli("trace", str(tmp_path / "caller.wasm"), "x", "-p", "hello", "-e", engine_name,
                   "--function", f"greet={tmp_path / 'echo.wasm'}", "--export", str(out))
    assert done.returncode == 0, done.stderr
    spans = [e for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "X"]
    _nests(spans)
    calls = {e["name"]: e for e in spans if e["cat"] == "call"}
    assert set(calls) == {"call x", "call handler"}
    assert calls["call handler"]["args"]["depth"] == 1 and "depth" not in calls["call x"]["args"]
    [host] = [e for e in spans if e["cat"] == "host_call"]
    assert host["name"] == "tarmac:function:greet"
    outer, inner = calls["call x"], calls["call handler"]
    assert outer["ts"] <= host["ts"] <= inner["ts"]
    assert inner["ts"] + inner["dur"] <= host["ts"] + host["dur"] <= outer["ts"] + outer["dur"]


def test_recursive_exchanges_still_nest(tmp_path: Path) -> None:
    from stub_guests import build, host_call_wat

    build(tmp_path / "self.wasm", host_call_wat("tarmac", "function", "self"))
    out = tmp_path / "deep.json"
    done = run_cli("trace", str(tmp_path / "self.wasm"), "x", "--export", str(out),
                   "--function", f"self={tmp_path / 'self.wasm'}")
    assert done.returncode == 1, done.stderr
    spans = [e for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "X"]
    _nests(spans)
    assert max(e["args"].get("depth", 0) for e in spans) == 8
