"""The compiled-module cache on every engine (wasmer too): hit, miss, corruption, the key.

tests/test_cache.py covers the cache's file handling on wasmtime; here each
installed engine (wasmer under CPython 3.10, where it is required) goes through
the same hit / miss / never-deserialize-unverified-bytes path, and a supervised
wasmer run compiles through the cache in its child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import wat

from wapc_cli.engines import get_engine
from wapc_cli.engines.base import Limits
from wapc_cli.runtime.cache import (
    CacheKey,
    ModuleCache,
    SerializingEngine,
    compile_module,
    sha256_hex,
)
from wapc_cli.runtime.guest import WapcModule

ECHO = """(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (memory (export "memory") 1 100)
  (func (export "__guest_call") (param $op i32) (param $len i32) (result i32)
    (call $req (i32.const 0) (i32.const 1024))
    (call $resp (i32.const 1024) (local.get $len))
    (i32.const 1)))"""


def _call(result: Any, limits: Limits, payload: bytes) -> bytes:
    module = WapcModule(result.compiled, "<wat>", limits, 0.0)
    return bytes(module.instantiate().call("echo", payload))


def test_every_engine_takes_part_in_the_cache(engine_name: str) -> None:
    assert isinstance(get_engine(engine_name), SerializingEngine)


def test_a_second_compile_is_a_hit_that_runs(tmp_path: Path, engine_name: str) -> None:
    cache, runtime = ModuleCache(tmp_path), get_engine(engine_name)
    first = compile_module(runtime, wat(ECHO), Limits(), cache)
    second = compile_module(runtime, wat(ECHO), Limits(), cache)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert _call(second, Limits(), b"cached") == b"cached"
    assert len(list(tmp_path.glob("*.bin"))) == 1


def test_the_engine_settings_are_part_of_the_key(tmp_path: Path, engine_name: str) -> None:
    runtime = get_engine(engine_name)
    plain = runtime.code_config(Limits())  # type: ignore[attr-defined]
    capped = runtime.code_config(Limits(max_memory_bytes=2 * 65536))  # type: ignore[attr-defined]
    if engine_name == "wasmtime":
        assert plain == capped  # a limiter, not generated code, caps wasmtime's memory
    if engine_name == "wasmer":
        # wasmer writes the max-memory cap into the module it compiles: another artifact
        assert plain != capped
        cache = ModuleCache(tmp_path)
        compile_module(runtime, wat(ECHO), Limits(), cache)
        limits = Limits(max_memory_bytes=2 * 65536)
        result = compile_module(runtime, wat(ECHO), limits, cache)
        assert not result.cache_hit and _call(result, limits, b"x") == b"x"
        assert "target=" in plain and "compiler=cranelift" in plain


def test_a_corrupt_artifact_is_never_deserialized(
    tmp_path: Path, engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, runtime = ModuleCache(tmp_path), get_engine(engine_name)
    compile_module(runtime, wat(ECHO), Limits(), cache)
    (entry,) = tmp_path.glob("*.bin")
    data = bytearray(entry.read_bytes())
    data[-100] ^= 0xFF  # inside the machine code
    entry.write_bytes(bytes(data))

    def refuse(*args: Any) -> Any:
        raise AssertionError("deserialize reached with an unverified artifact")

    monkeypatch.setattr(type(runtime), "deserialize", refuse)
    result = compile_module(runtime, wat(ECHO), Limits(), cache)
    assert not result.cache_hit and _call(result, Limits(), b"fresh") == b"fresh"
    monkeypatch.undo()
    assert compile_module(runtime, wat(ECHO), Limits(), cache).cache_hit  # rewritten


def test_verified_bytes_the_engine_refuses_are_recompiled(
    tmp_path: Path, engine_name: str
) -> None:
    cache, runtime = ModuleCache(tmp_path), get_engine(engine_name)
    data = wat(ECHO)
    key = CacheKey(sha256_hex(data), runtime.name, runtime.version,
                   runtime.code_config(Limits()))  # type: ignore[attr-defined]
    cache.store(key, b"not machine code at all")
    result = compile_module(runtime, data, Limits(), cache)
    assert not result.cache_hit and _call(result, Limits(), b"ok") == b"ok"
    assert compile_module(runtime, data, Limits(), cache).cache_hit


def _wapc(args: list[str], cache_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"WAPC_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "wapc_cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def test_cli_runs_compile_through_the_cache(tmp_path: Path, engine_name: str) -> None:
    """On wasmer every CLI run is supervised: the child compiles through the cache."""
    module = tmp_path / "echo.wasm"
    module.write_bytes(wat(ECHO))
    cache_dir = tmp_path / "cache"
    off = _wapc(["call", str(module), "echo", "-p", "hi", "-e", engine_name, "--no-cache"],
                cache_dir, tmp_path)
    assert (off.returncode, off.stdout) == (0, "hi"), off.stderr
    assert not cache_dir.exists()
    bench = ["bench", str(module), "echo", "-e", engine_name, "-n", "50", "--warmup", "0", "--json"]
    hits = []
    for _ in range(2):
        run = _wapc(bench, cache_dir, tmp_path)
        assert run.returncode == 0, run.stderr
        document = json.loads(run.stdout)
        hits.append((document[0] if isinstance(document, list) else document)["cache_hit"])
    assert hits == [False, True]  # stored by the first run (wasmer: its child), loaded by the next
    call = _wapc(["call", str(module), "echo", "-p", "hi", "-e", engine_name], cache_dir,
                 tmp_path)
    assert (call.returncode, call.stdout) == (0, "hi"), call.stderr
    assert len(list(cache_dir.glob("*.bin"))) == 1
