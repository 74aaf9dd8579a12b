"""Review cases for the Tarmac preset: secrets in DSNs never reach the terminal."""

from __future__ import annotations

import pytest
from stub_guests import REPO
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.tools.tarmac.dsn import describe_dsn, scrub_secrets

GUEST = REPO / "sample_guests" / "build" / "tarmac_handler.wasm"


@pytest.mark.parametrize("flag, dsn", [
    # libpq takes the password as a query parameter too
    ("--sql", "postgres://me@127.0.0.1:1/db?sslmode=disable&password=hunter2"),
    # libpq splits user:pass@host at the first '@', urlsplit at the last: the
    # driver's "cannot resolve host 'er2@127.0.0.1'" held a piece of the password
    ("--sql", "postgres://me:hun@ter2@127.0.0.1:1/db"),
    # psycopg quotes an unparsable URI whole
    ("--sql", "postgres://me:hunter2@[::1"),
    ("--kvstore", "redis://:hunter2@[::1"),
])
def test_no_piece_of_a_password_is_shown(flag: str, dsn: str) -> None:
    result = CliRunner().invoke(app, ["call", str(GUEST), "http:GET", flag, dsn])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    for piece in ("hunter2", "hun", "ter2"):
        assert piece not in result.stderr
    assert "Traceback" not in result.stderr


def test_describe_and_scrub() -> None:
    assert describe_dsn("postgres://u@h/db?password=pw&sslmode=require") == \
        "postgres://u@h/db?password=***&sslmode=require"
    assert describe_dsn("postgres://u@h/db") == "postgres://u@h/db"
    assert scrub_secrets("host 'cret@h' refused", "postgres://u:se@cret@h/db") == \
        "host '***@h' refused"
    assert scrub_secrets("bad URI: \"mysql://u:pw@[x\"", "mysql://u:pw@[x") == \
        "bad URI: \"<unparsable URL>\""


def _ask_sql(preset: object, sql: bytes) -> object:
    from wapc_cli.runtime.hostcalls import HostCallRequest
    from wapc_cli.tools.tarmac import messages

    payload = bytes(messages.build("tarmac.sql.SQLQuery", query=sql).SerializeToString())
    return preset.answer(HostCallRequest("tarmac", "sql", "query", payload))  # type: ignore[attr-defined]


def test_a_huge_result_set_fails_the_query_instead_of_filling_memory() -> None:
    from wapc_cli.tools.tarmac import messages, sql_backends
    from wapc_cli.tools.tarmac.preset import TarmacPreset

    preset = TarmacPreset()
    rows = (b"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) "
            b"SELECT x, printf('%.500c', 'a') AS s FROM c")  # ~100 MB of cells, more than the cap
    reply = _ask_sql(preset, rows)
    assert not reply.ok  # type: ignore[attr-defined]
    status = messages.message_class("tarmac.sql.SQLQueryResponse").FromString(
        reply.body).status  # type: ignore[attr-defined]
    assert status.code == 500
    assert f"larger than {sql_backends.MAX_RESULT_BYTES >> 20} MiB" in status.status
    assert _ask_sql(preset, b"SELECT 1").ok  # type: ignore[attr-defined]


def test_time_running_out_while_rows_are_read_is_the_timeout() -> None:
    import time

    from wapc_cli.runtime import budget
    from wapc_cli.tools.tarmac.preset import TarmacPreset

    # the first row comes at once; the next only after a very long scan, during the fetch
    slow = (b"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
            b"SELECT x FROM c WHERE x % 500000000 = 1")
    started = time.monotonic()
    with budget.running_until(time.monotonic() + 0.5), pytest.raises(budget.OutOfTime):
        _ask_sql(TarmacPreset(), slow)
    assert time.monotonic() - started < 20


def test_a_json_text_that_is_also_protobuf_goes_the_protobuf_way() -> None:
    """As in Tarmac (UnmarshalVT succeeds first): docs/tarmac.md's example."""
    import json

    from wapc_cli.runtime.hostcalls import HostCallRequest
    from wapc_cli.tools.tarmac import messages
    from wapc_cli.tools.tarmac.preset import TarmacPreset

    payload = b'\n\n{"key":"a"}    '
    assert json.loads(payload) == {"key": "a"}
    reply = TarmacPreset().answer(HostCallRequest("tarmac", "kvstore", "get", payload))
    assert reply is not None and not reply.ok
    answer = messages.message_class("tarmac.kvstore.KVStoreGetResponse").FromString(reply.body)
    assert answer.status.code == 404
    assert answer.status.status == "Unable to fetch key nil value returned from database"


def _kv(preset: object, operation: str, payload: bytes) -> object:
    from wapc_cli.runtime.hostcalls import HostCallRequest

    return preset.answer(  # type: ignore[attr-defined]
        HostCallRequest("tarmac", "kvstore", operation, payload))


def test_a_key_that_is_not_utf8_is_still_protobuf_as_in_tarmac() -> None:
    """Tarmac's UnmarshalVT takes any bytes as a string; the answer is protobuf, not JSON."""
    from wapc_cli.tools.tarmac import messages
    from wapc_cli.tools.tarmac.preset import TarmacPreset

    preset = TarmacPreset()
    stored = _kv(preset, "set", b"\n\x02\xff\xfe\x12\x02hi")
    assert stored.ok  # type: ignore[attr-defined]
    got = _kv(preset, "get", b"\n\x02\xff\xfe")
    answer = messages.message_class("tarmac.kvstore.KVStoreGetResponse").FromString(
        got.body)  # type: ignore[attr-defined]
    assert answer.status.code == 200 and answer.data == b"hi"


def test_wire_rules_of_tarmacs_decoder() -> None:
    from wapc_cli.tools.tarmac import messages
    from wapc_cli.tools.tarmac.preset import TarmacPreset

    preset = TarmacPreset()
    # field 1 (key) sent with the 32-bit wire type: UnmarshalVT fails, so it is JSON (bad JSON)
    wrong_type = _kv(preset, "get", b"\r\x00\x00\x00\x00")
    assert wrong_type.body == (  # type: ignore[attr-defined]
        b'{"status":{"code":400,"status":"Error Parsing Input"},"data":""}')
    # a data field inside an unknown group is not the message's: Data is nil
    grouped = _kv(preset, "set", b"\n\x01k{\x12\x00|")
    answer = messages.message_class("tarmac.kvstore.KVStoreSetResponse").FromString(
        grouped.body)  # type: ignore[attr-defined]
    assert (answer.status.code, answer.status.status) == (400, "Data cannot be nil")
