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
