"""Every way out of a grant, tried against the WASI host directly; and read-only grants.

The host resolves guest paths descriptor-relative (wapc_cli.runtime.wasi_sandbox):
these tests try ``..``, absolute paths, symlinks out (relative and absolute),
symlink loops, a symlink swapped in while a path is being resolved, and every
change in a read-only grant. The same with real guests on every engine is in
test_sandbox.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from wasi_probe import FD_READ, FD_WRITE, FOLLOW, O_CREAT, O_DIRECTORY, O_TRUNC, Probe

from wapc_cli.runtime import wasi_sandbox
from wapc_cli.runtime.wasi import DirGrant

ESUCCESS, EEXIST, ELOOP, ENOENT, ENOTDIR, EPERM, EROFS = 0, 20, 32, 44, 54, 63, 69
SECRET = b"host secret"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """grant/ (granted) beside secret.txt (not), with links pointing out of it."""
    grant = tmp_path / "grant"
    (grant / "sub").mkdir(parents=True)
    (grant / "file.txt").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (grant / "out_relative").symlink_to("../secret.txt")
    (grant / "out_absolute").symlink_to(tmp_path / "secret.txt")
    (grant / "sub" / "out_deep").symlink_to("../../secret.txt")
    (grant / "in_absolute").symlink_to(grant / "file.txt")
    (grant / "loop").symlink_to("loop")
    (grant / "dir_link").symlink_to("sub")
    return tmp_path


@pytest.fixture
def writable(tree: Path) -> Iterator[Probe]:
    probe = Probe([DirGrant(str(tree / "grant"), "/", writable=True)])
    yield probe
    probe.close()


@pytest.fixture
def readonly(tree: Path) -> Iterator[Probe]:
    probe = Probe([(str(tree / "grant"), "/data")])  # a plain pair: read-only
    yield probe
    probe.close()


def read_all(probe: Probe, path: str, lookup: int = FOLLOW) -> tuple[int, bytes]:
    errno, fd = probe.open(path, lookup=lookup)
    if errno:
        return errno, b""
    errno, data = probe.read(fd)
    assert probe.call("fd_close", fd) == ESUCCESS
    return errno, data


@pytest.mark.parametrize("path", [
    "..", "../secret.txt", "sub/../../secret.txt", "sub/../..", "./../grant/../secret.txt",
])
def test_dot_dot_never_climbs_out(readonly: Probe, path: str) -> None:
    assert read_all(readonly, path) == (EPERM, b"")


@pytest.mark.parametrize("path", ["/secret.txt", "/etc/passwd", "/", "//file.txt"])
def test_absolute_paths_are_refused(readonly: Probe, path: str) -> None:
    assert read_all(readonly, path)[0] == EPERM


@pytest.mark.parametrize("path", ["out_relative", "out_absolute", "sub/out_deep"])
def test_symlinks_pointing_out_are_refused(readonly: Probe, path: str) -> None:
    errno, data = read_all(readonly, path)
    assert errno == EPERM and SECRET not in data
    # Not following the final link: it is a link, and opening it is ELOOP.
    assert readonly.open(path, lookup=0)[0] == ELOOP
    assert readonly.stat(path + "/", lookup=0)[0] == EPERM  # a trailing / follows it


def test_links_inside_the_grant_work(readonly: Probe) -> None:
    assert read_all(readonly, "in_absolute") == (ESUCCESS, b"inside")  # a host-made link
    assert read_all(readonly, "dir_link/../file.txt") == (ESUCCESS, b"inside")
    assert read_all(readonly, "sub/../file.txt") == (ESUCCESS, b"inside")


def test_symlink_loops_end_in_eloop(readonly: Probe) -> None:
    assert read_all(readonly, "loop")[0] == ELOOP
    assert read_all(readonly, "loop/x")[0] == ELOOP


def test_guest_made_links_out_are_refused(writable: Probe, tree: Path) -> None:
    assert writable.symlink("/etc/passwd", "abs") == EPERM  # never even created
    assert not (tree / "grant" / "abs").is_symlink()
    assert writable.symlink("../secret.txt", "rel") == ESUCCESS  # only text...
    assert read_all(writable, "rel")[0] == EPERM  # ...that cannot be followed out
    assert writable.link("out_relative", "hard") == ESUCCESS  # a link to the link itself
    assert (tree / "grant" / "hard").is_symlink()
    assert read_all(writable, "hard")[0] == EPERM


def test_a_symlink_swapped_in_mid_resolution_cannot_escape(
    writable: Probe, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two steps of resolving ``sub/file``, ``sub`` becomes a link out.

    The step that entered ``sub`` already holds it open: the rest of the path is
    looked up in the directory it opened, never by name from the top again.
    """
    (tree / "grant" / "sub" / "file").write_bytes(b"the real one")
    (tree / "elsewhere").mkdir()
    (tree / "elsewhere" / "file").write_bytes(SECRET)
    steps = []

    def swap() -> None:
        steps.append(1)
        if len(steps) == 2:  # after "sub" was entered, before "file" is looked at
            os.rename(tree / "grant" / "sub", tree / "grant" / "moved")
            (tree / "grant" / "sub").symlink_to(tree / "elsewhere")

    monkeypatch.setattr(wasi_sandbox, "step_hook", swap)
    errno, data = read_all(writable, "sub/file")
    assert (errno, data) == (ESUCCESS, b"the real one")
    assert len(steps) >= 2
    monkeypatch.setattr(wasi_sandbox, "step_hook", None)
    # And resolved afresh, the swapped-in link is refused.
    assert read_all(writable, "sub/file")[0] == EPERM


