"""Database URLs (DSNs) for the Tarmac backends: shown without their password, SQLite paths.

``sqlite:///FILE`` follows the usual URL rule (SQLAlchemy's too): what comes
after the third slash is the path, so ``sqlite:///data.db`` is relative to the
working directory and ``sqlite:////tmp/data.db`` is absolute.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from ...errors import UsageError

MEMORY = ":memory:"


# libpq (and redis-py) also take a password as a query parameter: ?password=...
_SECRET_PARAMS = frozenset({"password", "pass", "passwd", "sslpassword"})
_MIN_FRAGMENT = 3  # shorter pieces of a password are not scrubbed from driver texts


def describe_dsn(dsn: str) -> str:
    """``dsn`` safe to show: any password (in the user part or the query) replaced by ``***``."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparsable URL>"
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        # the text after the last '@' as written (a port out of range is shown, not checked)
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    if query:
        query = "&".join(
            f"{name}=***" if name.lower() in _SECRET_PARAMS else piece
            for piece in query.split("&")
            for name in (piece.partition("=")[0],))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub_secrets(text: str, dsn: str) -> str:
    """A driver's message about ``dsn`` with the DSN's password taken out.

    Drivers quote the URL, or a host they split out of it differently than
    ``urlsplit`` does (``u:p@ss@host``: libpq's host is ``ss@host``), so every
    piece of the password is replaced, not only the whole of it.
    """
    authority = dsn.partition("://")[2]
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    secrets = [authority.rpartition("@")[0].partition(":")[2]]
    with contextlib.suppress(ValueError):  # an unparsable URL: its user part still counts
        secrets += [value for name, value in parse_qsl(urlsplit(dsn).query)
                    if name.lower() in _SECRET_PARAMS]
    if dsn in text:
        text = text.replace(dsn, describe_dsn(dsn))
    pieces: set[str] = set()
    for secret in secrets:
        for form in (secret, unquote(secret)):
            pieces.add(form)
            pieces.update(re.split(r"[@:]", form))
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= _MIN_FRAGMENT or (piece and piece in secrets):
            text = text.replace(piece, "***")
    return text


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
