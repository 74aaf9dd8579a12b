"""``wapc test``: running suites, verdicts, JUnit XML, snapshots, --record, -j, both engines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ENGINE_PARAMS, require_engine
from junitparser import Failure, JUnitXml
from stub_guests import HANG_WAT, REPO, build
from suite_fixtures import GOOD_SUITE, SUITES, copy_good_suite, write, write_bad_suite
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import ExitCode
from wapc_cli.tools.testing import TestOptions, run_suites

WAPC = [sys.executable, "-m", "wapc_cli"]


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["test", *args])
    return result.exit_code, result.stdout, result.stderr


def junit_cases(path: Path) -> list[tuple[str, bool]]:
    xml = JUnitXml.fromfile(str(path))
    return [(case.name, any(isinstance(r, Failure) for r in case.result))
            for suite in xml for case in suite]


def test_six_cases_of_a_third_party_guest_pass_with_a_junit_file(tmp_path: Path) -> None:
    junit = tmp_path / "results.xml"
    done = subprocess.run([*WAPC, "test", str(GOOD_SUITE), "--junit", str(junit)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("6 passed, 0 failed")
    cases = junit_cases(junit)
    assert len(cases) == 6 and not any(failed for _, failed in cases)
    assert all(name.endswith("[wasmtime]") for name, _ in cases)


def test_one_wrong_expectation_fails_names_the_case_and_shows_both(tmp_path: Path) -> None:
    suite = write_bad_suite(tmp_path)
    junit = tmp_path / "results.xml"
    code, out, _ = cli(str(suite), "--junit", str(junit))
    assert code == ExitCode.TESTS_FAILED and code not in (0, 2)
    assert "FAIL  " in out and "echo is expected to shout [wasmtime]" in out
    assert '"HELLO WORLD"' in out and '"hello world"' in out  # expected, actual
    assert out.rstrip().endswith("1 passed, 1 failed")
    cases = junit_cases(junit)
    assert len(cases) == 2 and [failed for _, failed in cases] == [False, True]
    failure = next(r for s in JUnitXml.fromfile(str(junit)) for c in s for r in c.result)
    assert failure.text is not None and '"HELLO WORLD"' in failure.text
    assert failure.text in out.replace("\n      ", "\n")  # the console's text, unindented


def test_a_failure_as_a_real_process(tmp_path: Path) -> None:
    suite = write_bad_suite(tmp_path)
    done = subprocess.run([*WAPC, "test", str(suite)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == int(ExitCode.TESTS_FAILED) == 6, done.stderr
    assert "echo is expected to shout" in done.stdout and "\x1b[" not in done.stdout


def test_json_output(tmp_path: Path) -> None:
    code, out, _ = cli(str(write_bad_suite(tmp_path)), "--json")
    document = json.loads(out)
    assert code == 6 and document["exit_code"] == 6
    assert (document["passed"], document["failed"]) == (1, 1)
    failed = [r for r in document["results"] if r["status"] == "failed"]
    assert failed[0]["case"] == "echo is expected to shout" and "HELLO" in failed[0]["failure"]


@pytest.mark.wasmer
def test_two_engines_give_twice_the_cases_all_passing(tmp_path: Path) -> None:
    require_engine("wasmer")
    good = copy_good_suite(tmp_path)
    good.write_text(good.read_text("utf-8").replace(
        "module: rust_echo_string.wasm", "module: rust_echo_string.wasm\n"
        "engines: [wasmtime, wasmer]"), "utf-8")
    junit = tmp_path / "results.xml"
    code, out, _ = cli(str(good), "--junit", str(junit))
    assert code == 0, out
    cases = junit_cases(junit)
    assert len(cases) == 12 and not any(failed for _, failed in cases)
    assert sum(name.endswith("[wasmer]") for name, _ in cases) == 6


def test_update_rewrites_a_stale_snapshot(tmp_path: Path) -> None:
    good = copy_good_suite(tmp_path)
    snapshot = tmp_path / "snapshots" / "thirdparty_echo_fox.msgpack"
    fresh = snapshot.read_bytes()
    snapshot.write_bytes(b"stale")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != snapshot}
    code, out, _ = cli(str(good))
    assert code == 6 and "a snapshot of a longer message" in out
    code, out, _ = cli(str(good), "--update")
    assert code == 0 and "snapshot updated: a snapshot of a longer message [wasmtime]" in out
    assert snapshot.read_bytes() == fresh
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != snapshot}
    assert after == before  # nothing else was written
    code, out, _ = cli(str(good), "--update")
    assert code == 0 and "snapshot updated" not in out  # unchanged now


def test_update_creates_a_missing_snapshot_and_never_writes_outside(tmp_path: Path) -> None:
    good = copy_good_suite(tmp_path)
    (tmp_path / "snapshots" / "thirdparty_echo_fox.msgpack").unlink()
    code, out, _ = cli(str(good))
    assert code == 6 and "does not exist yet" in out
    code, out, _ = cli(str(good), "--update")
    assert code == 0 and "snapshot created" in out
    outside = write(tmp_path, "o.wapc.yaml", "module: rust_echo_string.wasm\ncases:\n"
                    "  - {name: a, operation: echo, payload_hex: 81a36d7367a26869,\n"
                    "     expect: {response_file: ../escaped.bin}}\n"
                    "  - {name: b, operation: echo, payload_hex: 81a36d7367a26869,\n"
                    "     expect: {response_file: rust_echo_string.wasm}}\n")
    module = (tmp_path / "rust_echo_string.wasm").read_bytes()
    code, out, _ = cli(str(outside), "--update")
    assert code == 6 and "outside the suite's folder" in out and "not a snapshot" in out
    assert not (tmp_path.parent / "escaped.bin").exists()
    assert (tmp_path / "rust_echo_string.wasm").read_bytes() == module


HANG_SUITE = """\
module: hang.wasm
timeout: 1
stubs: {default: empty}
cases:
  - name: a guest that never ends is stopped by the timeout
    operation: op
    expect: {limit: timeout, exit: 3, host_calls: ["b:ns:op"]}
  - name: a wrong expectation about it fails
    operation: op
    expect: {response: done}