def test_a_symlink_swapped_in_for_the_last_component(
    writable: Probe, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final name becomes a link out after it was checked: O_NOFOLLOW refuses it."""
    target = tree / "grant" / "victim"
    target.write_bytes(b"plain")

    calls = []

    def swap() -> None:
        calls.append(1)
        if len(calls) == 2:  # the name was read and found no link; now it is one
            target.unlink()
            target.symlink_to(tree / "secret.txt")

    monkeypatch.setattr(wasi_sandbox, "step_hook", swap)
    errno, data = read_all(writable, "victim")
    assert len(calls) == 2
    assert SECRET not in data and errno == ELOOP


# -- read-only grants ---------------------------------------------------------------------
def test_readonly_grant_reads(readonly: Probe) -> None:
    assert read_all(readonly, "file.txt") == (ESUCCESS, b"inside")
    assert readonly.stat("sub")[0] == ESUCCESS


def test_readonly_grant_refuses_every_change(readonly: Probe, tree: Path) -> None:
    before = sorted(p.name for p in (tree / "grant").rglob("*"))
    assert readonly.open("new.txt", O_CREAT)[0] == EROFS
    assert readonly.open("file.txt", O_TRUNC)[0] == EROFS
    assert readonly.open("file.txt", 0, FD_WRITE)[0] == EROFS
    assert readonly.open("file.txt", 0, FD_READ, fdflags=1)[0] == EROFS  # append
    assert readonly.path_call("path_create_directory", "newdir") == EROFS
    assert readonly.path_call("path_unlink_file", "file.txt") == EROFS
    assert readonly.path_call("path_remove_directory", "sub") == EROFS
    assert readonly.rename("file.txt", "moved.txt") == EROFS
    assert readonly.symlink("file.txt", "alias") == EROFS
    assert readonly.link("file.txt", "hard") == EROFS
    errno, fd = readonly.open("file.txt")
    assert errno == ESUCCESS
    assert readonly.write(fd, b"x")[0] == 8  # EBADF: opened for reading
    assert readonly.call("fd_filestat_set_times", fd, 0, 0, 2) == EROFS
    assert sorted(p.name for p in (tree / "grant").rglob("*")) == before
    assert (tree / "grant" / "file.txt").read_bytes() == b"inside"


def test_writable_grant_allows_changes(writable: Probe, tree: Path) -> None:
    assert writable.path_call("path_create_directory", "made") == ESUCCESS
    assert writable.path_call("path_create_directory", "made") == EEXIST
    errno, fd = writable.open("made/new.txt", O_CREAT, FD_READ | FD_WRITE)
    assert errno == ESUCCESS
    assert writable.write(fd, b"written") == (ESUCCESS, 7)
    assert writable.call("fd_close", fd) == ESUCCESS
    assert (tree / "grant" / "made" / "new.txt").read_bytes() == b"written"
    assert writable.rename("made/new.txt", "made/renamed.txt") == ESUCCESS
    assert writable.path_call("path_unlink_file", "made/renamed.txt") == ESUCCESS
    assert writable.path_call("path_remove_directory", "made") == ESUCCESS
    assert writable.open("made", O_DIRECTORY)[0] == ENOENT
    assert writable.path_call("path_unlink_file", "sub/") == 31  # EISDIR
    assert writable.path_call("path_unlink_file", "file.txt/") == ENOTDIR


def test_nothing_without_a_grant() -> None:
    probe = Probe([])
    assert probe.call("fd_prestat_get", 3, probe.SCRATCH) == 8  # EBADF: no preopen
    assert probe.open("etc/passwd", dirfd=3)[0] == 8
    probe.close()
