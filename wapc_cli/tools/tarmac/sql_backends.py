"""The SQL capability's databases: SQLite (default, in memory), PostgreSQL, MySQL/MariaDB.

Each backend runs one statement at a time within the exchange's time budget
(:func:`~wapc_cli.runtime.budget.remaining`) and gives rows as Tarmac's Go
drivers give them to ``encoding/json``:

- PostgreSQL as ``lib/pq`` decodes text results: integers, floats, booleans,
  ``text``/``varchar``/``char`` as strings, times as ``time.Time``; every other
  type (``numeric``, ``uuid``, ``json``, ``bytea``, ``bpchar``, ...) as the raw
  bytes, which ``encoding/json`` writes as base64.
- MySQL as ``go-sql-driver/mysql`` (1.8 on) decodes the text protocol:
  integers and floats as numbers, everything else as bytes (base64).
- SQLite is not one of Tarmac's databases: integers and reals are numbers,
  text is a string, a blob is bytes (base64), as a Go SQLite driver gives them.
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Protocol

from ...errors import UsageError
from ...runtime import budget
from .dsn import MEMORY, describe_dsn, scrub_secrets, sqlite_path

#: How often (in SQLite VM instructions) a running statement looks at the time budget.
_PROGRESS_STEPS = 10_000
_CONNECT_TIMEOUT_S = 5
#: The most row data one query hands back (its cells' sizes summed); more fails the query.
#: Tarmac has no bound; here a guest's ``WITH RECURSIVE`` must not fill the host's memory.
MAX_RESULT_BYTES = 64 * 1024 * 1024
_FETCH_BATCH = 1000
_CELL_OVERHEAD = 8  # a number, a NULL, or the separators around a value


class SQLError(Exception):
    """A statement failed; the text is the driver's error, as Tarmac would quote it."""


@dataclass
class ExecResult:
    rows_affected: int | None  # None: the driver cannot tell (Tarmac: 206)
    last_insert_id: int | None
    rows_error: str = ""
    id_error: str = ""


class SQLBackend(Protocol):
    name: str

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]: ...
    def exec(self, sql: str) -> ExecResult: ...
    def close(self) -> None: ...


def _fetch_bounded(cursor: Any) -> list[list[Any]]:
    """All of ``cursor``'s rows, in batches, failing once they pass :data:`MAX_RESULT_BYTES`."""
    rows: list[list[Any]] = []
    size = 0
    while batch := cursor.fetchmany(_FETCH_BATCH):
        for row in batch:
            size += sum(len(cell) if isinstance(cell, (str, bytes, bytearray, memoryview))
                        else _CELL_OVERHEAD for cell in row) + _CELL_OVERHEAD
            rows.append(list(row))
        if size > MAX_RESULT_BYTES:
            raise SQLError(f"the rows are larger than {MAX_RESULT_BYTES >> 20} MiB "
                           "(the most one query reads)")
    return rows


def _budget_seconds() -> float | None:
    left = budget.remaining()
    return None if left == math.inf else left


class SqliteSQL:
    name = "sqlite"

    def __init__(self, target: str) -> None:
        try:
            self.db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise UsageError(f"sql: cannot open the SQLite database {target}: {exc}") from None
        self._deadline = math.inf
        self.db.set_progress_handler(self._over_time, _PROGRESS_STEPS)

    def _over_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0  # non-zero interrupts

    def _run(self, sql: str) -> sqlite3.Cursor:
        left = _budget_seconds()
        self._deadline = math.inf if left is None else time.monotonic() + left
        try:
            return self.db.execute(sql)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc) and time.monotonic() > self._deadline:
                raise budget.OutOfTime("an SQL statement") from None
            raise SQLError(str(exc)) from None
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise SQLError(str(exc)) from None

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        cursor = self._run(sql)
        columns = [d[0] for d in cursor.description or ()]
        try:
            rows = _fetch_bounded(cursor)
        except sqlite3.Error as exc:  # the statement steps on while its rows are read
            if "interrupted" in str(exc) and time.monotonic() > self._deadline:
                raise budget.OutOfTime("an SQL statement") from None
            raise SQLError(str(exc)) from None
        finally:
            self._deadline = math.inf
        return columns, rows

    def exec(self, sql: str) -> ExecResult:
        before = self.db.total_changes
        self._run(sql).fetchall()
        self._deadline = math.inf
        changed = self.db.total_changes - before
        last = self.db.execute("SELECT last_insert_rowid()").fetchone()[0]
        return ExecResult(rows_affected=changed, last_insert_id=int(last))

    def close(self) -> None:
        self.db.close()


# lib/pq (decode in encode.go): the types it turns into Go values; the rest stay []byte.
_PG_INTEGERS = {20, 21, 23, 26}  # int8, int2, int4, oid
_PG_FLOATS = {700, 701}
_PG_STRINGS = {18, 25, 1043}  # "char", text, varchar
_PG_TIMES = {1082, 1083, 1114, 1184, 1266}  # date, time, timestamp, timestamptz, timetz
_PG_BOOL = 16
_PG_TYPED = _PG_INTEGERS | _PG_FLOATS | _PG_STRINGS | _PG_TIMES | {_PG_BOOL}


