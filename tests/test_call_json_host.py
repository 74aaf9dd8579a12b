"""``wapc call --json`` names the host profile it ran under (``host``) and the deviations it
applied (``deviations``: the lines the trace marks), on every engine and when supervised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from profile_guests import ECHO_WAT, PROBE_WAT, REACTOR_WAT, write_guest
from typer.testing import CliRunner

from wapc_cli.cli.app import app


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("json_host_guests")
    return {name: write_guest(directory, name, text) for name, text in
            (("reactor", REACTOR_WAT), ("echo", ECHO_WAT), ("probe", PROBE_WAT))}


def call_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, ["call", *args, "--json"])
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def trace_deviations(*args: str) -> list[str]:
    result = CliRunner().invoke(app, ["trace", *args, "--format", "jsonl"])
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return [event["deviation"] for event in events if "deviation" in event]


def test_the_default_host_applies_nothing(guests: dict[str, Path], engine_name: str) -> None:
    document = call_json(str(guests["echo"]), "echo", "-p", "hi", "-e", engine_name)
    assert document["ok"] and document["host"] == "wapc" and document["deviations"] == []


@pytest.mark.parametrize(("host", "guest", "words"), [
    ("wapc-rs", "reactor", "wapc-rs does not call `_initialize`"),
    ("kubewarden", "reactor", "does not call `_initialize`"),
    ("wapc-js", "probe", "@wapc/host's error when nothing answers host calls"),
])
def test_a_profile_and_its_deviations(guests: dict[str, Path], engine_name: str, host: str,
                                      guest: str, words: str) -> None:
    args = (str(guests[guest]), "echo", "-p", "hi", "-e", engine_name, "--host", host)
    document = call_json(*args)
    assert document["host"] == host
    assert any(words in line for line in document["deviations"]), document["deviations"]
    # the same lines the trace marks, once each
    assert document["deviations"] == list(dict.fromkeys(trace_deviations(*args)))


def test_a_supervised_run_reports_them_too(guests: dict[str, Path], engine_name: str) -> None:
    """With a limit, wasmer runs the guest in a child: its events carry the deviations."""
    document = call_json(str(guests["reactor"]), "echo", "-p", "hi", "-e", engine_name,
                         "--host", "wapc-rs", "--timeout", "20")
    assert document["exit_code"] == 1 and document["host"] == "wapc-rs"
    assert document["deviations"] == ["wapc-rs does not call `_initialize`"]


def test_a_run_that_never_started_has_no_host(guests: dict[str, Path]) -> None:
    document = call_json(str(guests["echo"]), "echo", "--host", "wapc-zz")
    assert document["ok"] is False and document["exit_code"] == 2
    assert document["host"] is None and document["deviations"] == []
