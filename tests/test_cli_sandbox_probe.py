"""The sandbox through the command line, the same on every engine: what a ``--dir`` grant allows.

``c_fs_probe.wasm`` (C + wasi-libc: open, write, mkdir, rename, symlink, ...)
tries one file-system step per payload line and answers what each gave. With a
read-only grant reading works and every change is refused; with ``:rw``
changes work inside the grant; ``..``, absolute paths and symlinks never reach
anything outside it, and nothing outside it changes. Each engine must answer
exactly the expected lines (so the two answer the same).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SANDBOX_SECRET, granted_tree
from typer.testing import CliRunner

from wapc_cli.cli.app import app

PROBE = Path(__file__).resolve().parent.parent / "sample_guests" / "build" / "c_fs_probe.wasm"
SECRET = SANDBOX_SECRET

DENIED = "Operation not permitted"  # EPERM: a path that leads out of its grant
READ_ONLY = "Read-only file system"  # EROFS: a change in a read-only grant
NO_GRANT = "Capabilities insufficient"  # ENOTCAPABLE: under no grant at all


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """granted/ next to secret.txt, with symlinks out (absolute and relative) and in."""
    granted = granted_tree(tmp_path)
    (granted / "escape_abs").symlink_to(tmp_path / "secret.txt")
    (granted / "escape_rel").symlink_to("../secret.txt")
    (granted / "inside").symlink_to("hello.txt")
    return tmp_path


def probe(engine: str, steps: list[str], *flags: str) -> list[str]:
    assert PROBE.is_file(), f"{PROBE} missing: build the sample guests (scripts/build-guests c)"
    result = CliRunner().invoke(
        app, ["call", str(PROBE), "probe", "-e", engine, "-q", "-p", "\n".join(steps), *flags]
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def expect(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The steps, and the lines the probe must answer (``ok...`` or an error text)."""
    return [step for step, _ in pairs], [
        f"{step}: {answer}" for step, answer in pairs
    ]


def outside_untouched(tree: Path) -> None:
    assert sorted(p.name for p in tree.iterdir()) == ["granted", "secret.txt"]
    assert (tree / "secret.txt").read_text() == SECRET


READ_ONLY_STEPS = [
    ("read /data/hello.txt", "ok hello from the grant"),
    ("read /data/sub/inner.txt", "ok inner"),
    ("read /data/sub/../hello.txt", "ok hello from the grant"),
    ("read /data/inside", "ok hello from the grant"),
    ("list /data", "ok escape_abs,escape_rel,hello.txt,inside,sub"),
    ("stat /data/sub", "ok dir"),
    ("lstat /data/escape_abs", "ok link"),
    ("readlink /data/escape_rel", "ok ../secret.txt"),
    # writes, creates and every other change: refused, the grant is read-only
    ("write /data/hello.txt", READ_ONLY),
    ("append /data/hello.txt", READ_ONLY),
    ("create /data/new.txt", READ_ONLY),
    ("mkdir /data/newdir", READ_ONLY),
    ("rmdir /data/sub", READ_ONLY),
    ("unlink /data/hello.txt", READ_ONLY),
    ("rename /data/hello.txt /data/moved.txt", READ_ONLY),
    ("symlink hello.txt /data/link", READ_ONLY),
    # escapes: '..' past the grant, symlinks out of it, absolute host paths
    ("read /data/../secret.txt", DENIED),
    ("read /data/sub/../../secret.txt", DENIED),
    ("read /data/escape_abs", DENIED),
    ("read /data/escape_rel", DENIED),
    ("stat /data/escape_rel", DENIED),
    ("list /data/..", DENIED),
    ("write /data/escape_abs", READ_ONLY),  # refused before the link is even looked at
]


def test_a_read_only_grant(engine_name: str, tree: Path) -> None:
    steps, answers = expect([
        *READ_ONLY_STEPS,
        (f"read {tree / 'secret.txt'}", NO_GRANT),
        ("read /etc/passwd", NO_GRANT),
    ])
    for grant in (f"{tree / 'granted'}:/data", f"{tree / 'granted'}:/data:ro"):
        assert probe(engine_name, steps, "--dir", grant) == answers
    outside_untouched(tree)
    assert (tree / "granted" / "hello.txt").read_text() == "hello from the grant"


