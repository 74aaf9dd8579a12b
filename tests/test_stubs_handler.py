"""The stub handler, the tarmac preset, exec replies and the recorder, in-process."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import guest_from_wat
from stub_guests import FORWARD_WAT

from wapc_cli.errors import GuestError, StubFailure
from wapc_cli.runtime.hostcalls import HostCallRequest
from wapc_cli.runtime.session import HostAbort
from wapc_cli.tools.stubs import StubHandler, load_stub_file
from wapc_cli.tools.stubs.host import build_host_setup
from wapc_cli.tools.tarmac.preset import TarmacPreset


def table(tmp_path: Path, text: str, name: str = "stubs.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def req(key: str, payload: bytes = b"") -> HostCallRequest:
    binding, namespace, operation = key.split(":")
    return HostCallRequest(binding, namespace, operation, payload)


def test_first_matching_rule_wins_and_names_itself(tmp_path: Path) -> None:
    handler = StubHandler([load_stub_file(table(tmp_path, """
calls:
  - name: greeting
    match: "tarmac:kvstore:get"
    when: {json: {key: greeting}}
    reply: {json: {data: "aGk="}}
  - match: "tarmac:*:*"
    reply: other
"""))])
    reply = handler(req("tarmac:kvstore:get", b'{"key":"greeting","x":1}'))
    assert (reply.body, reply.error, reply.source) == (b'{"data":"aGk="}', None, "greeting")
    reply = handler(req("tarmac:kvstore:get", b'{"key":"nope"}'))
    assert (reply.body, reply.source) == (b"other", "stubs.yaml:7")


@pytest.mark.parametrize(
    ("default", "body", "error"),
    [("error", b"", "no stub answers x:y:z"), ("empty", b"", None)],
)
def test_default_error_and_empty(
    tmp_path: Path, default: str, body: bytes, error: str | None
) -> None:
    handler = StubHandler([load_stub_file(table(tmp_path, f"default: {default}\n"))])
    reply = handler(req("x:y:z"))
    assert (reply.body, reply.error) == (body, error)
    assert reply.source == f"default: {default}"


def test_default_fail_stops_the_guest_with_exit_5(tmp_path: Path, engine_name: str) -> None:
    setup = build_host_setup([table(tmp_path, "default: fail\n")], None, None)
    guest = guest_from_wat(FORWARD_WAT, engine_name, host_call=setup.handler)
    with pytest.raises(StubFailure, match=r"b:ns:op matched no stub rule \(default: fail\)"):
        guest.call("op", b"")


def test_replies_in_order_last_repeats_and_times(tmp_path: Path, engine_name: str) -> None:
    setup = build_host_setup([table(tmp_path, """
calls:
  - match: "b:ns:seq"
    replies: ["one", "two", {error: "three", body: "three-body"}]
    times: 4
""")], None, None)
    guest = guest_from_wat(FORWARD_WAT, engine_name, host_call=setup.handler)
    assert guest.call("seq") == b"one"
    assert guest.call("seq") == b"two"
    for _ in range(2):
        with pytest.raises(GuestError, match="three"):
            guest.call("seq")
    setup.finish()  # exactly 4: met
    with pytest.raises(GuestError):
        guest.call("seq")
    with pytest.raises(StubFailure, match=r"expected exactly 4 calls, got 5"):
        setup.finish()


def test_error_with_body_sets_both(tmp_path: Path) -> None:
    handler = StubHandler([load_stub_file(table(tmp_path, """
calls:
  - match: "b:ns:down"
    error: backend down
    body: {json: {status: {code: 503}}}
"""))])
    reply = handler(req("b:ns:down"))
    assert reply.error == "backend down" and json.loads(reply.body) == {"status": {"code": 503}}


def test_later_files_win(tmp_path: Path) -> None:
    first = table(tmp_path, "default: empty\ncalls:\n  - {match: 'a:b:c', reply: first}\n",
                  "1.yaml")
    second = table(tmp_path, "default: error\ncalls:\n  - {match: 'a:b:c', reply: second}\n",
                   "2.yaml")
    handler = StubHandler([load_stub_file(first), load_stub_file(second)])
    assert handler(req("a:b:c")).body == b"second"
    assert handler(req("x:y:z")).error is not None  # the later default


def test_echo_and_delay(tmp_path: Path) -> None:
    handler = StubHandler([load_stub_file(table(tmp_path, """
calls:
  - {match: "a:b:c", reply: {echo: true}, delay_ms: 20}
"""))])
    import time

    started = time.perf_counter()
    assert handler(req("a:b:c", b"\x00hi")).body == b"\x00hi"
    assert time.perf_counter() - started >= 0.019


# -- exec --------------------------------------------------------------------------------
def test_exec_reply_stdout_and_errors(tmp_path: Path) -> None:
    script = tmp_path / "answer.py"
    script.write_text(
        "import os, sys\n"
        "data = sys.stdin.buffer.read()\n"
        "if data == b'bad':\n"
        "    sys.stderr.write('\\nrefused: bad payload\\nsecond line\\n'); sys.exit(3)\n"
        "sys.stdout.write(os.environ['WAPC_OPERATION'] + ':' + data.decode().upper())\n"
    )
    handler = StubHandler([load_stub_file(table(tmp_path, f"""
calls:
  - match: "a:b:slow"
    reply: {{exec: ["{sys.executable}", "-c", "import time; time.sleep(30)"], timeout_s: 0.3}}
  - match: "a:b:*"
    reply: {{exec: ["{sys.executable}", answer.py]}}
