"""The pytest plugin and host profiles: a suite's (or a case's) ``host:`` runs the case under
that profile, as ``wapc test`` does, and the ``wapc_guest`` fixture takes ``host=`` too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from profile_guests import REACTOR_ERROR, REACTOR_WAT, write_guest

#: wapc-go calls ``_initialize`` (the reactor then answers); wapc-rs does not, and wraps the
#: guest's error; @wapc/host does not either, and does not wrap it; Kubewarden is wapc-rs.
SUITE = f"""module: reactor.wasm
engines: [ENGINE]
host: wapc-go
cases:
  - name: answers under the suite's host
    operation: echo
    payload: hi
    expect: {{response: hi}}
  - name: a case's own host wins
    operation: echo
    payload: hi
    host: wapc-rs
    expect: {{error: "Guest call failure: {REACTOR_ERROR}"}}
  - name: a platform's profile
    operation: echo
    payload: hi
    host: kubewarden
    expect: {{error: "Guest call failure: {REACTOR_ERROR}"}}
  - name: wapc-js words it its own way
    operation: echo
    payload: hi
    host: wapc-js
    expect: {{error: "{REACTOR_ERROR}"}}
"""


def pytest_run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:faulthandler -p no:cacheprovider\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


def wapc_test(folder: Path, suite: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wapc_cli", "test", suite], cwd=folder,
                          capture_output=True, text=True, timeout=600)


def test_suite_and_case_hosts_as_wapc_test_runs_them(tmp_path: Path, engine_name: str) -> None:
    write_guest(tmp_path, "reactor", REACTOR_WAT)
    (tmp_path / "hosts.wapc.yaml").write_text(SUITE.replace("ENGINE", engine_name))
    reference = wapc_test(tmp_path, "hosts.wapc.yaml")
    assert reference.returncode == 0, reference.stdout + reference.stderr
    done = pytest_run(tmp_path, "hosts.wapc.yaml", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b4 passed\b", done.stdout.strip().splitlines()[-1]), done.stdout
    # a host that is not the suite's would fail the first case: the plugin did run wapc-go
    (tmp_path / "hosts.wapc.yaml").write_text(
        SUITE.replace("ENGINE", engine_name).replace("host: wapc-go", "host: wapc-rs"))
    done = pytest_run(tmp_path, "hosts.wapc.yaml")
    assert done.returncode == 1 and "1 failed, 3 passed" in done.stdout, done.stdout
    assert wapc_test(tmp_path, "hosts.wapc.yaml").returncode == 6


def test_the_wapc_guest_fixture_takes_a_host(tmp_path: Path) -> None:
    write_guest(tmp_path, "reactor", REACTOR_WAT)
    (tmp_path / "test_hosts.py").write_text(
        "import pytest\n"
        "from wapc_cli.errors import GuestError, UsageError\n\n"
        "def test_wapc_go_initializes(wapc_guest):\n"
        "    assert wapc_guest('reactor.wasm', host='wapc-go').call('echo', b'hi') == b'hi'\n\n"
        "def test_wapc_rs_does_not(wapc_guest):\n"
        "    with pytest.raises(GuestError, match='^Guest call failure: no handler'):\n"
        "        wapc_guest('reactor.wasm', host='wapc-rs').call('echo', b'hi')\n\n"
        "def test_a_platform_brings_its_preset(wapc_guest):\n"
        "    guest = wapc_guest('reactor.wasm', host='kubewarden')\n"
        "    with pytest.raises(GuestError):\n"
        "        guest.call('echo', b'hi')\n\n"
        "def test_an_unknown_host(wapc_guest):\n"
        "    with pytest.raises(UsageError, match='wapc-zz'):\n"
        "        wapc_guest('reactor.wasm', host='wapc-zz')\n"
    )
    done = pytest_run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b4 passed\b", done.stdout.strip().splitlines()[-1]), done.stdout
