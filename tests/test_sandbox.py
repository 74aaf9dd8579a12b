"""The WASI sandbox: nothing of the host is visible unless granted, and grants hold.

Both sides with a real WASI guest (``c_sandbox.wasm``, C + wasi-libc: fopen,
opendir, getenv, argv) on every engine, plus a WAT probe for what libc never
asks (writes, ``..`` straight to ``path_open``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import SANDBOX_SECRET, granted_tree, guest_from_wat
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.engines.base import FuncSig
from wapc_cli.runtime.session import WapcSession
from wapc_cli.runtime.wasi import IMPLEMENTED_WASI_FUNCTIONS, WASI_TABLE, WasiHost, WasiOptions
from wapc_cli.runtime.wasi_errno import ENOSYS

SANDBOX = Path(__file__).resolve().parent.parent / "sample_guests" / "build" / "c_sandbox.wasm"
SECRET = SANDBOX_SECRET


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """granted/ (what the guest may see) next to secret.txt (what it must not)."""
    granted = granted_tree(tmp_path)
    (granted / "escape").symlink_to(tmp_path / "secret.txt")
    (granted / "inside").symlink_to(granted / "hello.txt")
    return tmp_path


def wapc(engine: str, op: str, payload: str, *flags: str) -> tuple[int, str, str]:
    assert SANDBOX.is_file(), f"{SANDBOX} missing: build the sample guests first"
    result = CliRunner().invoke(
        app, ["call", str(SANDBOX), op, "-p", payload, "-e", engine, "-q", *flags]
    )
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout, result.stderr


# -- without grants: nothing ----------------------------------------------------------
def test_no_grant_no_files(engine_name: str, tree: Path) -> None:
    for path in (str(tree / "granted" / "hello.txt"), str(tree / "secret.txt"), "/etc/passwd",
                 "hello.txt", "."):
        code, out, err = wapc(engine_name, "read_file", path)
        assert code == 1 and out == "", (path, out, err)
        assert SECRET not in out + err
    code, out, err = wapc(engine_name, "list_dir", "/")
    assert code == 1 and out == "", err


def test_no_grant_no_environment(engine_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_SANDBOX_PROBE", "visible?")
    for name in ("WAPC_SANDBOX_PROBE", "PATH", "HOME"):
        code, out, err = wapc(engine_name, "getenv", name)
        assert (code, out, err.strip()) == (1, "", "wapc: error: unset"), name


def test_no_grant_no_arguments(engine_name: str) -> None:
    code, out, _ = wapc(engine_name, "args", "")
    assert (code, out) == (0, "")


# -- with grants: exactly what was granted ----------------------------------------------
def test_granted_dir_is_readable_and_listable(engine_name: str, tree: Path) -> None:
    grant = ("--dir", f"{tree / 'granted'}:/data")
    assert wapc(engine_name, "read_file", "/data/hello.txt", *grant)[:2] == (
        0, "hello from the grant")
    assert wapc(engine_name, "read_file", "/data/sub/inner.txt", *grant)[:2] == (0, "inner")
    assert wapc(engine_name, "read_file", "/data/sub/../hello.txt", *grant)[0] == 0
    assert wapc(engine_name, "read_file", "/data/inside", *grant)[:2] == (
        0, "hello from the grant")
    assert wapc(engine_name, "list_dir", "/data", *grant)[:2] == (
        0, "escape\nhello.txt\ninside\nsub")


def test_granted_dir_cannot_be_escaped(engine_name: str, tree: Path) -> None:
    grant = ("--dir", f"{tree / 'granted'}:/data")
    for path in ("/data/../secret.txt", "/data/escape", "/data/sub/../../secret.txt",
                 str(tree / "secret.txt"), "/etc/passwd"):
        code, out, err = wapc(engine_name, "read_file", path, *grant)
        assert code == 1 and SECRET not in out + err, (path, out, err)
        # EPERM from the host for a path out of the grant (wasmtime's answer);
        # ENOTCAPABLE from libc for a path under no preopen at all.
        assert "Operation not permitted" in err or "Capabilities insufficient" in err, err


def test_granted_env_and_args_only(engine_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_PASSED", "from host")
    monkeypatch.setenv("WAPC_NOT_PASSED", "hidden")
    flags = ("--env", "GIVEN=value", "--env", "WAPC_PASSED", "--arg", "one", "--arg", "two")
    assert wapc(engine_name, "getenv", "GIVEN", *flags)[:2] == (0, "value")
    assert wapc(engine_name, "getenv", "WAPC_PASSED", *flags)[:2] == (0, "from host")
    assert wapc(engine_name, "getenv", "WAPC_NOT_PASSED", *flags)[:2] == (1, "")
    assert wapc(engine_name, "args", "", *flags)[:2] == (0, "c_sandbox.wasm\none\ntwo")


# -- what libc never tries: a WAT probe straight at the WASI functions -------------------
PROBE = """
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; payload: fd, oflags, rights (low 32 bits), fdflags, then the path
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $req (i32.const 0) (i32.const 100))
    (i32.store (i32.const 300) (call $prestat (i32.const 3) (i32.const 400)))
    (i32.store (i32.const 304)
      (call $open (i32.load (i32.const 100)) (i32.const 1) (i32.const 116)
                  (i32.sub (local.get $len) (i32.const 16)) (i32.load (i32.const 104))
                  (i64.extend_i32_u (i32.load (i32.const 108))) (i64.const 0)
                  (i32.load (i32.const 112)) (i32.const 308)))
    (call $resp (i32.const 300) (i32.const 8))
    (i32.const 1)))
