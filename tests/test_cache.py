"""The compiled-module cache: hits, misses, and entries that must never be trusted."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wapc_cli.engines import get_engine
from wapc_cli.engines.base import Limits
from wapc_cli.runtime import cache as cache_mod
from wapc_cli.runtime.cache import CacheKey, ModuleCache, compile_module
from wapc_cli.runtime.guest import WapcModule

ECHO = """(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op i32) (param $len i32) (result i32)
    (call $req (i32.const 0) (i32.const 1024))
    (call $resp (i32.const 1024) (local.get $len))
    (i32.const 1)))"""

OTHER = ECHO.replace("(i32.const 1)))", "(i32.const 0)))")


def wasm(text: str = ECHO) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def key(data: bytes = b"module", config: str = "c") -> CacheKey:
    return CacheKey(hashlib.sha256(data).hexdigest(), "wasmtime", "50.0.1", config)


def test_store_then_load_round_trips(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    cache.store(key(), b"artifact bytes")
    assert cache.load(key()) == b"artifact bytes"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_every_part_of_the_key_matters(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    cache.store(key(), b"artifact")
    assert cache.load(key(b"another module")) is None
    assert cache.load(key(config="consume_fuel=1")) is None
    assert cache.load(CacheKey(key().module_sha256, "wasmtime", "51.0.0", "c")) is None
    assert cache.load(CacheKey(key().module_sha256, "wasmer", "50.0.1", "c")) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # artifact bit flip
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"",  # empty
        lambda data: b"\x00" * 64,  # garbage
        lambda data: data.replace(b"artifact_len=8\n", b"artifact_len=9\n"),
        lambda data: cache_mod.MAGIC + (10**6).to_bytes(4, "little") + b"{}",  # huge header
    ],
)
def test_damaged_entries_are_ignored_and_removed(tmp_path: Path, damage: Any) -> None:
    cache = ModuleCache(tmp_path)
    cache.store(key(), b"artifact")
    path = cache.path_for(key())
    path.write_bytes(damage(path.read_bytes()))
    assert cache.load(key()) is None
    assert not path.exists()


def test_a_foreign_entry_under_the_right_name_is_refused(tmp_path: Path) -> None:
    """A file copied from another key's entry carries that key in its header."""
    cache = ModuleCache(tmp_path)
    cache.store(key(b"other"), b"other code")
    cache.path_for(key(b"other")).rename(cache.path_for(key()))
    assert cache.load(key()) is None


