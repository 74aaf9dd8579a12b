"""From a file or bytes to a compiled module that a waPC host can run, or one clear error.

Each check refuses what would otherwise fail later and less clearly: a file
that cannot be read, bytes that are not a core WebAssembly module, a module
that starts above the max-memory limit (before any engine reserves it), and a
module no waPC host could run (its exports and imports).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

from .. import abi
from ..engines import CompiledModule, Limits, get_engine
from ..engines.base import FuncSig
from ..errors import InputFileError, LimitExceeded, NotAGuest, NotWasmError
from ..wasm.constants import PAGE
from ..wasm.memories import defined_memories
from ..wasm.startfn import defer_start
from .cache import ModuleCache, compile_module
from .limits import format_size

WASM_MAGIC = b"\0asm"


def read_module_file(path: str | os.PathLike[str]) -> bytes:
    """Read a module file, turning every way it can be unusable into one clear error."""
    where = os.fspath(path)
    try:
        if Path(where).is_dir():
            raise InputFileError(f"module '{where}' is a directory, not a file")
        data = Path(where).read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"module '{where}': no such file") from None
    except PermissionError:
        raise InputFileError(f"module '{where}': permission denied") from None
    except OSError as exc:
        raise InputFileError(f"module '{where}': cannot read ({exc.strerror})") from None
    check_wasm_bytes(data, where)
    return data


def check_wasm_bytes(data: bytes, where: str) -> None:
    """Refuse bytes that are not a version-1 (core) WebAssembly module, saying what they are."""
    if not data:
        raise NotWasmError(f"module '{where}' is empty, not a WebAssembly module")
    if data[:4] != WASM_MAGIC:
        hint = " (looks like WebAssembly text: compile it with wat2wasm)" if data.lstrip()[
            :1
        ] == b"(" else ""
        raise NotWasmError(f"module '{where}' is not a WebAssembly module (bad magic){hint}")
    if len(data) < 8:
        raise NotWasmError(f"module '{where}' is truncated (no version after the magic)")
    if data[4:8] != b"\x01\0\0\0":
        raise NotWasmError(
            f"module '{where}' has WebAssembly version {int.from_bytes(data[4:8], 'little')}; "
            "only version 1 (core modules) is supported (components are not waPC guests)"
        )


def check_initial_memory(wasm: bytes, limit: int, name: str) -> None:
    """Refuse, before any engine reserves it, a module that starts above the max-memory limit."""
    for memory in defined_memories(wasm):
        size = memory.min_pages * PAGE
        if size > limit:
            raise LimitExceeded(
                "max-memory", format_size(limit),
                f"max-memory: module '{name}' needs {format_size(size)} of memory to start "
                f"({memory.min_pages} page{'' if memory.min_pages == 1 else 's'}), "
                f"more than the max-memory limit of {format_size(limit)}",
                phase="instantiation",
            )


def check_guest_shape(compiled: CompiledModule, name: str) -> None:
    """Refuse, before running anything, a module no waPC host could run."""
    exports = {e.name: e for e in compiled.exports}
    guest_call = exports.get(abi.GUEST_CALL)
    expected = FuncSig(*abi.GUEST_CALL_SIGNATURE)
    if guest_call is None or guest_call.kind != "func":
        raise NotAGuest(f"module '{name}' does not export a function '__guest_call'")
    if guest_call.sig != expected:
        raise NotAGuest(
            f"module '{name}': '__guest_call' has type {guest_call.sig}, expected {expected}"
        )
    memory = exports.get(abi.MEMORY)
    if memory is None or memory.kind != "memory":
        raise NotAGuest(f"module '{name}' does not export its memory as 'memory'")
    for decl in compiled.imports:
        where = f"import '{decl.module}.{decl.name}'"
        if decl.kind != "func":
            raise NotAGuest(f"module '{name}': {where} is a {decl.kind}; no waPC host provides it")
        if decl.module in abi.WASI_MODULES:
            continue
        known = (
            abi.HOST_IMPORTS.get(decl.name)
            if decl.module == abi.WAPC_MODULE
            else abi.ENV_IMPORTS.get((decl.module, decl.name))
        )
        if known is None:
            raise NotAGuest(f"module '{name}': {where} is not provided by any waPC host")
        if decl.sig != FuncSig(*known):
            raise NotAGuest(
                f"module '{name}': {where} has type {decl.sig}, expected {FuncSig(*known)}"
            )


class CompiledGuest(NamedTuple):
    """What :func:`compile_guest` built.

    ``start_export``: the export that now holds the start function
    (wapc_cli.wasm.startfn), to run first in init; None when the start section
    runs while instantiating. ``cache_hit``: the compiled module was loaded
    from the cache (wapc_cli.runtime.cache), and ``compile_ms`` timed that load.
    """

    compiled: CompiledModule
    start_export: str | None
    cache_hit: bool
    compile_ms: float


def compile_guest(
    wasm: bytes, *, engine: str, limits: Limits, name: str, cache: ModuleCache | None
) -> CompiledGuest:
    """Check ``wasm`` and compile it; with ``cache``, reuse a verified compiled artifact.

    The guest's shape is checked by :class:`~wapc_cli.runtime.guest.WapcModule`,
    which every compiled module goes through.
    """
    check_wasm_bytes(wasm, name)
    if limits.max_memory_bytes is not None:
        check_initial_memory(wasm, limits.max_memory_bytes, name)
    runtime = get_engine(engine)
    start = time.perf_counter()
    wasm, start_export = defer_start(wasm)
    try:
        result = compile_module(runtime, wasm, limits, cache)
    except ValueError as exc:
        raise NotWasmError(f"module '{name}' is not a valid WebAssembly module: {exc}") from None
    compile_ms = (time.perf_counter() - start) * 1000
    return CompiledGuest(result.compiled, start_export, result.cache_hit, compile_ms)
