"""Suites shared by the ``wapc test`` tests: copies of the sample suites in a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from stub_guests import REPO

SUITES = REPO / "sample_guests" / "suites"
THIRDPARTY = REPO / "sample_guests" / "thirdparty"
#: The 6-case suite of a guest we did not write (npm @wapc/host's rust_echo_string.wasm).
GOOD_SUITE = SUITES / "thirdparty_echo.wapc.yaml"

#: Two cases, the second with one wrong expectation (the guest answers "hello world").
BAD_SUITE = """\
module: rust_echo_string.wasm
cases:
  - name: echo works
    operation: echo
    payload_json: {msg: hello world}
    encode: msgpack
    expect: {response_msgpack: hello world}
  - name: echo is expected to shout
    operation: echo
    payload_json: {msg: hello world}
    encode: msgpack
    expect: {response_msgpack: HELLO WORLD}
"""


def copy_good_suite(folder: Path) -> Path:
    """The 6-case third-party suite, its module and its snapshot, copied into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(THIRDPARTY / "rust_echo_string.wasm", folder / "rust_echo_string.wasm")
    shutil.copytree(SUITES / "snapshots", folder / "snapshots", dirs_exist_ok=True)
    text = GOOD_SUITE.read_text("utf-8").replace(
        "module: ../thirdparty/rust_echo_string.wasm", "module: rust_echo_string.wasm"
    )
    assert "module: rust_echo_string.wasm" in text
    path = folder / "good.wapc.yaml"
    path.write_text(text, "utf-8")
    return path


def write_bad_suite(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "rust_echo_string.wasm").exists():
        shutil.copy(THIRDPARTY / "rust_echo_string.wasm", folder / "rust_echo_string.wasm")
    path = folder / "bad.wapc.yaml"
    path.write_text(BAD_SUITE, "utf-8")
    return path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, "utf-8")
    return path
