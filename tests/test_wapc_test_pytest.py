"""The pytest plugin: ``*.wapc.yaml`` suites collected as tests, under ``pytest -n`` too.

Each test runs pytest as a subprocess in a temporary folder (with its own
empty ``pytest.ini``, so this project's configuration does not apply), with
the plugin as installed by the package's ``pytest11`` entry point.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from suite_fixtures import copy_good_suite, write, write_bad_suite


def pytest_run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:faulthandler -p no:cacheprovider\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


def closing_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_the_plugin_is_installed_as_an_entry_point() -> None:
    from importlib.metadata import entry_points

    [entry] = [e for e in entry_points(group="pytest11") if e.name == "wapc"]
    assert entry.value == "wapc_cli.tools.testing.pytest_plugin"


def test_a_good_suite_is_six_passed_tests(tmp_path: Path) -> None:
    copy_good_suite(tmp_path)
    done = pytest_run(tmp_path, "good.wapc.yaml", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b6 passed\b", closing_line(done.stdout)), done.stdout
    assert "good.wapc.yaml::echo decodes as MessagePack[wasmtime] PASSED" in done.stdout


def test_pytest_n_2_over_a_good_and_a_bad_suite(tmp_path: Path) -> None:
    copy_good_suite(tmp_path)
    write_bad_suite(tmp_path)
    done = pytest_run(tmp_path, "-n", "2", "good.wapc.yaml", "bad.wapc.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"\b1 failed, 7 passed\b", closing_line(done.stdout)), done.stdout
    assert "2 workers" in done.stdout
    # the same failure text as wapc test: the case, what was expected, what came back
    assert "echo is expected to shout [wasmtime]" in done.stdout
    assert '"HELLO WORLD"' in done.stdout and '"hello world"' in done.stdout
    assert "Traceback" not in done.stdout


def test_a_bad_suite_is_a_collection_error_with_file_line(tmp_path: Path) -> None:
    write_bad_suite(tmp_path)
    suite = write(tmp_path, "typo.wapc.yaml", "module: rust_echo_string.wasm\ncases:\n"
                  "  - {name: a, operation: echo, expct: {}}\n")
    done = pytest_run(tmp_path, "typo.wapc.yaml")
    assert done.returncode == 2, done.stdout
    assert f"{suite}:3:32: cases[0]: unknown key 'expct'" in done.stdout


def test_collection_can_be_turned_off(tmp_path: Path) -> None:
    write_bad_suite(tmp_path)
    (tmp_path / "test_nothing.py").write_text("def test_one():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nwapc_collect = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "1 passed" in closing_line(done.stdout), done.stdout


def test_the_wapc_guest_fixture(tmp_path: Path) -> None:
    write_bad_suite(tmp_path)  # brings rust_echo_string.wasm
    (tmp_path / "bad.wapc.yaml").unlink()
    (tmp_path / "test_guest.py").write_text(
        "import msgpack\n"
        "from wapc_cli.errors import GuestError\n"
        "import pytest\n\n"
        "def test_echo(wapc_guest):\n"
        "    guest = wapc_guest('rust_echo_string.wasm')\n"
        "    reply = guest.call('echo', msgpack.packb({'msg': 'hi'}))\n"
        "    assert msgpack.unpackb(reply) == 'hi'\n\n"
        "def test_unknown(wapc_guest):\n"
        "    with pytest.raises(GuestError, match='No handler registered'):\n"
        "        wapc_guest('rust_echo_string.wasm', engine='wasmtime').call('nope')\n"
    )
    done = pytest_run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b2 passed\b", closing_line(done.stdout)), done.stdout


@pytest.mark.parametrize("option", ["--wapc-engine=wasmtime"])
def test_engine_option(tmp_path: Path, option: str) -> None:
    copy_good_suite(tmp_path)
    done = pytest_run(tmp_path, "good.wapc.yaml", option, "--co", "-q")
    assert done.returncode == 0 and "6 tests collected" in done.stdout, done.stdout


def test_control_characters_in_case_names_reach_the_terminal_escaped(tmp_path: Path) -> None:
    copy_good_suite(tmp_path)
    write(tmp_path, "odd.wapc.yaml", 'module: rust_echo_string.wasm\ncases:\n'
          '  - {name: "red \\x1b[31m name", operation: nope, expect: {response: x}}\n')
    done = pytest_run(tmp_path, "odd.wapc.yaml", "-v")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "\x1b" not in done.stdout
    assert "odd.wapc.yaml::red \\x1b[31m name[wasmtime] FAILED" in done.stdout
    assert "odd.wapc.yaml > red \\x1b[31m name [wasmtime]" in done.stdout