"""))])
    assert handler(req("a:b:up", b"hello")).body == b"up:HELLO"
    failed = handler(req("a:b:up", b"bad"))
    assert failed.error == "refused: bad payload" and failed.ok is False
    slow = handler(req("a:b:slow"))
    assert slow.error is not None and "no answer within 0.3s" in slow.error


def test_exec_failure_without_stderr_names_the_status(tmp_path: Path) -> None:
    handler = StubHandler([load_stub_file(table(tmp_path, """
calls:
  - {match: "a:b:c", reply: {exec: "sh -c 'exit 4'"}}
"""))])
    assert handler(req("a:b:c")).error == "exec sh: exit status 4"


# -- the tarmac preset ----------------------------------------------------------------------
def _status(body: bytes) -> int:
    return int(json.loads(body)["status"]["code"])


def test_tarmac_kvstore_round_trip() -> None:
    # The preset's own tests are tests/test_tarmac_*.py; this is the handler's view of it.
    preset = TarmacPreset(seed={"seeded": b"s"})
    get = preset.answer(req("tarmac:kvstore:get", b'{"key":"greeting"}'))
    assert get is not None and get.error is not None and _status(get.body) == 404
    put = preset.answer(req("tarmac:kvstore:set", b'{"key":"greeting","data":"aGk="}'))
    assert put is not None and put.ok and _status(put.body) == 200
    get = preset.answer(req("tarmac:kvstore:get", b'{"key":"greeting"}'))
    assert get is not None and get.ok
    assert base64.b64decode(json.loads(get.body)["data"]) == b"hi"
    keys = preset.answer(req("tarmac:kvstore:keys"))
    assert keys is not None and json.loads(keys.body)["keys"] == ["greeting", "seeded"]
    gone = preset.answer(req("tarmac:kvstore:delete", b'{"key":"seeded"}'))
    again = preset.answer(req("tarmac:kvstore:delete", b'{"key":"seeded"}'))
    assert gone is not None and gone.ok and again is not None and again.ok  # Tarmac: 200
    junk = preset.answer(req("tarmac:kvstore:get", b"not json"))
    assert junk is not None and _status(junk.body) == 400


def test_tarmac_logger_metrics_and_sql() -> None:
    preset = TarmacPreset()
    log = preset.answer(req("tarmac:logger:warn", b"careful"))
    assert log is not None and log.ok and log.body == b""
    assert preset.answer(req("tarmac:metrics:counter", b'{"name":"hits"}')) is not None
    preset.answer(req("tarmac:metrics:gauge", b'{"name":"g","action":"dec"}'))
    preset.answer(req("tarmac:metrics:histogram", b'{"name":"h","value":2.5}'))
    summary = preset.summary()
    assert summary["logs"] == [{"level": "warn", "message": "careful"}]
    assert summary["counters"] == {"hits": 1} and summary["gauges"] == {"g": -1.0}
    assert summary["histograms"] == {"h": [2.5]}
    sql = preset.answer(req("tarmac:sql:query", b'{"query":"U0VMRUNUIDE="}'))  # SELECT 1
    assert sql is not None and sql.ok  # the embedded SQLite database
    assert preset.answer(req("other:kvstore:get")) is None


def test_stub_rules_override_the_preset_and_seed_it(tmp_path: Path) -> None:
    setup = build_host_setup([table(tmp_path, """
kvstore: {greeting: hello}
calls:
  - {match: "tarmac:sql:query", reply: {json: {status: {code: 200}, data: []}}}
""")], None, None)
    sql = setup.handler(req("tarmac:sql:query", b"{}"))
    assert not isinstance(sql, bytes) and sql.ok
    got = setup.handler(req("tarmac:kvstore:get", b'{"key":"greeting"}'))
    assert not isinstance(got, bytes) and got.source == "preset:tarmac"
    assert base64.b64decode(json.loads(got.body)["data"]) == b"hello"


def test_unknown_preset_is_a_usage_error() -> None:
    from wapc_cli.errors import UsageError

    with pytest.raises(UsageError, match="unknown preset 'nope'"):
        build_host_setup([], "nope", None)


# -- the recorder ----------------------------------------------------------------------------
def test_record_then_replay_gives_the_same_answers(tmp_path: Path) -> None:
    record = tmp_path / "rec.yaml"
    setup = build_host_setup([], "tarmac", record)
    calls = [
        req("tarmac:kvstore:get", b'{"key":"k"}'),
        req("tarmac:kvstore:set", b'{"key":"k","data":"AAE="}'),
        req("tarmac:kvstore:get", b'{"key":"k"}'),
        req("tarmac:kvstore:get", b'{"key":"k"}'),
        req("b:n*s:[op]", b"\xff\x00"),
    ]
    first = [setup.handler(c) for c in calls]
    setup.finish()
    recorded = yaml.safe_load(record.read_text("utf-8"))
    assert recorded["default"] == "fail"
    replay = build_host_setup([record], None, None)
    second = [replay.handler(c) for c in calls]
    strip = [(r.body, r.error) for r in first if not isinstance(r, bytes)]
    assert strip == [(r.body, r.error) for r in second if not isinstance(r, bytes)]
    replay.finish()  # times: all met
    with pytest.raises(HostAbort) as info:  # anything the recording never saw stops the run
        replay.handler(req("tarmac:kvstore:keys"))
    assert isinstance(info.value.error, StubFailure)


def test_record_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    from wapc_cli.errors import UsageError

    record = tmp_path / "rec.yaml"
    record.write_text("keep me")
    with pytest.raises(UsageError, match="use --force"):
        build_host_setup([], None, record)
    build_host_setup([], None, record, force=True)
