"""``tarmac:sql:query`` (protobuf or JSON) and ``sql:exec`` (protobuf only), as Tarmac answers.

Source: ``pkg/callbacks/sql/sql.go`` in tarmac-project/tarmac. ``query``
parses ``SQLQuery`` first and falls back to JSON (``{"query": base64}``); the
rows are ``[]map[string]any`` marshalled by ``encoding/json``: one object per
row, keys sorted, ``null`` when there are none (also after a failed query,
whose reply still carries that ``null``). The JSON reply base64-encodes that
document in ``data``; the protobuf reply has it as bytes plus the column
names. ``exec`` is protobuf only: anything else is a bare failure.
"""

from __future__ import annotations

import base64
from typing import Any

from ...runtime.hostcalls import HostReply
from . import messages
from .sql_backends import SQLBackend, SQLError
from .wire import (
    GoBase64Error,
    GoJSONError,
    failed,
    go_b64decode,
    go_json,
    go_unmarshal,
    status_first_reply,
    status_reply,
)

NO_QUERY = "SQL Query must be defined"
OPERATIONS = ("query", "exec")


class SQL:
    def __init__(self, backend: SQLBackend) -> None:
        self.backend = backend

    def answer(self, operation: str, payload: bytes) -> HostReply:
        if operation == "query":
            return self.query(payload)
        if operation == "exec":
            return self.exec(payload)
        return failed("callback not found")

    def _rows(self, query: bytes) -> tuple[list[str] | None, bytes | None, int, str]:
        """(columns, rows JSON, code, status) the way ``db.query`` + ``ffjson.Marshal`` go."""
        code, text, columns = 200, "OK", None
        results: list[dict[str, Any]] | None = None
        try:
            names, rows = self.backend.query(query.decode("utf-8", "replace"))
        except SQLError as exc:
            code, text = 500, f"Unable to execute query - unable to execute query - {exc}"
        else:
            columns = names
            results = [dict(zip(names, row, strict=False)) for row in rows] or None
        try:
            document = go_json(results, sort_keys=True).encode("utf-8")
        except ValueError as exc:  # NaN or Inf: Go's Marshal refuses them
            return columns, None, 500, f"Unable to convert query results to JSON - {exc}"
        return columns, document, code, text

    def query(self, payload: bytes) -> HostReply:
        msg = messages.parse("tarmac.sql.SQLQuery", payload)
        if msg is None:
            return self._query_json(payload)
        code, text = 200, "OK"
        fields: dict[str, Any] = {}
        if not msg.query:
            code, text = 400, NO_QUERY
        else:
            columns, document, code, text = self._rows(msg.query)
            fields = {"data": document or b"", "columns": columns or []}
        return status_reply("tarmac.sql.SQLQueryResponse", code, text, **fields)

    def _query_json(self, payload: bytes) -> HostReply:
        code, text, data = 200, "OK", ""
        try:
            encoded = go_unmarshal(payload, {"query": ""})["query"]
        except GoJSONError:
            code, text, encoded = 400, "Error Parsing Input", ""
        try:
            query = go_b64decode(encoded)
        except GoBase64Error as exc:
            code, text, query = 400, f"Unable to decode query - {exc}", exc.partial
        if not query:
            code, text = 400, NO_QUERY
        if code == 200:
            _, document, code, text = self._rows(query)
            data = base64.b64encode(document or b"").decode("ascii")
        return status_first_reply(code, text, data)

    def exec(self, payload: bytes) -> HostReply:
        msg = messages.parse("tarmac.sql.SQLExec", payload)
        if msg is None:
            return failed("unable to unmarshal database:exec request")
        code, text = 200, "OK"
        rows_affected = last_insert_id = 0
        if not msg.query:
            code, text = 400, NO_QUERY
        else:
            try:
                result = self.backend.exec(msg.query.decode("utf-8", "replace"))
            except SQLError as exc:
                code, text = 500, f"Unable to execute query - {exc}"
            else:
                if result.rows_affected is None:
                    code, text = 206, f"Unable to get rows affected - {result.rows_error}"
                else:
                    rows_affected = result.rows_affected
                if result.last_insert_id is None:
                    code, text = 206, f"Unable to get last insert ID - {result.id_error}"
                else:
                    last_insert_id = result.last_insert_id
        return status_reply("tarmac.sql.SQLExecResponse", code, text,
                            last_insert_id=last_insert_id, rows_affected=rows_affected)
