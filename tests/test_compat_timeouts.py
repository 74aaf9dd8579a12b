"""``wapc compat`` runs each host profile under its own default time limit (Kubewarden's
policy-server: 2 s), as ``wapc call --host`` does, unless ``--timeout`` is given."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import wat
from profile_guests import ECHO_WAT
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.engines.base import Limits
from wapc_cli.runtime.profiles import KUBEWARDEN, WAPC_RS, get_profile
from wapc_cli.tools.compat import profile_limits, run_compat
from wapc_cli.tools.host_setup import HostSetup

LOOP_WAT = """(module (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 1)))"""


def compat_json(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, ["compat", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_profile_limits_take_the_platforms_timeout_unless_given() -> None:
    wapc_default = Limits(fuel=7, timeout_s=30.0)
    assert profile_limits(wapc_default, KUBEWARDEN, timeout_given=False) == Limits(
        fuel=7, timeout_s=2.0)
    assert profile_limits(wapc_default, KUBEWARDEN, timeout_given=True) == wapc_default
    assert profile_limits(wapc_default, WAPC_RS, timeout_given=False) == wapc_default
    assert get_profile("kubewarden").default_timeout_s == 2.0


def test_compat_kubewarden_stops_a_loop_after_2s(tmp_path: Path, engine_name: str) -> None:
    loop = tmp_path / "loop.wasm"
    loop.write_bytes(wat(LOOP_WAT))
    started = time.monotonic()
    code, report = compat_json(str(loop), "validate", "--host", "kubewarden", "-e", engine_name)
    assert time.monotonic() - started < 25  # near 2 s, not wapc's default 30 s
    assert code == 0
    (run,) = report["results"]
    assert run["outcome"] == "limit" and "longer than 2s" in run["error"]
    assert any("stops a call after 2s by default" in d and "src/cli.rs:164-169" in d
               for d in run["deviations"])


def test_an_explicit_timeout_wins_over_the_platforms(tmp_path: Path, engine_name: str) -> None:
    loop = tmp_path / "loop.wasm"
    loop.write_bytes(wat(LOOP_WAT))
    code, report = compat_json(str(loop), "validate", "--host", "kubewarden", "--host", "wapc",
                               "-e", engine_name, "--timeout", "0.5")
    assert code == 0
    assert [run["profile"] for run in report["results"]] == ["kubewarden", "wapc"]
    for run in report["results"]:
        assert run["outcome"] == "limit" and "longer than 0.5s" in run["error"]
        assert run["deviations"] == []


def test_each_profile_keeps_its_own_limits_in_one_report(tmp_path: Path,
                                                         engine_name: str) -> None:
    echo = tmp_path / "echo.wasm"
    echo.write_bytes(wat(ECHO_WAT))
    report = run_compat(echo.read_bytes(), name="echo", operation="echo", payload=b"hi",
                        engines=[engine_name], make_host=lambda profile: HostSetup(),
                        profiles=(KUBEWARDEN, WAPC_RS), limits=Limits(timeout_s=30.0),
                        timeout_given=False)
    assert report.agree and [run.response for run in report.runs] == [b"hi", b"hi"]
