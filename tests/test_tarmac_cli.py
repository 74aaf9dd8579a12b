"""Tarmac backends on the command line: a bad DSN or an unreachable server: one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from stub_guests import REPO
from typer.testing import CliRunner

from wapc_cli.cli.app import app

GUEST = REPO / "sample_guests" / "build" / "tarmac_handler.wasm"


@pytest.mark.parametrize("flag, dsn, expected", [
    ("--sql", "postgres://me:hunter2@127.0.0.1:1/db", "postgres://me:***@127.0.0.1:1/db"),
    ("--sql", "mysql://me:hunter2@127.0.0.1:1/db", "mysql://me:***@127.0.0.1:1/db"),
    ("--sql", "oracle://me:hunter2@h/db", "unsupported database"),
    ("--kvstore", "redis://:hunter2@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
    ("--kvstore", "sqlite://x.db", "not a sqlite:///FILE URL"),
])
def test_bad_backend_is_one_line_and_exit_2(flag: str, dsn: str, expected: str) -> None:
    result = CliRunner().invoke(app, ["call", str(GUEST), "http:GET", flag, dsn])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_bad_backend_as_a_subprocess(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(GUEST), "http:GET", "--sql",
         "postgresql://me:hunter2@127.0.0.1:1/db"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "hunter2" not in done.stderr


def test_sqlite_file_persists_across_runs(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'tarmac.db'}"
    for _ in range(2):  # CREATE TABLE IF NOT EXISTS: the second run finds the table
        result = CliRunner().invoke(app, ["call", str(GUEST), "http:POST", "--sql", db,
                                          "--kvstore", f"sqlite:///{tmp_path / 'kv.db'}",
                                          "--payload", '{"payload":"SG93ZGll"}'])
        assert result.exit_code == 0, result.stderr
    import sqlite3

    names = {row[0] for row in sqlite3.connect(tmp_path / "tarmac.db").execute(
        "SELECT name FROM sqlite_master")}
    assert "wasmguest" in names
    store = sqlite3.connect(tmp_path / "kv.db")
    keys = [row[0] for row in store.execute("SELECT key FROM kvstore")]
    assert keys == ["test-data"]
