"""tarmac:metrics:* and tarmac:logger:*: Tarmac's validation, both forms, values kept."""

from __future__ import annotations

import json

import pytest
from tarmac_probe import Probe, ask

from wapc_cli.runtime.hostcalls import HostCallRequest, HostReply
from wapc_cli.tools.tarmac import messages
from wapc_cli.tools.tarmac.observe import LOG_LEVELS, MAX_LOG_LINES
from wapc_cli.tools.tarmac.preset import TarmacPreset

OK = HostReply(b"", None, "preset:tarmac")


def proto(message_type: str, **fields: object) -> bytes:
    return bytes(messages.build(message_type, **fields).SerializeToString())


@pytest.mark.parametrize("name, valid", [
    ("hits", True), ("a:b_c9", True), ("my-metric", False), ("", False), ("hits\n", False),
    ("dotted.name", False),
])
def test_metric_names_follow_tarmacs_pattern(name: str, valid: bool) -> None:
    preset = TarmacPreset()
    for payload in (json.dumps({"name": name}).encode(),
                    proto("tarmac.metrics.MetricsCounter", name=name)):
        reply = ask(preset, "tarmac:metrics:counter", payload)
        assert reply == (OK if valid else HostReply(b"", "invalid metric name", "preset:tarmac"))


def test_values_are_kept_and_one_name_is_one_type() -> None:
    preset = TarmacPreset()
    assert ask(preset, "tarmac:metrics:counter", b'{"name":"hits"}') == OK
    assert ask(preset, "tarmac:metrics:counter", proto("tarmac.metrics.MetricsCounter",
                                                       name="hits")) == OK
    assert ask(preset, "tarmac:metrics:gauge", b'{"name":"g","action":"dec"}') == OK
    assert ask(preset, "tarmac:metrics:gauge", proto("tarmac.metrics.MetricsGauge", name="g",
                                                     action="dec")) == OK
    assert ask(preset, "tarmac:metrics:histogram", proto("tarmac.metrics.MetricsHistogram",
                                                         name="h", value=2.5)) == OK
    assert ask(preset, "tarmac:metrics:histogram", b'{"name":"h","value":1}') == OK
    in_use = ask(preset, "tarmac:metrics:gauge", b'{"name":"hits","action":"inc"}')
    assert in_use == HostReply(b"", "metric name in use", "preset:tarmac")
    assert ask(preset, "tarmac:metrics:gauge", b'{"name":"g2","action":"up"}').error == (
        "invalid action")
    not_json = ask(preset, "tarmac:metrics:counter", b"{oops")
    assert not_json.error is not None and not_json.error.startswith("unable to parse input JSON")
    assert not_json.body == b""
    summary = preset.summary()
    assert summary["counters"] == {"hits": 2} and summary["gauges"] == {"g": -2.0}
    assert summary["histograms"] == {"h": [2.5, 1.0]} and summary["histogram_counts"] == {"h": 2}


def test_logger_levels_lines_and_sink() -> None:
    preset = TarmacPreset()
    shown: list[tuple[str, str]] = []
    preset.log_sink = lambda message, source: shown.append((message, source))
    for level in LOG_LEVELS:
        assert ask(preset, f"tarmac:logger:{level}", level.encode() + b" line") == OK
    assert ask(preset, "tarmac:logger:fatal", b"x").error == "callback not found"
    assert [item["level"] for item in preset.summary()["logs"]] == list(LOG_LEVELS)
    assert shown[3] == ("debug line", "tarmac debug") and shown[4] == ("trace line", "tarmac trace")


def test_logger_keeps_a_bounded_number_of_lines() -> None:
    preset = TarmacPreset()
    for _ in range(MAX_LOG_LINES + 5):
        ask(preset, "tarmac:logger:info", b"x")
    summary = preset.summary()
    assert len(summary["logs"]) == MAX_LOG_LINES and summary["logs_dropped"] == 5


def test_router_answers_like_tarmacs() -> None:
    preset = TarmacPreset()
    assert ask(preset, "tarmac:nothing:here") == HostReply(b"", "callback not found",
                                                           "preset:tarmac")
    assert ask(preset, "tarmac::x").error == "namespace and op cannot be nil"
    assert preset.answer(HostCallRequest("other", "kvstore", "get", b"")) is None
    assert ask(preset, "tarmac:function:missing", b"x").error == (
        "no function 'missing' is configured")


def test_function_calls_go_to_call_function() -> None:
    from wapc_cli.runtime.hostcalls import HostCallError

    def call(name: str, payload: bytes) -> bytes:
        if name == "boom":
            raise HostCallError("callee failed", b"partial")
        return name.encode() + b":" + payload

    preset = TarmacPreset(call_function=call)
    assert ask(preset, "tarmac:function:echo", b"hi") == HostReply(b"echo:hi", None,
                                                                   "preset:tarmac")
    assert ask(preset, "tarmac:function:boom") == HostReply(b"partial", "callee failed",
                                                            "preset:tarmac")


def test_through_a_guest(engine_name: str) -> None:
    preset = TarmacPreset()
    probe = Probe(engine_name, preset.answer)
    assert probe.frame("tarmac:metrics:counter", b'{"name":"my-metric"}') == (
        False, b"", "invalid metric name")
    assert probe.frame("tarmac:logger:warn", b"careful") == (True, b"", None)
    assert preset.summary()["logs"] == [{"level": "warn", "message": "careful"}]
