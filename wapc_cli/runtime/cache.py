"""A cache of compiled modules: engine artifacts keyed by what makes them valid.

Loading a serialized artifact is far cheaper than compiling the module again
(figures in docs/performance.md). The key is the SHA-256 of the module bytes,
the engine, the engine's version and the engine configuration that changes
generated code (fuel metering, epoch interruption). Nothing else may reuse an
entry.

Loading serialized machine code runs whatever it contains, so an entry is only
handed to an engine after its header names exactly the key asked for and the
SHA-256 of its artifact matches the one recorded beside it. A corrupt,
truncated, foreign or stale entry, or anything but a regular file in its place
(a FIFO, a symbolic link, a directory), is a miss: it is removed and the module
is compiled again.

The checksum only proves that the entry is intact, not who wrote it, so the
directory must be the user's own (``platformdirs`` user cache, or
``WAPC_CACHE_DIR``): owned by the current user and writable by no one else, as
every entry must be. A directory that is not is left alone, neither read nor
written (:meth:`ModuleCache.problem` says why; the CLI warns, as pip does for a
cache directory it does not own). The directory is created with mode 0700.

File layout: ``MAGIC`` | u32 header length | header | artifact bytes. The header is
``name=value`` lines (UTF-8), the key's fields in a fixed order then
``artifact_len`` and ``artifact_sha256``: a reader compares the key's lines byte for
byte and parses two numbers, without the json module (~1.3 ms of a one-shot call).
Writes go to a temporary file (mode 0600) in the same directory, then ``os.replace``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

from ..engines.base import CompiledModule, Engine, Limits

MAGIC = b"WAPC-MODCACHE\x00\x02\n"  # 2: line header (1 was JSON)
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

    Importing ``hashlib`` loads OpenSSL, a noticeable part of a one-shot
    ``wapc call`` that hashes a small guest and its artifact. CPython's built-in
    SHA-256 loads faster but hashes several times slower, so it takes inputs
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
        # The XDG rule platformdirs applies on Linux, without paying for its
        # import on every one-shot call.
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

    def header_lines(self) -> bytes:
        """The key's part of an entry's header (ValueError: a field that would not
        read back, holding a line break)."""
        fields = self.as_json()
        if any("\n" in value or "\r" in value for value in fields.values()):
            raise ValueError(f"a cache key field holds a line break: {fields!r}")
        return "".join(f"{name}={value}\n" for name, value in fields.items()).encode("utf-8")

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

    def problem(self) -> str | None:
        """Why the directory must not be used, or None when it is usable (or not there yet).

        Another user's directory, or one that others may write to, could hold
        entries planted by them; such a directory is neither read nor written.
        """
        if not hasattr(os, "geteuid"):  # Windows: access is ACLs, not owner and mode bits
            return None
        try:
            info = os.stat(self.directory)
        except OSError:  # absent (created on the first store) or unusable (store says why)
            return None
        if not stat.S_ISDIR(info.st_mode):
            return None
        if info.st_uid != os.geteuid():
            return (f"the cache directory '{self.directory}' belongs to another user "
                    f"(uid {info.st_uid})")
        if info.st_mode & _OTHERS_WRITE:
            return (f"the cache directory '{self.directory}' is writable by other users "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}; chmod go-w it to use it)")
        return None

    def load(self, key: CacheKey) -> bytes | None:
        """The artifact stored under ``key``, or None when absent or not trustworthy."""
        if self.problem() is not None:
            return None
        data, remove = _read_entry(self.path_for(key))
        artifact = None
        if data is not None:
            artifact = _verified(data, key)
            remove = artifact is None
        if remove:
            self.discard(key)
        return artifact

    def store(self, key: CacheKey, artifact: bytes) -> None:
        """Write the entry for ``key``; OSError when it cannot (PermissionError: untrusted dir)."""
        head = _entry_header(key, artifact)
        import tempfile  # only when writing: keeps cold starts with a warm cache lean

        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        problem = self.problem()  # checked after mkdir: it may have been there already
        if problem is not None:
            raise PermissionError(problem)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC + _HEADER_LEN.pack(len(head)) + head)
                out.write(artifact)
            os.replace(tmp, self.path_for(key))  # replaces a FIFO or link, never follows it
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def discard(self, key: CacheKey) -> None:
        with contextlib.suppress(OSError):
            self.path_for(key).unlink()


#: Mode bits that let users other than the owner change a directory or file.
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH
#: Opening an entry neither follows a symbolic link nor waits for a FIFO's writer.
_ENTRY_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def _read_entry(path: Path) -> tuple[bytes | None, bool]:
    """The bytes of the entry at ``path`` and whether what is there must be removed.

    Only a regular file that the current user owns and no one else may write
    is read; anything else in its place (a symbolic link, a FIFO, a directory,
    another user's file) is a miss to remove.
    """
    try:
        fd = os.open(path, _ENTRY_OPEN_FLAGS)
    except FileNotFoundError:
        return None, False
    except OSError:  # ELOOP: a symbolic link; or unreadable: replace it
        return None, True
    with os.fdopen(fd, "rb") as entry:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, True
        if hasattr(os, "geteuid") and (
            info.st_uid != os.geteuid() or info.st_mode & _OTHERS_WRITE
        ):
            return None, True
        try:
            return entry.read(), False
        except OSError:
            return None, True


def _verified(data: bytes, key: CacheKey) -> bytes | None:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEADER_LEN.size:
        return None
    offset = len(MAGIC)
    (head_len,) = _HEADER_LEN.unpack_from(data, offset)
    offset += _HEADER_LEN.size
    if head_len > _MAX_HEADER or offset + head_len > len(data):
        return None
    artifact = data[offset + head_len :]
    try:
        expected = _entry_header(key, artifact)
    except ValueError:
        return None
    # Another module, engine, version or configuration; or an artifact truncated,
    # extended or changed since it was written.
    return artifact if data[offset : offset + head_len] == expected else None


def _entry_header(key: CacheKey, artifact: bytes) -> bytes:
    """The header an entry for ``key`` holding ``artifact`` has: written by
    :meth:`ModuleCache.store`, compared byte for byte by :func:`_verified`."""
    return key.header_lines() + (
        f"artifact_len={len(artifact)}\nartifact_sha256={sha256_hex(artifact)}\n"
    ).encode("ascii")


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
    problem = cache.problem()
    if problem is not None:  # neither read nor written: see ModuleCache.problem
        return CompileResult(compile_fn(wasm, limits), note=f"not cached: {problem}")
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