"""


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_a_timeout_ends_the_case_on_every_engine(tmp_path: Path, engine: str) -> None:
    require_engine(engine)
    build(tmp_path / "hang.wasm", HANG_WAT)
    suite = write(tmp_path, "hang.wapc.yaml", HANG_SUITE)
    started = time.monotonic()
    report = run_suites([suite], TestOptions(engines=(engine,)))
    elapsed = time.monotonic() - started
    first, second = report.results
    assert first.passed, first.failure
    assert not second.passed and "expected a response, got the timeout limit" in second.failure
    assert elapsed < 30  # two 1 s timeouts, with generous room for a slow machine


def test_record_writes_a_table_that_replays(tmp_path: Path) -> None:
    shutil.copy(REPO / "sample_guests" / "build" / "as_guest.wasm", tmp_path / "as_guest.wasm")
    suite = write(tmp_path, "kv.wapc.yaml", "module: as_guest.wasm\npreset: tarmac\ncases:\n"
                  "  - {name: multi, operation: multi}\n")
    code, out, _ = cli(str(suite), "--record", str(tmp_path / "rec"))
    assert code == 0, out
    [table] = (tmp_path / "rec" / "kv").glob("*.stubs.yaml")
    assert table.name == "01-multi.stubs.yaml" and "host calls recorded to" in out
    replay = write(tmp_path, "replay.wapc.yaml", "module: as_guest.wasm\ncases:\n"
                   f"  - {{name: multi, operation: multi, stubs: {table.relative_to(tmp_path)},\n"
                   "     expect: {host_calls: ['tarmac:kvstore:get', 'tarmac:kvstore:set',\n"
                   "              'tarmac:logger:info', 'tarmac:kvstore:delete']}}\n")
    code, out, _ = cli(str(replay))
    assert code == 0, out
    code, _, _ = cli(str(suite), "--record", str(tmp_path / "rec"))
    assert code == 6  # an existing recording is not replaced without --force
    code, _, _ = cli(str(suite), "--record", str(tmp_path / "rec"), "--force")
    assert code == 0


def test_parallel_output_is_in_the_same_order(tmp_path: Path) -> None:
    copy_good_suite(tmp_path)
    write_bad_suite(tmp_path)
    code1, out1, _ = cli(str(tmp_path), "--json")
    code2, out2, _ = cli(str(tmp_path), "--json", "-j", "2")
    strip = lambda text: [(r["suite"], r["case"], r["status"], r["failure"])  # noqa: E731
                          for r in json.loads(text)["results"]]
    assert code1 == code2 == 6
    assert strip(out1) == strip(out2) and len(strip(out1)) == 8


def test_the_sample_suites_pass_on_every_engine() -> None:
    engines = tuple(require_engine(name) for name in ENGINE_PARAMS)
    report = run_suites([SUITES], TestOptions(engines=engines))
    failures = [f"{r.suite} > {r.title}\n{r.failure}" for r in report.results if not r.passed]
    assert not failures, "\n".join(failures)
    assert len(report.results) >= 20 * len(engines)


def test_limits_and_traps_on_a_sample_guest(tmp_path: Path, engine_name: str) -> None:
    shutil.copy(REPO / "sample_guests" / "build" / "as_guest.wasm", tmp_path / "g.wasm")
    suite = write(tmp_path, "l.wapc.yaml", "module: g.wasm\ncases:\n"
                  "  - {name: trap, operation: trap, expect: {trap: unreachable}}\n"
                  "  - {name: not a limit, operation: trap, expect: {limit: fuel}}\n"
                  "  - {name: unmet times, operation: kv_get, payload: k,\n"
                  "     stubs: {calls: [{match: '*', reply: v, times: 2}]},\n"
                  "     expect: {response: v}}\n")
    report = run_suites([suite], TestOptions(engines=(engine_name,)))
    trap, limit, times = report.results
    assert trap.passed, trap.failure
    assert "expected a limit to stop the guest (fuel limit), got a trap" in limit.failure
    assert "got a stub failure" in times.failure and "expected exactly 2 calls" in times.failure


def test_a_module_that_is_not_a_guest_is_an_error_not_a_crash(
    tmp_path: Path, engine_name: str
) -> None:
    build(tmp_path / "plain.wasm", '(module (memory (export "memory") 1))')
    suite = write(tmp_path, "p.wapc.yaml", "module: plain.wasm\ncases:\n"
                  "  - {name: a, operation: echo}\n")
    code, out, err = cli(str(suite), "-e", engine_name, "--junit", str(tmp_path / "j.xml"))
    assert code == 6 and "ERROR" in out and "the case could not run" in out
    assert "__guest_call" in out and "Traceback" not in out + err
    xml = JUnitXml.fromfile(str(tmp_path / "j.xml"))
    assert xml.errors == 1 and xml.failures == 0


def test_usage_errors(tmp_path: Path) -> None:
    assert cli()[0] == 2
    assert cli(str(write_bad_suite(tmp_path)), "-j", "0")[0] == 2
    assert cli(str(write_bad_suite(tmp_path)), "-e", "v8")[0] == 2
    assert cli(str(tmp_path / "missing.wapc.yaml"))[0] == 2


def test_junit_stays_well_formed_with_control_characters_in_names_and_output(
    tmp_path: Path,
) -> None:
    import xml.etree.ElementTree as ET

    shutil.copy(REPO / "sample_guests" / "build" / "as_guest.wasm", tmp_path / "g.wasm")
    folder = tmp_path / "odd\x1bdir"
    folder.mkdir()
    shutil.copy(tmp_path / "g.wasm", folder / "g.wasm")
    suite = write(folder, "c.wapc.yaml", 'module: g.wasm\ncases:\n'
                  '  - {name: "bell \\x07 and \\x01", operation: echo,\n'
                  '     payload_hex: 00011b5b33316d07080c0b7f, expect: {response: x}}\n')
    junit = tmp_path / "results.xml"
    code, _, _ = cli(str(suite), "--junit", str(junit))
    assert code == ExitCode.TESTS_FAILED
    tree = ET.parse(junit)  # raises on a character XML cannot hold
    names = [case.get("name") for case in tree.iter("testcase")]
    assert names == ["bell \\x07 and \\x01 [wasmtime]"]
    assert all("\x1b" not in (s.get("name") or "") for s in tree.iter("testsuite"))


def test_each_cases_host_backends_are_released_when_the_case_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A suite of many cases against a --sql/--kvstore server must not hold one
    # connection per case until the process ends.
    from wapc_cli.tools.tarmac.preset import TarmacPreset

    closed: list[TarmacPreset] = []
    real_close = TarmacPreset.close

    def counting_close(self: TarmacPreset) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(TarmacPreset, "close", counting_close)
    module = REPO / "sample_guests" / "build" / "as_guest.wasm"
    suite = write(tmp_path, "kv.wapc.yaml", f"""
module: {module}
preset: tarmac
cases:
  - name: first
    operation: echo
    payload: a
    expect: {{response: a}}
  - name: second
    operation: echo
    payload: b
    expect: {{response: b}}
  - name: third
    operation: echo
    payload: c
    expect: {{response: c}}
""")
    report = run_suites([suite])
    assert [r.passed for r in report.results] == [True, True, True]
    assert len(set(map(id, closed))) == 3