def test_compile_module_hits_after_the_first_compile(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    runtime = get_engine("wasmtime")
    first = compile_module(runtime, wasm(), Limits(), cache)
    second = compile_module(runtime, wasm(), Limits(), cache)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    module = WapcModule(second.compiled, "<wat>", Limits(), 0.0)
    assert module.instantiate().call("echo", b"cached") == b"cached"
    # a different configuration is a different entry
    fuel = compile_module(runtime, wasm(), Limits(fuel=10**6), cache)
    assert not fuel.cache_hit
    assert len(list(tmp_path.glob("*.bin"))) == 2


# A corrupt artifact (never deserialized) and verified bytes the engine refuses
# (recompiled): tests/test_cache_engines.py, on every engine, wasmtime included.


def test_modules_do_not_share_entries(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    runtime = get_engine("wasmtime")
    compile_module(runtime, wasm(), Limits(), cache)
    other = compile_module(runtime, wasm(OTHER), Limits(), cache)
    assert not other.cache_hit
    module = WapcModule(other.compiled, "<wat>", Limits(), 0.0)
    with pytest.raises(Exception, match="without setting an error"):
        module.instantiate().call("echo", b"x")


def test_unwritable_cache_directory_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = compile_module(get_engine("wasmtime"), wasm(), Limits(), ModuleCache(blocker / "x"))
    assert result.note and "not cached" in result.note


def test_cache_dir_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAPC_CACHE_DIR", str(tmp_path / "c"))
    assert ModuleCache().directory == tmp_path / "c"
    monkeypatch.delenv("WAPC_CACHE_DIR")
    if not sys.platform.startswith("linux"):
        pytest.skip("the XDG rule is the Linux one")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ModuleCache().directory == tmp_path / "xdg" / "wapc" / "modules"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ModuleCache().directory == tmp_path / "home" / ".cache" / "wapc" / "modules"


def _wapc(args: list[str], cache_dir: Path, tmp_path: Path,
          timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    env = {"WAPC_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "wapc_cli", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=timeout)


def test_cli_call_uses_the_cache_and_no_cache_skips_it(tmp_path: Path) -> None:
    module = tmp_path / "echo.wasm"
    module.write_bytes(wasm())
    cache_dir = tmp_path / "cache"
    off = _wapc(["call", str(module), "echo", "-p", "hi", "--no-cache"], cache_dir, tmp_path)
    assert off.returncode == 0 and off.stdout == "hi"
    assert not cache_dir.exists()
    for _ in range(2):
        on = _wapc(["call", str(module), "echo", "-p", "hi", "--json"], cache_dir, tmp_path)
        assert on.returncode == 0, on.stderr
        assert json.loads(on.stdout)["response"] == "hi"
    assert len(list(cache_dir.glob("*.bin"))) == 1


@pytest.mark.parametrize("xdg", [None, "/tmp/xdg-cache", "  "])
def test_default_dir_follows_platformdirs(monkeypatch: pytest.MonkeyPatch, xdg: str | None) -> None:
    from platformdirs import user_cache_dir

    from wapc_cli.runtime.cache import default_dir

    monkeypatch.delenv("WAPC_CACHE_DIR", raising=False)
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert default_dir() == Path(user_cache_dir("wapc", appauthor=False)) / "modules"


# -- a cache directory or entry that someone else could have written ----------------------
posix_only = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="owner and mode bits: POSIX")


def _hit_key(runtime: Any, data: bytes, limits: Limits | None = None) -> CacheKey:
    return CacheKey(hashlib.sha256(data).hexdigest(), runtime.name, runtime.version,
                    runtime.code_config(limits or Limits()))


def test_the_directory_is_created_private(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path / "new" / "modules")
    cache.store(key(), b"artifact")
    assert stat.S_IMODE(cache.directory.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(cache.path_for(key()).stat().st_mode) == 0o600


@posix_only
@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
def test_a_directory_others_can_write_is_neither_read_nor_written(
    tmp_path: Path, mode: int
) -> None:
    cache = ModuleCache(tmp_path / "modules")
    cache.store(key(), b"planted machine code")
    cache.directory.chmod(mode)
    problem = cache.problem()
    assert problem and "writable by other users" in problem and f"{mode:04o}" in problem
    assert cache.load(key()) is None
    with pytest.raises(PermissionError, match="writable by other users"):
        cache.store(key(b"another"), b"code")
    assert cache.path_for(key()).exists()  # someone else's directory: nothing removed
    assert not cache.path_for(key(b"another")).exists()
    result = compile_module(get_engine("wasmtime"), wasm(), Limits(), cache)
    assert not result.cache_hit and result.note and "writable by other users" in result.note
    assert len(list(cache.directory.glob("*.bin"))) == 1


@posix_only
def test_another_users_directory_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = get_engine("wasmtime")
    cache = ModuleCache(tmp_path)
    compile_module(runtime, wasm(), Limits(), cache)  # a valid entry, by "them"
    real_uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real_uid + 1)
    problem = cache.problem()
    assert problem and "belongs to another user" in problem
    result = compile_module(runtime, wasm(), Limits(), cache)
    assert not result.cache_hit and result.note and "another user" in result.note


@posix_only
def test_an_entry_others_can_write_is_a_miss_and_replaced(tmp_path: Path) -> None:
    runtime = get_engine("wasmtime")
    cache = ModuleCache(tmp_path)
    compile_module(runtime, wasm(), Limits(), cache)
    (entry,) = tmp_path.glob("*.bin")
    entry.chmod(0o666)
    assert cache.load(_hit_key(runtime, wasm())) is None
    assert not entry.exists()
    assert not compile_module(runtime, wasm(), Limits(), cache).cache_hit
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert compile_module(runtime, wasm(), Limits(), cache).cache_hit


def test_a_symlink_in_place_of_an_entry_is_not_followed(tmp_path: Path) -> None:
    runtime = get_engine("wasmtime")
    elsewhere = tmp_path / "elsewhere.bin"
    cache = ModuleCache(tmp_path / "modules")
    compile_module(runtime, wasm(), Limits(), ModuleCache(tmp_path / "valid"))
    (valid,) = (tmp_path / "valid").glob("*.bin")
    elsewhere.write_bytes(valid.read_bytes())  # a valid entry, reached through a link
    cache.directory.mkdir(mode=0o700)
    entry = cache.path_for(_hit_key(runtime, wasm()))
    entry.symlink_to(elsewhere)
    result = compile_module(runtime, wasm(), Limits(), cache)
    assert not result.cache_hit
    assert not entry.is_symlink() and entry.is_file()  # replaced by a real entry
    assert elsewhere.read_bytes() == valid.read_bytes()  # the link's target untouched


@posix_only
def test_a_fifo_in_place_of_an_entry_is_a_miss_not_a_hang(tmp_path: Path) -> None:
    """A real process: reading a FIFO nobody writes to would block it forever."""
    module = tmp_path / "echo.wasm"
    module.write_bytes(wasm())
    cache_dir = tmp_path / "cache"
    argv = ["call", str(module), "echo", "-p", "hi", "--json"]
    assert _wapc(argv, cache_dir, tmp_path).returncode == 0
    (entry,) = cache_dir.glob("*.bin")  # the entry of the CLI's own key
    entry.unlink()
    os.mkfifo(entry)
    result = _wapc(argv, cache_dir, tmp_path, timeout=60)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert stat.S_ISREG(entry.lstat().st_mode)  # replaced by a real entry


@pytest.mark.parametrize("header", [b"[" * 30_000, b'{"a":' * 20_000, b"\xff\xfe", b"[1]"])
def test_a_corrupt_header_is_a_miss_removed_and_rewritten(tmp_path: Path, header: bytes) -> None:
    runtime = get_engine("wasmtime")
    cache = ModuleCache(tmp_path)
    entry = cache.path_for(_hit_key(runtime, wasm()))
    entry.write_bytes(cache_mod.MAGIC + len(header).to_bytes(4, "little") + header + b"code")
    entry.chmod(0o600)
    assert cache.load(_hit_key(runtime, wasm())) is None
    assert not entry.exists()
    entry.write_bytes(cache_mod.MAGIC + len(header).to_bytes(4, "little") + header + b"code")
    entry.chmod(0o600)
    assert not compile_module(runtime, wasm(), Limits(), cache).cache_hit
    assert compile_module(runtime, wasm(), Limits(), cache).cache_hit  # rewritten, valid


def test_cli_warns_once_and_runs_without_a_cache_others_can_write(tmp_path: Path) -> None:
    module = tmp_path / "echo.wasm"
    module.write_bytes(wasm())
    cache_dir = tmp_path / "shared"
    cache_dir.mkdir()
    cache_dir.chmod(0o777)
    for argv in (["call", str(module), "echo", "-p", "hi"],
                 ["call", str(module), "echo", "-p", "hi", "--json"]):
        result = _wapc(argv, cache_dir, tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stderr == (
            f"wapc: warning: not using the compiled-module cache: the cache directory "
            f"'{cache_dir}' is writable by other users (mode 0777; chmod go-w it to use it)\n"
        )
    assert list(cache_dir.iterdir()) == []


def test_a_header_line_added_or_a_key_field_with_a_line_break_is_refused(tmp_path: Path) -> None:
    """The header is the key's lines then two figures, exactly: nothing more is read."""
    cache = ModuleCache(tmp_path)
    cache.store(key(), b"artifact")
    path = cache.path_for(key())
    data = path.read_bytes()
    head_len = int.from_bytes(data[len(cache_mod.MAGIC) : len(cache_mod.MAGIC) + 4], "little")
    extra = b"more=1\n"
    start = len(cache_mod.MAGIC) + 4
    path.write_bytes(cache_mod.MAGIC + (head_len + len(extra)).to_bytes(4, "little")
                     + data[start : start + head_len] + extra + data[start + head_len :])
    assert cache.load(key()) is None and not path.exists()
    broken = CacheKey(key().module_sha256, "wasmtime", "50.0.1", "a\nartifact_len=8")
    with pytest.raises(ValueError, match="line break"):
        cache.store(broken, b"artifact")
    assert cache.load(broken) is None
