"""``wapc test`` suite files: loading, every problem at file:line:column, the JSON Schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import yaml
from suite_fixtures import GOOD_SUITE, SUITES, THIRDPARTY, write
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import ExitCode
from wapc_cli.runtime.wasi import DirGrant
from wapc_cli.tools.testing import SuiteError, check_suite, find_suites, load_suite


def schema_text(name: str) -> dict[str, Any]:
    text = resources.files("wapc_cli").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def validator() -> jsonschema.Draft202012Validator:
    stubs = schema_text("stubs")
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        stubs["$id"], referencing.Resource.from_contents(stubs)
    )
    return jsonschema.Draft202012Validator(schema_text("suite"), registry=registry)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(THIRDPARTY / "rust_echo_string.wasm", tmp_path / "guest.wasm")
    return tmp_path


HEAD = "module: guest.wasm\ncases:\n"


def test_the_sample_suite_loads() -> None:
    suite = load_suite(GOOD_SUITE)
    assert len(suite.cases) == 6 and suite.engines == ("wasmtime",)
    assert suite.module == GOOD_SUITE.parent / "../thirdparty/rust_echo_string.wasm"
    assert suite.cases[0].payload == bytes.fromhex("81a36d7367ab68656c6c6f20776f726c64")


def test_a_typo_in_a_case_is_reported_at_its_line_and_column(folder: Path) -> None:
    path = write(folder, "t.wapc.yaml", HEAD + "  - name: a\n    operation: echo\n"
                 "    expect: {respnse: x}\n")
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (5, 14)
    assert "unknown key 'respnse' (did you mean 'response'?)" in problem.message
    assert str(problem).startswith(f"{path}:5:14: ")
    assert caught.value.exit_code == ExitCode.USAGE


def test_every_problem_is_listed_at_once(folder: Path) -> None:
    text = ("module: missing.wasm\nengnes: [wasmtime]\ncases:\n"
            "  - name: a\n    operation: echo\n    timeout: -1\n"
            "  - name: a\n    operation: 3\n    payload: x\n    payload_hex: 00\n")
    _, problems = check_suite(write(folder, "t.wapc.yaml", text))
    lines = [(p.line, p.message) for p in problems]
    assert any(line == 1 and "no such file" in m for line, m in lines)
    assert any(line == 2 and "did you mean 'engines'" in m for line, m in lines)
    assert any(line == 6 and "timeout" in m for line, m in lines)
    assert any(line == 8 and "operation: expected a string" in m for line, m in lines)
    assert any(line == 10 and "has both 'payload' and 'payload_hex'" in m for line, m in lines)


def test_an_inline_stub_table_is_checked_by_the_stub_loader_at_the_suites_lines(
    folder: Path,
) -> None:
    text = (HEAD + "  - name: a\n    operation: echo\n    stubs:\n      calls:\n"
            "        - match: 'a:b'\n          reply: x\n")
    _, problems = check_suite(write(folder, "t.wapc.yaml", text))
    [problem] = problems
    assert problem.file.endswith("t.wapc.yaml") and problem.line == 7
    assert "expected 'binding:namespace:operation'" in problem.message


def test_a_stub_table_file_is_loaded_relative_to_the_suite(folder: Path) -> None:
    write(folder, "answers.yaml", "calls:\n  - {match: 'a:b:c', reply: hi}\n")
    suite = load_suite(write(folder, "t.wapc.yaml", "module: guest.wasm\nstubs: answers.yaml\n"
                             "cases:\n  - {name: a, operation: echo}\n"))
    [table] = suite.cases[0].stubs
    assert table.rules[0].pattern == "a:b:c"


def test_a_bad_stub_table_file_names_its_own_lines(folder: Path) -> None:
    write(folder, "answers.yaml", "calls:\n  - {match: 'a:b:c', repli: hi}\n")
    text = "module: guest.wasm\nstubs: answers.yaml\ncases:\n  - {name: a, operation: echo}\n"
    _, problems = check_suite(write(folder, "t.wapc.yaml", text))
    assert problems and all(p.file.endswith("answers.yaml") and p.line == 2 for p in problems)


def test_suite_defaults_and_case_overrides(folder: Path) -> None:
    (folder / "data").mkdir()
    text = ("module: guest.wasm\ntimeout: 5\nfuel: 1000\nmax_memory: 1MiB\n"
            "wasi: {env: {A: x}, args: [one], dirs: [data:/d]}\ncases:\n"
            "  - {name: a, operation: echo}\n"
            "  - name: b\n    operation: echo\n    timeout: none\n    max_memory: 65536\n"
            "    wasi: {args: [], dirs: [{host: data, guest: /w, writable: true}]}\n")
    first, second = load_suite(write(folder, "t.wapc.yaml", text)).cases
    assert first.limits.timeout_s == 5 and first.limits.fuel == 1000
    assert first.limits.max_memory_bytes == 1024 * 1024
    assert first.wasi.args == ("one",) and dict(first.wasi.env) == {"A": "x"}
    assert first.wasi.dirs == (DirGrant(str(folder / "data"), "/d", False),)
    assert second.limits.timeout_s is None and second.limits.max_memory_bytes == 65536
    assert second.limits.fuel == 1000 and second.wasi.args == () and dict(second.wasi.env)
    assert second.wasi.dirs == (DirGrant(str(folder / "data"), "/w", True),)


def test_duplicate_case_names_are_refused(folder: Path) -> None:
    text = HEAD + "  - {name: a, operation: echo}\n  - {name: a, operation: echo}\n"
    _, problems = check_suite(write(folder, "t.wapc.yaml", text))
    assert [p.line for p in problems] == [4] and "already used" in problems[0].message


def test_a_folder_means_every_suite_below_it() -> None:
    found = find_suites([SUITES])
    assert GOOD_SUITE in found and all(p.name.endswith(".wapc.yaml") for p in found)


def test_the_cli_exits_2_with_file_line_column(folder: Path) -> None:
    path = write(folder, "t.wapc.yaml", HEAD + "  - name: a\n    operaton: echo\n")
    result = CliRunner().invoke(app, ["test", str(path)])
    assert result.exit_code == 2
    assert f"{path}:4:5: cases[0]: unknown key 'operaton'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_subprocess_exits_2_with_file_line(folder: Path) -> None:
    path = write(folder, "t.wapc.yaml", "modul: guest.wasm\ncases: []\n")
    done = subprocess.run([sys.executable, "-m", "wapc_cli", "test", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"{path}:1:1: test suite: unknown key 'modul'" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_schema_is_printed_and_valid() -> None:
    result = CliRunner().invoke(app, ["test", "--schema"])
    assert result.exit_code == 0
    printed = yaml.safe_load(result.stdout)
    assert printed["$id"] == "urn:wapc-cli:schemas:suite"
    jsonschema.Draft202012Validator.check_schema(printed)


VALID = [
    HEAD + "  - {name: a, operation: echo}\n",
    HEAD + "  - {name: a, operation: echo, payload_json: {x: 1}, encode: msgpack}\n",
    HEAD + "  - name: a\n    operation: echo\n    expect:\n      error: boom\n      exit: 1\n"
    "      host_calls: ['a:b:c', {match: 'x:*:z', payload_json: {k: 1}}]\n      logs: [hi]\n",
    HEAD + "  - {name: a, operation: echo, expect: {response_file: snap.bin}}\n",
    HEAD + "  - {name: a, operation: echo, expect: {limit: timeout}, timeout: 0.5}\n",
    "module: guest.wasm\nengines: [wasmtime]\npreset: tarmac\nstubs: {calls: [{match: '*', "
    "reply: x}]}\nmax_memory: 16MiB\ncases:\n  - {name: a, operation: echo}\n",
    HEAD + "  - {name: a, operation: echo, stubs: [{default: empty}], wasi: {env: {A: b}}}\n",
]
INVALID = [
    "cases:\n  - {name: a, operation: echo}\n",
    "module: guest.wasm\n",
    HEAD + "  - {name: a}\n",
    HEAD + "  - {name: a, operation: echo, expect: {respnse: x}}\n",
    HEAD + "  - {name: a, operation: echo, expect: {error: x, response: y}}\n",
    HEAD + "  - {name: a, operation: echo, expect: {error: x, trap: y}}\n",
    HEAD + "  - {name: a, operation: echo, expect: {limit: forever}}\n",
    HEAD + "  - {name: a, operation: echo, payload: x, payload_hex: '00'}\n",
    HEAD + "  - {name: a, operation: echo, encode: msgpack}\n",
    HEAD + "  - {name: a, operation: echo, timeout: -1}\n",
    HEAD + "  - {name: a, operation: echo, fuel: 0}\n",
    HEAD + "  - {name: a, operation: echo, max_memory: lots}\n",
    HEAD + "  - {name: a, operation: echo, wasi: {envs: {}}}\n",
    HEAD + "  - {name: a, operation: echo, stubs: {calls: [{match: 'a:b:c', repy: x}]}}\n",
    HEAD + "  - {name: a, operation: echo, expect: {host_calls: [{match: 'a:b'}]}}\n",
    HEAD + "  - {name: a, operation: echo, expect: {host_calls: [{match: x:y:z, paylod: a}]}}\n",
    "module: guest.wasm\nengines: [v8]\ncases:\n  - {name: a, operation: echo}\n",
    "module: guest.wasm\ncases: []\n",
]


@pytest.mark.parametrize("text", VALID)
def test_schema_and_loader_accept(folder: Path, text: str) -> None:
    validator().validate(yaml.safe_load(text))
    load_suite(write(folder, "t.wapc.yaml", text))


@pytest.mark.parametrize("text", INVALID)
def test_schema_and_loader_reject(folder: Path, text: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(yaml.safe_load(text))
    with pytest.raises(SuiteError):
        load_suite(write(folder, "t.wapc.yaml", text))


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.wapc.yaml")), ids=lambda p: p.name)
def test_sample_suites_are_valid(path: Path) -> None:
    validator().validate(yaml.safe_load(path.read_text("utf-8")))
    load_suite(path)
