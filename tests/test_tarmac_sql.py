"""tarmac:sql:query (protobuf and JSON) and sql:exec (protobuf only) on the embedded SQLite.

Tarmac's answers from pkg/callbacks/sql/sql.go: rows as one JSON object per
row (keys sorted, Go's encoding/json of []map[string]any), null for no rows.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pytest
from tarmac_probe import Probe, ask

from wapc_cli.errors import UsageError
from wapc_cli.runtime import budget
from wapc_cli.runtime.hostcalls import HostReply
from wapc_cli.tools.tarmac import messages
from wapc_cli.tools.tarmac.options import TarmacOptions
from wapc_cli.tools.tarmac.preset import TarmacPreset

CREATE = (b"CREATE TABLE IF NOT EXISTS wasmguest ( id int NOT NULL, name varchar(255), "
          b"PRIMARY KEY (id) );")


def json_query(sql: bytes) -> bytes:
    return b'{"query":"' + base64.b64encode(sql) + b'"}'


def proto_query(sql: bytes) -> bytes:
    return bytes(messages.build("tarmac.sql.SQLQuery", query=sql).SerializeToString())


def proto_exec(sql: bytes) -> bytes:
    return bytes(messages.build("tarmac.sql.SQLExec", query=sql).SerializeToString())


def rows_of_json(reply: HostReply) -> object:
    return json.loads(base64.b64decode(json.loads(reply.body)["data"]))


def test_json_query_rows_are_objects_and_no_rows_is_null() -> None:
    preset = TarmacPreset()
    created = ask(preset, "tarmac:sql:query", json_query(CREATE))
    assert created.body == b'{"status":{"code":200,"status":"OK"},"data":"bnVsbA=="}'  # "null"
    reply = ask(preset, "tarmac:sql:query",
                json_query(b"SELECT 1 AS n, 2.5 AS f, 'x' AS s, x'0102' AS b, NULL AS z"))
    assert reply.ok
    assert base64.b64decode(json.loads(reply.body)["data"]) == (
        b'[{"b":"AQI=","f":2.5,"n":1,"s":"x","z":null}]')  # keys sorted; a blob as base64


def test_proto_query_has_columns_and_raw_json() -> None:
    preset = TarmacPreset()
    reply = ask(preset, "tarmac:sql:query", proto_query(b"SELECT 2 AS b, 1 AS a"))
    parsed = messages.parse("tarmac.sql.SQLQueryResponse", reply.body)
    assert reply.ok and parsed.status.code == 200 and parsed.status.status == "OK"
    assert list(parsed.columns) == ["b", "a"] and parsed.data == b'[{"a":1,"b":2}]'


def test_query_errors() -> None:
    preset = TarmacPreset()
    failed = ask(preset, "tarmac:sql:query", json_query(b"SELECT * FROM missing"))
    text = "Unable to execute query - unable to execute query - no such table: missing"
    assert failed.error == text
    assert json.loads(failed.body) == {"status": {"code": 500, "status": text},
                                       "data": "bnVsbA=="}  # the nil rows, marshalled
    empty = ask(preset, "tarmac:sql:query", b'{"query":""}')
    assert empty.error == "SQL Query must be defined"
    junk = ask(preset, "tarmac:sql:query", b"{not json")  # the parse error is overwritten
    assert junk.error == "SQL Query must be defined"
    bad = ask(preset, "tarmac:sql:query", b'{"query":"U0VMRUNU!"}')
    assert bad.error == "Unable to decode query - illegal base64 data at input byte 8"
    proto_empty = ask(preset, "tarmac:sql:query", proto_query(b""))
    assert proto_empty.error == "SQL Query must be defined"


def test_exec_is_protobuf_only_with_rows_affected_and_last_insert_id() -> None:
    preset = TarmacPreset()
    assert ask(preset, "tarmac:sql:exec", proto_exec(CREATE)).ok
    reply = ask(preset, "tarmac:sql:exec",
                proto_exec(b"INSERT INTO wasmguest VALUES (7, 'a'), (8, 'b')"))
    parsed = messages.parse("tarmac.sql.SQLExecResponse", reply.body)
    assert reply.ok and (parsed.rows_affected, parsed.last_insert_id) == (2, 2)  # rowids
    update = ask(preset, "tarmac:sql:exec", proto_exec(b"UPDATE wasmguest SET name = 'c'"))
    assert messages.parse("tarmac.sql.SQLExecResponse", update.body).rows_affected == 2
    as_json = ask(preset, "tarmac:sql:exec", json_query(b"SELECT 1"))
    assert as_json == HostReply(b"", "unable to unmarshal database:exec request", "preset:tarmac")
    broken = ask(preset, "tarmac:sql:exec", proto_exec(b"INSERT INTO nowhere VALUES (1)"))
    assert broken.error == "Unable to execute query - no such table: nowhere"


def test_one_database_per_run_and_a_file_persists(tmp_path: Path) -> None:
    first, second = TarmacPreset(), TarmacPreset()
    ask(first, "tarmac:sql:exec", proto_exec(CREATE))
    assert ask(second, "tarmac:sql:query", proto_query(b"SELECT * FROM wasmguest")).error
    options = TarmacOptions(sql=f"sqlite:///{tmp_path / 'db.sqlite'}")
    writer = TarmacPreset(options)
    ask(writer, "tarmac:sql:exec", proto_exec(CREATE))
    ask(writer, "tarmac:sql:exec", proto_exec(b"INSERT INTO wasmguest VALUES (1, 'kept')"))
    writer.close()
    reader = TarmacPreset(options)
    rows = rows_of_json(ask(reader, "tarmac:sql:query", json_query(b"SELECT name FROM wasmguest")))
    assert rows == [{"name": "kept"}]


def test_a_statement_stops_at_the_time_budget() -> None:
    preset = TarmacPreset()
    endless = (b"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
               b"SELECT count(*) FROM c")
    deadline = budget.CURRENT.deadline
    import time

    started = time.monotonic()
    with budget.running_until(time.monotonic() + 0.3), pytest.raises(budget.OutOfTime):
        ask(preset, "tarmac:sql:query", proto_query(endless))
    assert time.monotonic() - started < 10 and budget.CURRENT.deadline == deadline
    assert ask(preset, "tarmac:sql:query", proto_query(b"SELECT 1")).ok  # still usable


def test_nan_cannot_be_marshalled() -> None:
    class NaNBackend:
        name = "nan"

        def query(self, sql: str) -> tuple[list[str], list[list[object]]]:
            return ["x"], [[math.nan]]

    preset = TarmacPreset()
    preset.sql.backend = NaNBackend()  # type: ignore[assignment]
    reply = ask(preset, "tarmac:sql:query", proto_query(b"x"))
    assert reply.error == "Unable to convert query results to JSON - json: unsupported value: NaN"


def test_through_a_guest(engine_name: str) -> None:
    probe = Probe(engine_name, TarmacPreset().answer)
    ok, body, _ = probe.frame("tarmac:sql:query", json_query(b"SELECT 1 AS n"))
    assert ok and base64.b64decode(json.loads(body)["data"]) == b'[{"n":1}]'
    ok, body, _ = probe.frame("tarmac:sql:exec", proto_exec(b"CREATE TABLE t (x int)"))
    assert ok and messages.parse("tarmac.sql.SQLExecResponse", body).status.code == 200


@pytest.mark.parametrize("dsn, expected", [
    ("oracle://u:pw@h/db", "sql: unsupported database 'oracle://u:***@h/db'"),
    ("postgres://u:pw@127.0.0.1:1/db", "sql: cannot connect to PostgreSQL at "
                                        "postgres://u:***@127.0.0.1:1/db"),
    ("mysql://u:pw@127.0.0.1:1/db", "sql: cannot connect to MySQL at mysql://u:***@127.0.0.1:1/db"),
    ("sqlite:///no/such/dir/x.db", "sql: the directory of 'no/such/dir/x.db' does not exist"),
])
def test_bad_dsn_or_unreachable_server_is_one_usage_error(dsn: str, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        TarmacPreset(TarmacOptions(sql=dsn))
    message = str(caught.value)
    assert message.startswith(expected) and "pw" not in message and "\n" not in message