"""
ESUCCESS, EBADF, EPERM, EROFS = 0, 8, 63, 69
FD_READ, FD_WRITE = 1 << 1, 1 << 6


def probe(grants: tuple[tuple[str, str], ...], engine: str, fd: int, path: str,
          oflags: int = 0, rights: int = FD_READ, fdflags: int = 0) -> tuple[int, int]:
    g = guest_from_wat(PROBE, engine, wasi=WasiOptions(dirs=grants))
    payload = struct.pack("<IIII", fd, oflags, rights, fdflags) + path.encode()
    prestat, opened = struct.unpack("<II", g.call("probe", payload))
    return prestat, opened


def test_no_preopen_without_a_grant(engine_name: str) -> None:
    assert probe((), engine_name, 3, "x") == (EBADF, EBADF)


def test_path_open_refuses_writes_and_escapes(engine_name: str, tree: Path) -> None:
    grants = ((str(tree / "granted"), "/data"),)
    assert probe(grants, engine_name, 3, "hello.txt") == (ESUCCESS, ESUCCESS)
    assert probe(grants, engine_name, 3, "new.txt", oflags=1)[1] == EROFS  # O_CREAT
    assert probe(grants, engine_name, 3, "hello.txt", oflags=8)[1] == EROFS  # O_TRUNC
    assert probe(grants, engine_name, 3, "hello.txt", rights=FD_WRITE)[1] == EROFS
    assert probe(grants, engine_name, 3, "hello.txt", fdflags=1)[1] == EROFS  # APPEND
    for path in ("../secret.txt", "escape", "sub/../../secret.txt", str(tree / "secret.txt")):
        assert probe(grants, engine_name, 3, path)[1] == EPERM, path
    assert not (tree / "granted" / "new.txt").exists()


def test_only_the_wasi_table_is_guest_callable() -> None:
    """A name outside the table (a helper, a method of the host) is never handed to
    a guest: importing it gets the ENOSYS stub. Every table name is bound."""
    host = WasiHost(WapcSession(lambda request: b""), WasiOptions())
    sig = FuncSig(("i32",), ("i32",))
    helpers = ["flush", "reset", "close", "functions", "iovecs", "path", "store_filestat"]
    assert not set(helpers) & IMPLEMENTED_WASI_FUNCTIONS
    provided = host.functions([("wasi_snapshot_preview1", name, sig) for name in helpers])
    assert all(fn(0) == ENOSYS for fn in provided.values())
    assert {name for _, name in WASI_TABLE} == IMPLEMENTED_WASI_FUNCTIONS
    assert len(IMPLEMENTED_WASI_FUNCTIONS) == 46  # all of preview1
    wanted = [(module, name, entry.sig) for (module, name), entry in WASI_TABLE.items()]
    bound = host.functions(wanted)
    assert set(bound) == set(WASI_TABLE)
    assert ENOSYS not in {bound[("wasi_snapshot_preview1", "sched_yield")]()}
    host.close()
