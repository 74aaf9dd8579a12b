"""A cache of compiled modules: engine artifacts keyed by what makes them valid.

Compiling a 14 KB guest with wasmtime takes ~8 ms; loading its serialized
artifact ~0.1 ms. The key is the SHA-256 of the module bytes, the engine, the
engine's version and the engine configuration that changes generated code
(fuel metering, epoch interruption). Nothing else may reuse an entry.

Loading serialized machine code runs whatever it contains, so an entry is only
handed to an engine after its header names exactly the key asked for and the
SHA-256 of its artifact matches the one recorded beside it. A corrupt,
truncated, foreign or stale entry is ignored (and removed) and the module is
compiled again. The directory is the user's own (``platformdirs`` user cache,
or ``WAPC_CACHE_DIR``); it is trusted as much as the user's other files.

File layout: ``MAGIC`` | u32 header length | JSON header | artifact bytes.
Writes go to a temporary file in the same directory, then ``os.replace``.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..engines.base import CompiledModule, Engine, Limits

MAGIC = b"WAPC-MODCACHE\x00\x01\n"
_HEADER_LEN = struct.Struct("<I")
_MAX_HEADER = 64 * 1024
ENV_DIR = "WAPC_CACHE_DIR"
ENV_DISABLE = "WAPC_NO_CACHE"
#: Inputs shorter than this are hashed by CPython's built-in SHA-256 (see sha256_hex).
SMALL_INPUT = 256 * 1024

try:  # CPython's own SHA-256 (``_sha2`` since 3.12); absent from some builds
    from _sha256 import sha256 as _builtin_sha256  # type: ignore[import-not-found]
except ImportError:
    try:
        from _sha2 import sha256 as _builtin_sha256  # type: ignore[import-not-found,no-redef]
    except ImportError:
        _builtin_sha256 = None


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex, from whichever implementation is cheaper for it.

    Importing ``hashlib`` loads OpenSSL: ~3 ms of a one-shot ``wapc call`` that
    hashes a small guest and its artifact. CPython's built-in SHA-256 loads in
    ~0.6 ms but hashes ~6x slower (~3 ms per MiB more), so it takes inputs
    under :data:`SMALL_INPUT` and OpenSSL the rest. The digest is the same.
    """
    if _builtin_sha256 is not None and len(data) < SMALL_INPUT:
        return str(_builtin_sha256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()


@runtime_checkable
class SerializingEngine(Protocol):
    """What an engine offers to take part in the cache (optional for engines)."""

    name: str
    version: str

    def code_config(self, limits: Limits) -> str:
        """The engine settings that change generated code, as a stable string."""
        ...

    def serialize(self, compiled: CompiledModule) -> bytes: ...

    def deserialize(self, artifact: bytes, limits: Limits) -> CompiledModule:
        """Rebuild a module from :meth:`serialize`'s bytes; raise on any mismatch."""
        ...


def default_dir() -> Path:
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    if sys.platform.startswith("linux"):
        # The XDG rule platformdirs applies on Linux, without its ~10 ms import
        # on every one-shot call.
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.expanduser("~/.cache")
        return Path(base) / "wapc" / "modules"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("wapc", appauthor=False)) / "modules"


def enabled_by_env() -> bool:
    return os.environ.get(ENV_DISABLE, "").strip().lower() in ("", "0", "false", "no")


class CacheKey(NamedTuple):
    module_sha256: str
    engine: str
    engine_version: str
    config: str

    @property
    def digest(self) -> str:
        text = "\0".join((self.module_sha256, self.engine, self.engine_version, self.config))
        return sha256_hex(text.encode("utf-8"))

    def as_json(self) -> dict[str, str]:
        return {
            "module_sha256": self.module_sha256,
            "engine": self.engine,
            "engine_version": self.engine_version,
            "config": self.config,
        }


class ModuleCache:
    """Serialized artifacts in one directory, one file per key."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_dir()

    def path_for(self, key: CacheKey) -> Path:
        return self.directory / f"{key.digest}.bin"

    def load(self, key: CacheKey) -> bytes | None:
        """The artifact stored under ``key``, or None when absent or not trustworthy."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        artifact = _verified(data, key)
        if artifact is None:
            self.discard(key)
        return artifact

    def store(self, key: CacheKey, artifact: bytes) -> None:
        header = dict(key.as_json(), artifact_sha256=sha256_hex(artifact),
                      artifact_len=len(artifact))
        head = json.dumps(header, sort_keys=True).encode("utf-8")
        import tempfile  # only when writing: keeps cold starts with a warm cache lean

        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC + _HEADER_LEN.pack(len(head)) + head)
                out.write(artifact)
            os.replace(tmp, self.path_for(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def discard(self, key: CacheKey) -> None:
        with contextlib.suppress(OSError):
            self.path_for(key).unlink()


def _verified(data: bytes, key: CacheKey) -> bytes | None:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEADER_LEN.size:
        return None
    offset = len(MAGIC)
    (head_len,) = _HEADER_LEN.unpack_from(data, offset)
    offset += _HEADER_LEN.size
    if head_len > _MAX_HEADER or offset + head_len > len(data):
        return None
    try:
        header: Any = json.loads(data[offset : offset + head_len])
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    if any(header.get(name) != value for name, value in key.as_json().items()):
        return None  # another module, engine, version or configuration
    artifact = data[offset + head_len :]
    if header.get("artifact_len") != len(artifact):
        return None
    if header.get("artifact_sha256") != sha256_hex(artifact):
        return None
    return artifact


class CompileResult(NamedTuple):
    compiled: CompiledModule
    cache_hit: bool = False
    #: Why the cache was not used or not written, for ``bench`` and debugging.
    note: str | None = None


def compile_module(
    runtime: Engine,
    wasm: bytes,
    limits: Limits,
    cache: ModuleCache | None,
    compile_fn: Callable[[bytes, Limits], CompiledModule] | None = None,
) -> CompileResult:
    """Compile ``wasm``, going through ``cache`` when the engine supports it.

    The engine's ``ValueError`` for an invalid module propagates unchanged; a
    cache that cannot be read or written never fails the compilation.
    """
    compile_fn = compile_fn or runtime.compile
    if cache is None or not isinstance(runtime, SerializingEngine):
        return CompileResult(compile_fn(wasm, limits))
    key = CacheKey(
        sha256_hex(wasm), runtime.name, runtime.version,
        runtime.code_config(limits),
    )
    artifact = cache.load(key)
    if artifact is not None:
        try:
            return CompileResult(runtime.deserialize(artifact, limits), cache_hit=True)
        except Exception:  # checksum-verified but refused by the engine: recompile
            cache.discard(key)
    compiled = compile_fn(wasm, limits)
    note = None
    try:
        cache.store(key, runtime.serialize(compiled))
    except Exception as exc:  # a read-only or full cache directory is not an error
        note = f"not cached: {exc}"
    return CompileResult(compiled, note=note)
