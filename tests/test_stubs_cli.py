"""--stubs / --preset / --record and `wapc stubs` through the real command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stub_guests import AS_GUEST, FORWARD_WAT, REPO, build
from typer.testing import CliRunner

from wapc_cli.cli.app import app

EXAMPLE = REPO / "examples" / "tarmac-kv.yaml"


@pytest.fixture(scope="module")
def forward(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("guests") / "forward.wasm", FORWARD_WAT)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, text: str, name: str = "stubs.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_call_answers_from_the_table(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, "calls:\n  - {match: 'b:ns:get', reply: {json: {data: 1}}}\n")
    code, out, _ = run("call", str(forward), "get", "--stubs", str(stubs), "--json")
    result = json.loads(out)
    assert code == 0 and result["response"] == '{"data":1}' and result["host_calls"] == 1


@pytest.mark.parametrize(
    ("default", "code", "words"),
    [("error", 1, "no stub answers b:ns:op"), ("empty", 0, ""),
     ("fail", 5, "b:ns:op matched no stub rule (default: fail)")],
)
def test_unmatched_calls_follow_default(
    forward: Path, tmp_path: Path, default: str, code: int, words: str
) -> None:
    stubs = write(tmp_path, f"default: {default}\n")
    got, _, err = run("call", str(forward), "op", "--stubs", str(stubs))
    assert got == code and words in err
    assert "Traceback" not in err


def test_unmet_times_exits_5(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, "calls:\n  - {match: 'b:ns:op', reply: x, times: 2}\n")
    code, _, err = run("call", str(forward), "op", "--stubs", str(stubs))
    assert code == 5
    assert "stub rule stubs.yaml:2 (b:ns:op) expected exactly 2 calls, got 1" in err


def test_exec_reply_through_the_cli(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, f"""
calls:
  - match: "b:ns:upper"
    reply:
      exec: ["{sys.executable}", "-c", "import sys; print(sys.stdin.read().upper(), end='')"]
  - match: "b:ns:broken"
    reply: {{exec: ["{sys.executable}", "-c", "import sys; sys.exit('exploded')"]}}
""")
    code, out, _ = run("call", str(forward), "upper", "-p", "shout", "--stubs", str(stubs))
    assert (code, out) == (0, "SHOUT")
    code, _, err = run("call", str(forward), "broken", "--stubs", str(stubs))
    assert code == 1 and "exploded" in err


def test_broken_table_exit_2_with_place(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, "calls:\n  - match: 'a:b:c'\n    reply: {text: x, hex: '00'}\n")
    code, _, err = run("call", str(forward), "op", "--stubs", str(stubs))
    assert code == 2
    assert f"{stubs}:3:12: calls[0].reply: has 2 forms (text, hex)" in err
    assert len(err.strip().splitlines()) == 1


def test_record_replays_to_the_same_result(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, "calls:\n  - {match: 'b:ns:*', reply: {echo: true}}\n")
    record = tmp_path / "rec.yaml"
    first = run("call", str(forward), "op", "-p", "payload", "--stubs", str(stubs),
                "--record", str(record), "--json")
    again = run("call", str(forward), "op", "-p", "payload", "--stubs", str(stubs),
                "--record", str(record))
    assert again[0] == 2 and "--force" in again[2]
    replay = run("call", str(forward), "op", "-p", "payload", "--stubs", str(record), "--json")
    assert first[0] == replay[0] == 0
    assert json.loads(first[1])["response"] == json.loads(replay[1])["response"] == "payload"
    code, out, _ = run("stubs", "check", str(record))
    assert code == 0 and "ok (1 rule, default fail)" in out


def test_stubs_check_lists_every_problem(tmp_path: Path) -> None:
    stubs = write(tmp_path, "default: sometimes\ncalls:\n  - match: 'a:b:c'\n    repy: x\n")
    code, out, err = run("stubs", "check", str(stubs))
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert lines[0].startswith(f"wapc: error: {stubs}:1:10: default:")
    assert all(re.match(rf"wapc: error: {re.escape(str(stubs))}:\d+:\d+: ", ln) for ln in lines)
    assert any("unknown key 'repy'" in ln for ln in lines)


def test_stubs_check_ok_and_schema() -> None:
    code, out, _ = run("stubs", "check", str(EXAMPLE))
    assert code == 0 and "ok (4 rules, default error)" in out
    code, out, _ = run("stubs", "schema")
    assert code == 0 and json.loads(out)["title"] == "wapc stub table"


def test_missing_table_is_one_line(forward: Path, tmp_path: Path) -> None:
    code, _, err = run("call", str(forward), "op", "--stubs", str(tmp_path / "none.yaml"))
    assert code == 2 and "no such file" in err and len(err.splitlines()) == 1


def test_real_subprocess_exit_codes(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, "default: fail\n")
    proc = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(forward), "op", "--stubs", str(stubs)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 5
    assert proc.stderr.splitlines()[-1].startswith("wapc: error: host call b:ns:op")


# -- the AssemblyScript sample guest (integration) ------------------------------------------
@pytest.mark.integration
def test_as_guest_multi_with_the_example_table() -> None:
    assert AS_GUEST.exists(), "build the sample guests first (scripts/build-guests)"
    code, out, err = run("call", str(AS_GUEST), "multi", "--stubs", str(EXAMPLE))
    assert code == 0, err
    assert json.loads(out) == {"get_ok": True, "set_ok": True, "log_ok": True,
                               "delete_ok": False}


@pytest.mark.integration
def test_as_guest_multi_with_the_tarmac_preset(tmp_path: Path) -> None:
    seed = write(tmp_path, "kvstore: {greeting: hello}\n")
    code, out, _ = run("call", str(AS_GUEST), "multi", "--preset", "tarmac")
    assert code == 0 and json.loads(out)["get_ok"] is False  # empty store: 404
    code, out, _ = run("call", str(AS_GUEST), "multi", "--preset", "tarmac", "--stubs", str(seed))
    # Tarmac answers the delete of a missing key with 200 (hord's drivers do not fail it).
    assert code == 0 and json.loads(out) == {"get_ok": True, "set_ok": True, "log_ok": True,
                                             "delete_ok": True}
