"""The Tarmac backends against real servers: PostgreSQL (psycopg), Redis (redis-py), MariaDB.

The servers come from tests/tarmac_servers.py: an existing one named by an
environment variable, else a throwaway one started here; under CI a server
that cannot start fails these tests.
"""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
from tarmac_probe import Probe, ask
from tarmac_servers import mysql_dsn, postgres_dsn, redis_url  # noqa: F401 (fixtures)

from wapc_cli.runtime import budget
from wapc_cli.tools.tarmac import messages
from wapc_cli.tools.tarmac.options import TarmacOptions
from wapc_cli.tools.tarmac.preset import TarmacPreset


def json_query(sql: bytes) -> bytes:
    return b'{"query":"' + base64.b64encode(sql) + b'"}'


def proto(name: str, sql: bytes) -> bytes:
    return bytes(messages.build(name, query=sql).SerializeToString())


# -- PostgreSQL -------------------------------------------------------------------------
def test_postgres_query_rows_as_lib_pq_gives_them(postgres_dsn: str) -> None:  # noqa: F811
    preset = TarmacPreset(TarmacOptions(sql=postgres_dsn))
    try:
        reply = ask(preset, "tarmac:sql:query", json_query(
            b"SELECT 1 AS n, 2.5::float8 AS f, 'x'::text AS s, true AS t, NULL AS z, "
            b"1.50::numeric AS d, '\\x0102'::bytea AS b, DATE '2024-01-02' AS day"))
        assert reply.ok, reply.error
        rows = json.loads(base64.b64decode(json.loads(reply.body)["data"]))
        # numeric and bytea stay raw text bytes in lib/pq: encoding/json writes them as base64
        assert rows == [{"b": base64.b64encode(b"\\x0102").decode(), "d": "MS41MA==",
                         "day": "2024-01-02T00:00:00Z", "f": 2.5, "n": 1, "s": "x", "t": True,
                         "z": None}]
    finally:
        preset.close()


def test_postgres_exec_rows_affected_and_206_for_last_insert_id(
        postgres_dsn: str) -> None:  # noqa: F811
    preset = TarmacPreset(TarmacOptions(sql=postgres_dsn))
    try:
        ask(preset, "tarmac:sql:exec", proto("tarmac.sql.SQLExec", b"DROP TABLE IF EXISTS t3"))
        ask(preset, "tarmac:sql:exec", proto("tarmac.sql.SQLExec", b"CREATE TABLE t3 (x int)"))
        reply = ask(preset, "tarmac:sql:exec",
                    proto("tarmac.sql.SQLExec", b"INSERT INTO t3 VALUES (1), (2), (3)"))
        parsed = messages.parse("tarmac.sql.SQLExecResponse", reply.body)
        assert parsed.rows_affected == 3 and parsed.status.code == 206
        assert reply.error == ("Unable to get last insert ID - LastInsertId is not supported "
                               "by this driver")
        query = ask(preset, "tarmac:sql:query", proto("tarmac.sql.SQLQuery",
                                                     b"SELECT x FROM t3 ORDER BY x"))
        parsed_query = messages.parse("tarmac.sql.SQLQueryResponse", query.body)
        assert parsed_query.data == b'[{"x":1},{"x":2},{"x":3}]'
        missing = ask(preset, "tarmac:sql:query", json_query(b"SELECT * FROM nowhere"))
        assert missing.error == ('Unable to execute query - unable to execute query - '
                                 'pq: relation "nowhere" does not exist')
    finally:
        preset.close()


def test_postgres_statement_timeout_is_the_time_budget(postgres_dsn: str) -> None:  # noqa: F811
    preset = TarmacPreset(TarmacOptions(sql=postgres_dsn))
    try:
        started = time.monotonic()
        with budget.running_until(time.monotonic() + 0.5), pytest.raises(budget.OutOfTime):
            ask(preset, "tarmac:sql:query", json_query(b"SELECT pg_sleep(30)"))
        assert time.monotonic() - started < 10
        assert ask(preset, "tarmac:sql:query", json_query(b"SELECT 1 AS n")).ok
    finally:
        preset.close()