class PostgresSQL:
    name = "postgres"

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._psycopg = psycopg
        try:
            # ClientCursor: the simple query protocol, as lib/pq uses for a query without
            # arguments (so one call may hold several statements, as in Tarmac).
            self.conn: Any = psycopg.connect(dsn, autocommit=True,
                                             connect_timeout=_CONNECT_TIMEOUT_S,
                                             cursor_factory=psycopg.ClientCursor)
        except (psycopg.Error, ValueError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"sql: cannot connect to PostgreSQL at {describe_dsn(dsn)}: "
                             f"{scrub_secrets(detail, dsn)}") from None

    def _cursor(self) -> Any:
        try:
            return self.conn.cursor()
        except self._psycopg.Error as exc:  # the connection is gone
            raise SQLError(f"pq: {str(exc).strip()}") from None

    def _execute(self, cursor: Any, sql: str) -> None:
        psycopg = self._psycopg
        left = _budget_seconds()
        millis = 0 if left is None else max(1, int(left * 1000))  # 0: no limit
        try:
            cursor.execute(f"SET statement_timeout = {millis}")
            cursor.execute(sql.encode("utf-8"), prepare=False)
        except psycopg.errors.QueryCanceled:
            if _budget_seconds() is not None:
                raise budget.OutOfTime("an SQL statement") from None
            raise SQLError("pq: canceling statement due to statement timeout") from None
        except psycopg.Error as exc:
            primary = getattr(getattr(exc, "diag", None), "message_primary", None)
            raise SQLError(f"pq: {primary or str(exc).strip()}") from None

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        cursor = self._cursor()
        self._execute(cursor, sql)
        # Several statements: lib/pq's rows are those of the first that returns rows.
        while cursor.description is None and cursor.nextset():
            pass
        description = cursor.description
        if not description:
            return [], []
        result = cursor.pgresult  # the raw text of each cell, for the types lib/pq keeps raw
        typed = _fetch_bounded(cursor)
        keep = [column.type_code in _PG_TYPED for column in description]
        rows = []
        for index, row in enumerate(typed):
            rows.append([value if keep[col] or value is None
                         else bytes(result.get_value(index, col) or b"")
                         for col, value in enumerate(row)])
        return [column.name for column in description], rows

    def exec(self, sql: str) -> ExecResult:
        cursor = self._cursor()
        self._execute(cursor, sql)
        rows = cursor.rowcount
        # lib/pq's result: RowsAffected from the command tag; no LastInsertId ever.
        return ExecResult(rows_affected=max(rows, 0), last_insert_id=None,
                          id_error="LastInsertId is not supported by this driver")

    def close(self) -> None:
        self.conn.close()


class MySQL:
    name = "mysql"

    def __init__(self, dsn: str) -> None:
        from urllib.parse import unquote, urlsplit

        import pymysql
        from pymysql.constants import FIELD_TYPE

        self._pymysql = pymysql
        parts = urlsplit(dsn)
        numbers = {FIELD_TYPE.TINY: int, FIELD_TYPE.SHORT: int, FIELD_TYPE.LONG: int,
                   FIELD_TYPE.LONGLONG: int, FIELD_TYPE.INT24: int, FIELD_TYPE.YEAR: int,
                   FIELD_TYPE.FLOAT: float, FIELD_TYPE.DOUBLE: float}
        try:
            self.conn: Any = pymysql.connect(
                host=parts.hostname or "localhost", port=parts.port or 3306,
                user=unquote(parts.username or ""), password=unquote(parts.password or ""),
                database=parts.path.lstrip("/") or None, autocommit=True,
                connect_timeout=_CONNECT_TIMEOUT_S, conv=numbers, binary_prefix=False,
                charset="utf8mb4")
        except (pymysql.Error, ValueError, OSError) as exc:
            raise UsageError(f"sql: cannot connect to MySQL at {describe_dsn(dsn)}: "
                             f"{scrub_secrets(str(exc), dsn)}") from None

    def _execute(self, sql: str) -> Any:
        pymysql = self._pymysql
        cursor = self.conn.cursor()
        left = _budget_seconds()
        try:
            if left is not None:  # MariaDB and MySQL spell the per-statement limit differently
                self._limit(cursor, left)
            cursor.execute(sql)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in (1969, 3024) and left is not None:
                raise budget.OutOfTime("an SQL statement") from None
            raise SQLError(_mysql_text(exc)) from None
        except pymysql.Error as exc:
            raise SQLError(_mysql_text(exc)) from None
        return cursor

    def _limit(self, cursor: Any, seconds: float) -> None:
        try:
            cursor.execute(f"SET SESSION max_statement_time = {max(seconds, 0.001):.3f}")
        except self._pymysql.Error:
            cursor.execute(f"SET SESSION max_execution_time = {max(1, int(seconds * 1000))}")

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        cursor = self._execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        rows = []
        for row in _fetch_bounded(cursor) if cursor.description else ():
            rows.append([v.encode("utf-8") if isinstance(v, str) else v for v in row])
        return columns, rows

    def exec(self, sql: str) -> ExecResult:
        cursor = self._execute(sql)
        return ExecResult(rows_affected=max(cursor.rowcount, 0),
                          last_insert_id=int(cursor.lastrowid or 0))

    def close(self) -> None:
        self.conn.close()


def _mysql_text(exc: Exception) -> str:
    """go-sql-driver/mysql's ``Error NNNN: message`` form."""
    if len(exc.args) >= 2 and isinstance(exc.args[0], int):
        return f"Error {exc.args[0]}: {exc.args[1]}"
    return str(exc)


def open_sql(dsn: str | None) -> SQLBackend:
    """The database ``dsn`` names (None: a fresh in-memory SQLite database)."""
    if dsn is None or dsn == "":
        return SqliteSQL(MEMORY)
    scheme = dsn.partition("://")[0].lower()
    if scheme == "sqlite":
        return SqliteSQL(str(sqlite_path(dsn, "sql")))
    if scheme in ("postgres", "postgresql"):
        return PostgresSQL(dsn)
    if scheme in ("mysql", "mariadb"):
        return MySQL(dsn)
    raise UsageError(f"sql: unsupported database '{describe_dsn(dsn)}' (in-memory SQLite by "
                     "default; sqlite:///FILE.db, postgres://..., mysql://...)")
