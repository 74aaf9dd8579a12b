"""A valid module may import one function more than once; every engine links it.

Some TinyGo builds import ``wasi_snapshot_preview1.fd_write`` under two import
entries. WebAssembly allows it (imports are not required to be unique), and
one host definition serves every entry; wasmtime's linker used to refuse the
second definition ("defined twice"). Checked on every engine, and on wasmtime
on both instance kinds (the C-API fast path and the public API).
"""

from __future__ import annotations

import pytest
import wasmtime
from conftest import guest_from_wat

from wapc_cli.engines.base import Limits
from wapc_cli.engines.wasmtime_engine import WasmtimeEngine
from wapc_cli.runtime.guest import Guest, WapcModule

#: fd_write imported twice under the same (module, name), and once more from
#: wasi_unstable; __guest_response imported twice. Each entry is called.
TWICE = """(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $respond_a (param i32 i32)))
  (import "wapc" "__guest_response" (func $respond_b (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write_a (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write_b (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_write" (func $write_c (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "a\\nb\\nc\\n")
  (func $iov (param $at i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.const 2)))
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $iov (i32.const 64))
    (drop (call $write_a (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $iov (i32.const 66))
    (drop (call $write_b (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $iov (i32.const 68))
    (drop (call $write_c (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $respond_a (i32.const 64) (i32.const 1))
    (call $respond_b (i32.const 66) (i32.const 1))
    (i32.const 1)))"""


def _run(guest: Guest, logs: list[tuple[str, str]]) -> tuple[bytes, list[tuple[str, str]]]:
    return guest.call("go", b""), logs


def test_a_function_imported_twice_links_and_runs(engine_name: str) -> None:
    logs: list[tuple[str, str]] = []
    guest = guest_from_wat(TWICE, engine_name, on_log=lambda m, s: logs.append((m, s)))
    response, seen = _run(guest, logs)
    # the later __guest_response wins, as one host function called twice would have it
    assert response == b"b"
    assert seen == [("a", "wasi:stderr"), ("b", "wasi:stderr"), ("c", "wasi:stderr")]
    # the instance can be rebuilt (after a trap it is): link it again
    assert guest.call("go", b"") == b"b"


@pytest.mark.parametrize("path", ["fast", "public"])
def test_both_wasmtime_instance_kinds_link_it(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_WASMTIME_PATH", path)
    engine = WasmtimeEngine()
    assert engine.fast is (path == "fast")
    compiled = engine.compile(bytes(wasmtime.wat2wasm(TWICE)), Limits())
    logs: list[tuple[str, str]] = []
    guest = WapcModule(compiled, "<wat>", Limits(), 0.0).instantiate(
        on_log=lambda m, s: logs.append((m, s)))
    assert guest.instance is not None
    assert guest.instance.hot_path in (("c-api", "native") if path == "fast" else ("public-api",))
    assert _run(guest, logs) == (b"b", [("a", "wasi:stderr"), ("b", "wasi:stderr"),
                                        ("c", "wasi:stderr")])


def test_the_module_declares_both_entries(engine_name: str) -> None:
    """The fix links each function once; it does not hide the module's real imports."""
    guest = guest_from_wat(TWICE, engine_name)
    names = [(d.module, d.name) for d in guest.module.compiled.imports]
    assert names.count(("wasi_snapshot_preview1", "fd_write")) == 2
    assert names.count(("wapc", "__guest_response")) == 2