def test_a_writable_grant_changes_only_what_is_inside(engine_name: str, tree: Path) -> None:
    steps, answers = expect([
        ("write /data/hello.txt", "ok"),
        ("read /data/hello.txt", "ok probe"),
        ("append /data/hello.txt", "ok"),
        ("create /data/new.txt", "ok"),
        ("create /data/new.txt", "File exists"),
        ("mkdir /data/newdir", "ok"),
        ("rename /data/new.txt /data/newdir/moved.txt", "ok"),
        ("read /data/newdir/moved.txt", "ok probe"),
        ("symlink moved.txt /data/newdir/link", "ok"),
        ("read /data/newdir/link", "ok probe"),
        ("unlink /data/newdir/link", "ok"),
        ("unlink /data/newdir/moved.txt", "ok"),
        ("rmdir /data/newdir", "ok"),
        # still no way out
        ("create /data/../outside.txt", DENIED),
        ("create /data/sub/../../outside.txt", DENIED),
        ("mkdir /data/../outdir", DENIED),
        ("write /data/escape_abs", DENIED),
        ("write /data/escape_rel", DENIED),
        ("rename /data/hello.txt /data/../moved.txt", DENIED),
        ("unlink /data/../secret.txt", DENIED),
        (f"create {tree / 'outside.txt'}", NO_GRANT),
        # a link to an absolute path is refused; one made of '..' may exist, not lead out
        (f"symlink {tree / 'secret.txt'} /data/abs_link", DENIED),
        ("read /data/abs_link", "No such file or directory"),
        ("symlink ../../secret.txt /data/sub/out_link", "ok"),
        ("read /data/sub/out_link", DENIED),
        ("write /data/sub/out_link", DENIED),
        ("create /data/sub/out_link", "File exists"),
    ])
    assert probe(engine_name, steps, "--dir", f"{tree / 'granted'}:/data:rw") == answers
    outside_untouched(tree)
    granted = tree / "granted"
    assert (granted / "hello.txt").read_text() == "probeprobe"
    assert sorted(p.name for p in granted.iterdir()) == [
        "escape_abs", "escape_rel", "hello.txt", "inside", "sub"]
    assert os.readlink(granted / "sub" / "out_link") == "../../secret.txt"


def test_without_a_grant_nothing(engine_name: str, tree: Path) -> None:
    steps, answers = expect([
        (f"read {tree / 'granted' / 'hello.txt'}", NO_GRANT),
        ("read hello.txt", NO_GRANT),
        ("list .", NO_GRANT),
        ("create new.txt", NO_GRANT),
    ])
    assert probe(engine_name, steps) == answers
    outside_untouched(tree)


def test_two_grants_one_read_only(engine_name: str, tree: Path) -> None:
    (tree / "granted" / "sub" / "w").mkdir()
    steps, answers = expect([
        ("create /ro/new.txt", READ_ONLY),
        ("create /rw/new.txt", "ok"),
        ("rename /rw/new.txt /ro/new.txt", READ_ONLY),
        ("read /rw/../hello.txt", DENIED),
    ])
    lines = probe(engine_name, steps, "--dir", f"{tree / 'granted'}:/ro",
                  "--dir", f"{tree / 'granted' / 'sub' / 'w'}:/rw:rw")
    assert lines == answers


def test_the_same_through_a_real_process(all_engines: list[str], tree: Path) -> None:
    """Every engine, as the user runs it: identical answers, byte for byte."""
    steps = [step for step, _ in READ_ONLY_STEPS]
    outputs = []
    for engine in all_engines:
        done = subprocess.run(
            [sys.executable, "-m", "wapc_cli", "call", str(PROBE), "probe", "-e", engine,
             "-p", "\n".join(steps), "--dir", f"{tree / 'granted'}:/data:ro"],
            capture_output=True, timeout=120, env={**os.environ, "NO_COLOR": "1"},
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0].decode().splitlines() == expect(READ_ONLY_STEPS)[1]
    assert all(output == outputs[0] for output in outputs)
