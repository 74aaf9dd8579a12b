"""``wapc test --core DIR``: a crash bundle for each case that fails with a trap (#16)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dwarf_guest import DIGIT_TRAP_LINE, MODULE, invoke, run_cli

from wapc_cli.errors import ExitCode
from wapc_cli.tools.testing import TestOptions, run_suites
from wapc_cli.wasm.coredump import read_coredump

SUITE = """\
module: dwarf_trap.wasm
cases:
  - name: a trap nobody expected
    operation: check
    payload: "12a"
  - name: the trap it expects
    operation: check
    payload: "12a"
    expect: {trap: unreachable}
  - name: digits add up
    operation: check
    payload: "123"
  - name: a wrong answer is no crash
    operation: check
    payload: "123"
    expect: {response: "7"}
"""


def _suite(tmp_path: Path) -> Path:
    shutil.copy(MODULE, tmp_path / "dwarf_trap.wasm")
    path = tmp_path / "trap.wapc.yaml"
    path.write_text(SUITE)
    return path


def _bundle(root: Path, engine: str) -> Path:
    return root / "trap" / f"01-a-trap-nobody-expected.{engine}"


def test_a_failing_trap_leaves_a_bundle_and_nothing_else(engine_name: str, tmp_path: Path) -> None:
    suite, crash = _suite(tmp_path), tmp_path / "crash"
    report = run_suites([suite], TestOptions(engines=(engine_name,), core_dir=crash))
    statuses = [r.status for r in report.results]
    assert statuses == ["failed", "passed", "passed", "failed"]
    folder = _bundle(crash, engine_name)
    written = sorted(p.relative_to(crash).as_posix() for p in crash.rglob("*") if p.is_file())
    assert written == [f"{folder.relative_to(crash).as_posix()}/dwarf_trap.check.{ext}"
                       for ext in ("core.wasm", "json")]
    trapped = report.results[0]
    assert trapped.core is not None and str(folder / "dwarf_trap.check.core.wasm") in trapped.core
    assert "crash bundle written" in trapped.failure  # in the console, JUnit and pytest text
    assert report.results[3].core is None
    record = json.loads((folder / "dwarf_trap.check.json").read_text())
    assert record["operation"] == "check" and record["engine"] == engine_name
    assert record["trapping_function"] == "check_input"
    assert any(f.get("line") == DIGIT_TRAP_LINE for f in record["frames"])
    dump = read_coredump((folder / "dwarf_trap.check.core.wasm").read_bytes())
    assert dump.memory_size and dump.frames
    assert b"12a" in (dump.read(record["guest_request"]["ptr"], 3) or b"")


def test_core_in_worker_processes_and_the_cli(tmp_path: Path) -> None:
    suite, crash = _suite(tmp_path), tmp_path / "crash"
    result = invoke("test", str(suite), "--core", str(crash), "-j", "2", "--json")
    assert result.exit_code == ExitCode.TESTS_FAILED, result.output
    cores = [r["core"] for r in json.loads(result.stdout)["results"]]
    assert cores[0] and cores[0].startswith("crash bundle written") and cores[1:] == [None] * 3
    assert (_bundle(crash, "wasmtime") / "dwarf_trap.check.core.wasm").is_file()


def test_an_existing_bundle_is_refused_before_anything_runs(tmp_path: Path) -> None:
    suite, crash = _suite(tmp_path), tmp_path / "crash"
    folder = _bundle(crash, "wasmtime")
    folder.mkdir(parents=True)
    (folder / "dwarf_trap.check.json").write_text("mine")
    done = run_cli("test", str(suite), "--core", str(crash))
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err.count("\n") == 1 and "exists" in err and "--force" in err, err
    assert not (folder / "dwarf_trap.check.core.wasm").exists()  # nothing ran
    assert (folder / "dwarf_trap.check.json").read_text() == "mine"
    again = run_cli("test", str(suite), "--core", str(crash), "--force")
    assert again.returncode == ExitCode.TESTS_FAILED, again.stderr
    assert json.loads((folder / "dwarf_trap.check.json").read_text())["operation"] == "check"


def test_force_needs_record_or_core(tmp_path: Path) -> None:
    result = invoke("test", str(_suite(tmp_path)), "--force")
    assert result.exit_code == 2 and "--record or --core" in result.stderr


def test_a_file_in_the_way_is_refused_and_an_unwritable_folder_is_said(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    in_the_way = tmp_path / "afile"
    in_the_way.write_text("mine")
    result = invoke("test", str(suite), "--core", str(in_the_way))
    assert result.exit_code == 2 and "is not a folder" in result.stderr
    assert in_the_way.read_text() == "mine"
    blocked = tmp_path / "crash"
    (blocked / "trap").mkdir(parents=True)
    (blocked / "trap" / "01-a-trap-nobody-expected.wasmtime").write_text("a file, not a folder")
    report = run_suites([suite], TestOptions(engines=("wasmtime",), core_dir=blocked))
    note = report.results[0].core
    assert note is not None and note.startswith("crash bundle not written: cannot write into")
    assert report.results[0].status == "failed"