def test_postgres_through_a_guest(engine_name: str, postgres_dsn: str) -> None:  # noqa: F811
    preset = TarmacPreset(TarmacOptions(sql=postgres_dsn))
    try:
        ok, body, _ = Probe(engine_name, preset.answer).frame(
            "tarmac:sql:query", json_query(b"SELECT 41 + 1 AS answer"))
        assert ok and base64.b64decode(json.loads(body)["data"]) == b'[{"answer":42}]'
    finally:
        preset.close()


# -- Redis ------------------------------------------------------------------------------
def test_redis_store_both_forms_and_persistence(redis_url: str) -> None:  # noqa: F811
    options = TarmacOptions(kvstore=redis_url)
    first = TarmacPreset(options)
    try:
        if not os.environ.get("WAPC_TEST_REDIS"):  # our own throwaway server: empty
            assert ask(first, "tarmac:kvstore:keys").body == (
                b'{"keys":[],"status":{"code":200,"status":"OK"}}')  # redigo: an empty slice
        assert ask(first, "tarmac:kvstore:set", b'{"key":"k","data":"aGk="}').ok
        got = ask(first, "tarmac:kvstore:get", bytes(messages.build(
            "tarmac.kvstore.KVStoreGet", key="k").SerializeToString()))
        assert messages.parse("tarmac.kvstore.KVStoreGetResponse", got.body).data == b"hi"
        assert ask(first, "tarmac:kvstore:delete", b'{"key":"missing"}').ok
    finally:
        first.close()
    second = TarmacPreset(options)
    try:
        assert json.loads(ask(second, "tarmac:kvstore:get", b'{"key":"k"}').body)["data"] == "aGk="
    finally:
        second.close()


# -- MariaDB ----------------------------------------------------------------------------
def test_mysql_rows_as_go_sql_driver_gives_them(mysql_dsn: str) -> None:  # noqa: F811
    preset = TarmacPreset(TarmacOptions(sql=mysql_dsn))
    try:
        ask(preset, "tarmac:sql:exec", proto("tarmac.sql.SQLExec", b"DROP TABLE IF EXISTS t4"))
        ask(preset, "tarmac:sql:exec", proto("tarmac.sql.SQLExec",
                                             b"CREATE TABLE t4 (id int AUTO_INCREMENT PRIMARY KEY,"
                                             b" name varchar(20))"))
        reply = ask(preset, "tarmac:sql:exec",
                    proto("tarmac.sql.SQLExec", b"INSERT INTO t4 (name) VALUES ('a'), ('b')"))
        parsed = messages.parse("tarmac.sql.SQLExecResponse", reply.body)
        assert reply.ok and parsed.rows_affected == 2 and parsed.last_insert_id == 1
        rows = ask(preset, "tarmac:sql:query", json_query(b"SELECT id, name, 2.5e0 AS f FROM t4"))
        assert json.loads(base64.b64decode(json.loads(rows.body)["data"])) == [
            {"f": 2.5, "id": 1, "name": "YQ=="}, {"f": 2.5, "id": 2, "name": "Yg=="}]
    finally:
        preset.close()


def test_postgres_several_statements_in_one_query(postgres_dsn: str) -> None:  # noqa: F811
    preset = TarmacPreset(TarmacOptions(sql=postgres_dsn))
    try:
        reply = ask(preset, "tarmac:sql:query", json_query(
            b"CREATE TEMP TABLE m (x int); INSERT INTO m VALUES (5); SELECT x FROM m"))
        assert reply.ok, reply.error
        assert json.loads(base64.b64decode(json.loads(reply.body)["data"])) == [{"x": 5}]
    finally:
        preset.close()
