"""Database URLs (DSNs) for the Tarmac backends: shown without their password, SQLite paths.

``sqlite:///FILE`` follows the usual URL rule (SQLAlchemy's too): what comes
after the third slash is the path, so ``sqlite:///data.db`` is relative to the
working directory and ``sqlite:////tmp/data.db`` is absolute.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ...errors import UsageError

MEMORY = ":memory:"


def describe_dsn(dsn: str) -> str:
    """``dsn`` safe to show: any password replaced by ``***``."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query,
                       parts.fragment))


def sqlite_path(dsn: str, what: str) -> Path:
    """The file of a ``sqlite:///FILE`` DSN (``:memory:`` allowed); else a UsageError."""
    scheme, sep, rest = dsn.partition("://")
    if scheme.lower() != "sqlite" or not sep or not rest.startswith("/") or rest == "/":
        raise UsageError(f"{what}: '{describe_dsn(dsn)}' is not a sqlite:///FILE URL "
                         "(three slashes, then the file's path)")
    path = rest[1:]
    if path == MEMORY:
        return Path(MEMORY)
    file = Path(path)
    if file.parent != Path("") and not file.parent.is_dir():
        raise UsageError(f"{what}: the directory of '{path}' does not exist")
    return file
