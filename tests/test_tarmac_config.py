"""Tarmac's ``tarmac.json``: what a local run takes from it, what it refuses, what it notes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stub_guests import ECHO_WAT, build, host_call_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import InputFileError
from wapc_cli.tools.tarmac.config import load_tarmac_config


def service(**extra: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "functions": {"default": {"filepath": "mods/default.wasm"},
                      "greet": {"filepath": "mods/echo.wasm", "pool_size": 5}},
        "routes": [
            {"type": "http", "path": "/", "methods": ["GET", "POST"], "function": "default"},
            {"type": "function", "function": "greet"},
            {"type": "init", "function": "default"},
            {"type": "scheduled_task", "function": "default", "frequency": 10},
        ],
        **extra,
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mods").mkdir()
    build(tmp_path / "mods" / "echo.wasm", ECHO_WAT)
    build(tmp_path / "mods" / "default.wasm", ECHO_WAT)
    build(tmp_path / "caller.wasm", host_call_wat("tarmac", "function", "greet"))
    return tmp_path


def write(folder: Path, document: Any) -> Path:
    path = folder / "tarmac.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document,
                    encoding="utf-8")
    return path


def test_routes_of_type_function_become_callees(folder: Path) -> None:
    config = load_tarmac_config(write(folder, {"services": {"app": service()}}))
    assert config.functions == {"greet": folder / "mods" / "echo.wasm"}  # relative to the file
    notes = "\n".join(config.notes)
    assert "http route GET, POST / -> default: not served here" in notes
    assert "init function default: not run here" in notes
    assert "scheduled task default every 10s: not run here" in notes
    assert "pool_size: ignored" in notes
    assert "function 'default' has no route of type function" in notes


def test_keys_match_case_insensitively_as_gos_json_does(folder: Path) -> None:
    document = {"Services": {"app": {"NAME": "app", "Functions": {"greet": {
        "FilePath": "mods/echo.wasm"}}, "Routes": [{"Type": "function", "Function": "greet"}]}}}
    assert set(load_tarmac_config(write(folder, document)).functions) == {"greet"}


def test_unknown_keys_and_route_types_are_noted(folder: Path) -> None:
    document = {"services": {"app": service(extra=1, routes=[
        {"type": "nats", "function": "greet", "topic": "t"}])}}
    notes = "\n".join(load_tarmac_config(write(folder, document)).notes)
    assert "services.app.extra: not a key Tarmac reads" in notes
    assert "route type 'nats' is not one Tarmac knows" in notes


def test_a_route_to_an_undefined_function_is_noted(folder: Path) -> None:
    document = {"services": {"app": service(routes=[{"type": "function", "function": "gone"}])}}
    config = load_tarmac_config(write(folder, document))
    assert "gone" not in config.functions
    assert any("no service defines function 'gone'" in note for note in config.notes)


@pytest.mark.parametrize(("change", "words"), [
    ({"name": ""}, "service missing name"),
    ({"functions": {"f": {"filepath": ""}}}, "function missing filepath"),
    ({"routes": [{"type": "function"}]}, "route missing type or function"),
    ({"routes": [{"type": "http", "function": "greet", "methods": ["GET"]}]},
     "http route missing path or methods"),
    ({"routes": [{"type": "scheduled_task", "function": "greet"}]},
     "scheduled_task route missing frequency"),
    ({"functions": {"f": {"filepath": "mods/none.wasm"}}}, "'mods/none.wasm': no such file"),
    ({"functions": {"f": {"filepath": 3}}}, "expected a string, got a number"),
    ({"routes": {"type": "function"}}, "expected a list"),
    ({"functions": {"f": {"filepath": "mods", "pool_size": 1}}}, "'mods': not a file"),
])
def test_what_tarmac_refuses_is_refused(folder: Path, change: dict[str, Any],
                                        words: str) -> None:
    path = write(folder, {"services": {"app": service(**change)}})
    with pytest.raises(InputFileError) as info:
        load_tarmac_config(path)
    assert words in str(info.value) and str(info.value).startswith(f"{path}: ")
    assert info.value.exit_code == 2


def test_one_function_in_two_services_is_refused(folder: Path) -> None:
    other = {"name": "other", "functions": {"greet": {"filepath": "mods/default.wasm"}}}
    path = write(folder, {"services": {"app": service(), "other": other}})
    with pytest.raises(InputFileError, match="also defined by service 'app'"):
        load_tarmac_config(path)


@pytest.mark.parametrize(("text", "words"), [
    ('{"services": {', ":1:15: not valid JSON"),
    ("[1, 2]", "expected an object, got a list"),
    ('{"services": []}', "services: expected an object"),
])
def test_bad_documents(folder: Path, text: str, words: str) -> None:
    with pytest.raises(InputFileError, match=words):
        load_tarmac_config(write(folder, text))


# -- through the CLI -------------------------------------------------------------------------
def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_function_call_by_tarmac_config(folder: Path) -> None:
    config = write(folder, {"services": {"app": service()}})
    code, out, err = run("call", str(folder / "caller.wasm"), "x", "-p", "by config",
                         "--tarmac-config", str(config))
    assert (code, out) == (0, "by config"), err
    notes = [line for line in err.splitlines() if line.startswith("wapc: note: ")]
    assert any("init function default: not run here" in note for note in notes)


def test_cli_function_call_by_config_in_a_stub_table(folder: Path) -> None:
    write(folder, {"services": {"app": service()}})
    table = folder / "stubs.yaml"
    table.write_text("tarmac: {config: tarmac.json}\n", encoding="utf-8")
    code, out, err = run("trace", str(folder / "caller.wasm"), "x", "-p", "t", "--stubs",
                         str(table), "-f", "jsonl")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert any(e["event"] == "function_call" and e["function"] == "greet" for e in events)


def test_cli_bad_config_in_a_stub_table_names_the_line(folder: Path) -> None:
    write(folder, '{"services": ')
    table = folder / "stubs.yaml"
    table.write_text("preset: tarmac\ntarmac:\n  config: tarmac.json\n", encoding="utf-8")
    code, _, err = run("call", str(folder / "caller.wasm"), "x", "--stubs", str(table))
    assert code == 2 and f"{table}:3:11: tarmac.config: " in err and "not valid JSON" in err


@pytest.mark.parametrize("text", ['{"services": {', '{"services": {"a": {"name": ""}}}'])
def test_cli_bad_config_is_one_line_exit_2(folder: Path, text: str) -> None:
    config = write(folder, text)
    for argv in (["call"], ["trace"]):
        code, _, err = run(*argv, str(folder / "caller.wasm"), "x", "--tarmac-config", str(config))
        assert code == 2 and "Traceback" not in err
        errors = [line for line in err.splitlines() if line.startswith("wapc: error: ")]
        assert len(errors) == 1 and str(config) in errors[0]


def test_cli_missing_config_as_a_subprocess(folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(folder / "caller.wasm"), "x",
         "--tarmac-config", str(folder / "absent.json")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"wapc: error: --tarmac-config: "
                                   f"'{folder / 'absent.json'}': no such file")
