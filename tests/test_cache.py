"""The compiled-module cache: hits, misses, and entries that must never be trusted."""

from __future__ import annotations

import hashlib
import json
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
        lambda data: data.replace(b'"artifact_len": 8', b'"artifact_len": 9'),
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


def test_a_corrupt_artifact_is_never_deserialized(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ModuleCache(tmp_path)
    runtime = get_engine("wasmtime")
    compile_module(runtime, wasm(), Limits(), cache)
    (entry,) = tmp_path.glob("*.bin")
    data = bytearray(entry.read_bytes())
    data[-100] ^= 0xFF  # inside the machine code
    entry.write_bytes(bytes(data))

    def refuse(*args: Any) -> Any:
        raise AssertionError("deserialize reached with an unverified artifact")

    monkeypatch.setattr(type(runtime), "deserialize", refuse)
    result = compile_module(runtime, wasm(), Limits(), cache)
    assert not result.cache_hit
    module = WapcModule(result.compiled, "<wat>", Limits(), 0.0)
    assert module.instantiate().call("echo", b"fresh") == b"fresh"
    monkeypatch.undo()
    assert compile_module(runtime, wasm(), Limits(), cache).cache_hit  # rewritten, valid


def test_an_entry_the_engine_refuses_falls_back_to_compiling(tmp_path: Path) -> None:
    """Checksum-valid bytes that are not an artifact of this engine: recompiled, not a crash."""
    cache = ModuleCache(tmp_path)
    runtime = get_engine("wasmtime")
    data = wasm()
    k = CacheKey(hashlib.sha256(data).hexdigest(), runtime.name, runtime.version,
                 runtime.code_config(Limits()))  # type: ignore[attr-defined]
    cache.store(k, b"not machine code at all")
    result = compile_module(runtime, data, Limits(), cache)
    assert not result.cache_hit
    assert compile_module(runtime, data, Limits(), cache).cache_hit


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
    assert "wapc" in str(ModuleCache().directory)


def _wapc(args: list[str], cache_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"WAPC_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "wapc_cli", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path)


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
