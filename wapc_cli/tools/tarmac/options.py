"""What one run's Tarmac host is made of: its backends, grants and functions.

Plain data, built by the CLI from flags (``--sql``, ``--kvstore``,
``--allow-http``, ``--function``, ``--tarmac-config``) or by the stub-table
loader from a ``tarmac:`` block; the preset (:mod:`.preset`) turns it into
live capabilities. Every field's default is what Tarmac does with no config:
in-memory stores, no HTTP, no other functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class TarmacOptions:
    #: The SQL capability's database: None = a fresh in-memory SQLite database;
    #: ``sqlite:///path.db``, ``postgres://...``/``postgresql://...``, ``mysql://...``.
    sql: str | None = None
    #: The kvstore's backend: None = in memory; ``sqlite:///path.db``, ``redis://...``.
    kvstore: str | None = None
    #: Hosts ``httpclient:call`` may reach: ``HOST`` or ``HOST:PORT``; ``*`` for any.
    allow_http: tuple[str, ...] = ()
    #: ``function:NAME`` targets: NAME -> module file (from ``--function`` / tarmac.json).
    functions: dict[str, Path] = field(default_factory=dict)
    #: The Tarmac config file these functions came from, if any (for messages).
    config: Path | None = None
