"""The kvstore's stores: in memory, an SQLite file, a Redis server (hord's drivers' rules).

Tarmac talks to its store through hord (``github.com/tarmac-project/hord``),
whose drivers share the checks a callback's status texts come from
(``hord.go``): an empty key is ``key cannot be nil``, empty data is
``data cannot be empty``, a missing key is ``nil value returned from
database``; deleting a missing key is no error. ``keys`` of an empty store is
``None`` for the in-memory driver (Go's nil slice: JSON ``null``) and ``[]``
for Redis (redigo's ``Strings`` makes an empty slice); the SQLite file follows
the in-memory driver, whose semantics it stands in for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ...errors import UsageError
from .dsn import describe_dsn, scrub_secrets, sqlite_path

ERR_INVALID_KEY = "key cannot be nil"
ERR_INVALID_DATA = "data cannot be empty"
ERR_NIL = "nil value returned from database"


class KVError(Exception):
    """A store operation failed; the text is what hord's driver would return."""


class KVBackend(Protocol):
    def get(self, key: str) -> bytes: ...
    def set(self, key: str, data: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> list[str] | None: ...
    def close(self) -> None: ...


def _check(key: str, data: bytes | None = None) -> None:
    if not key:
        raise KVError(ERR_INVALID_KEY)
    if data is not None and not data:
        raise KVError(ERR_INVALID_DATA)


class MemoryKV:
    """hord's ``hashmap`` driver: what Tarmac's ``kvstore_type: in-memory`` uses."""

    def __init__(self, seed: Mapping[str, bytes] | None = None) -> None:
        self.data: dict[str, bytes] = dict(seed or {})

    def get(self, key: str) -> bytes:
        _check(key)
        if key not in self.data:
            raise KVError(ERR_NIL)
        return self.data[key]

    def set(self, key: str, data: bytes) -> None:
        _check(key, data)
        self.data[key] = data

    def delete(self, key: str) -> None:
        _check(key)
        self.data.pop(key, None)

    def keys(self) -> list[str] | None:
        return sorted(self.data) or None  # Go's map order is random; sorted reads better

    def close(self) -> None:
        pass


class SqliteKV:
    """A store that outlives the run: one table in an SQLite file."""

    def __init__(self, path: Path, seed: Mapping[str, bytes] | None = None) -> None:
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None)
            self.db.execute("CREATE TABLE IF NOT EXISTS kvstore "
                            "(key TEXT PRIMARY KEY, data BLOB NOT NULL)")
        except sqlite3.Error as exc:
            raise UsageError(f"kvstore: cannot open the SQLite file {path}: {exc}") from None
        for key, data in (seed or {}).items():
            self.set(key, data)

    def get(self, key: str) -> bytes:
        _check(key)
        row = self.db.execute("SELECT data FROM kvstore WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KVError(ERR_NIL)
        return bytes(row[0])

    def set(self, key: str, data: bytes) -> None:
        _check(key, data)
        try:
            self.db.execute("INSERT OR REPLACE INTO kvstore (key, data) VALUES (?, ?)",
                            (key, data))
        except sqlite3.Error as exc:
            raise KVError(f"unable to write data to SQLite - {exc}") from None

    def delete(self, key: str) -> None:
        _check(key)
        self.db.execute("DELETE FROM kvstore WHERE key = ?", (key,))

    def keys(self) -> list[str] | None:
        return [row[0] for row in self.db.execute("SELECT key FROM kvstore ORDER BY key")] or None

    def close(self) -> None:
        self.db.close()


class RedisKV:
    """hord's ``redis`` driver, through redis-py."""

    def __init__(self, dsn: str, seed: Mapping[str, bytes] | None = None) -> None:
        import redis  # only when a run asks for Redis

        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        try:
            self.client: Any = redis.Redis.from_url(dsn, socket_connect_timeout=5,
                                                    socket_timeout=10)
            self.client.ping()
        except (redis.RedisError, OSError, ValueError) as exc:
            raise UsageError(f"kvstore: cannot reach Redis at {describe_dsn(dsn)}: "
                             f"{scrub_secrets(str(exc), dsn)}") from None
        for key, data in (seed or {}).items():
            self.set(key, data)

    def get(self, key: str) -> bytes:
        _check(key)
        try:
            data = self.client.get(key)
        except self._errors as exc:
            raise KVError(f"unable to fetch data from Redis - {exc}") from None
        if data is None:
            raise KVError(ERR_NIL)
        return bytes(data)

    def set(self, key: str, data: bytes) -> None:
        _check(key, data)
        try:
            self.client.set(key, data)
        except self._errors as exc:
            raise KVError(f"unable to write data to Redis - {exc}") from None

    def delete(self, key: str) -> None:
        _check(key)
        try:
            self.client.delete(key)
        except self._errors as exc:
            raise KVError(f"unable to remove key from Redis - {exc}") from None

    def keys(self) -> list[str] | None:
        try:
            found = self.client.keys("*")
        except self._errors as exc:
            raise KVError(f"unable to fetch keys from Redis - {exc}") from None
        return sorted(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)
                      for k in found)

    def close(self) -> None:
        self.client.close()


def open_kvstore(dsn: str | None, seed: Mapping[str, bytes] | None = None) -> KVBackend:
    """The store ``dsn`` names (None: in memory); a bad DSN or an unreachable
    server is a :class:`~wapc_cli.errors.UsageError` naming it (password hidden)."""
    if dsn is None or dsn in ("", "memory", "in-memory"):
        return MemoryKV(seed)
    scheme = dsn.partition("://")[0].lower()
    if scheme == "sqlite":
        return SqliteKV(sqlite_path(dsn, "kvstore"), seed)
    if scheme in ("redis", "rediss", "unix"):
        return RedisKV(dsn, seed)
    raise UsageError(f"kvstore: unsupported store '{describe_dsn(dsn)}' "
                     "(in-memory by default; sqlite:///FILE.db or redis://HOST[:PORT][/DB])")
