"""``tarmac:kvstore:*``: get, set, delete, keys, in both wire forms, as Tarmac answers them.

Source: ``pkg/callbacks/kvstore/kvstore.go`` in tarmac-project/tarmac. Each
operation first parses the payload as its protobuf message
(``proto/kvstore.proto``) and answers in protobuf; when that fails it reads
JSON and answers JSON (the ``*JSON`` functions there). ``keys`` is the
exception: an empty payload gets JSON, anything else protobuf, and the payload
is never parsed. A code other than 200 is a failed host call that still
carries the reply body.
"""

from __future__ import annotations

import base64

from ...runtime.hostcalls import HostReply
from . import messages
from .kv_backends import KVBackend, KVError
from .wire import (
    GoBase64Error,
    GoJSONError,
    failed,
    go_b64decode,
    go_unmarshal,
    json_reply,
    status_json,
    status_reply,
)

PARSE_ERROR = "Error Parsing Input"  # every *JSON function's status for bad JSON
ERR_NIL_KEY = "key cannot be nil"  # kvstore.ErrNilKey (the protobuf paths' check)
OPERATIONS = ("get", "set", "delete", "keys")


class KVStore:
    def __init__(self, backend: KVBackend) -> None:
        self.backend = backend

    def answer(self, operation: str, payload: bytes) -> HostReply:
        if operation == "get":
            return self.get(payload)
        if operation == "set":
            return self.set(payload)
        if operation == "delete":
            return self.delete(payload)
        if operation == "keys":
            return self.keys(payload)
        return failed("callback not found")

    # -- get ---------------------------------------------------------------------------
    def get(self, payload: bytes) -> HostReply:
        msg = messages.parse("tarmac.kvstore.KVStoreGet", payload)
        if msg is None:
            return self._get_json(payload)
        code, text, data = 200, "OK", b""
        if not msg.key:
            code, text = 400, ERR_NIL_KEY
        else:
            try:
                data = self.backend.get(msg.key)
            except KVError as exc:
                code, text = 404, f"Unable to fetch key {exc}"
        return status_reply("tarmac.kvstore.KVStoreGetResponse", code, text, data=data)

    def _get_json(self, payload: bytes) -> HostReply:
        code, text, data = 200, "OK", ""
        try:
            key = go_unmarshal(payload, {"key": ""})["key"]
        except GoJSONError:
            code, text = 400, PARSE_ERROR
        if code == 200:
            try:
                data = base64.b64encode(self.backend.get(key)).decode("ascii")
            except KVError as exc:
                code, text = 404, f"Unable to fetch key {key} - {exc}"
        return json_reply(code, text, {"status": status_json(code, text), "data": data})

    # -- set ---------------------------------------------------------------------------
    def set(self, payload: bytes) -> HostReply:
        msg = messages.parse("tarmac.kvstore.KVStoreSet", payload)
        if msg is None:
            return self._set_json(payload)
        code, text = 200, "OK"
        if not msg.key:
            code, text = 400, ERR_NIL_KEY
        # Go's msg.Data is nil only when the field is absent; an empty one goes to hord.
        if not messages.has_field(payload, 2):
            code, text = 400, "Data cannot be nil"
        if code == 200:
            try:
                self.backend.set(msg.key, msg.data)
            except KVError as exc:
                code, text = 500, f"Unable to store data - {exc}"
        return status_reply("tarmac.kvstore.KVStoreSetResponse", code, text)

    def _set_json(self, payload: bytes) -> HostReply:
        code, text = 200, "OK"
        try:
            request = go_unmarshal(payload, {"key": "", "data": ""})
        except GoJSONError:
            code, text = 400, PARSE_ERROR
            request = {"key": "", "data": ""}
        data = b""
        try:
            data = go_b64decode(request["data"])
        except GoBase64Error as exc:
            code, text = 400, f"Unable to decode data - {exc}"
        if code == 200:
            try:
                self.backend.set(request["key"], data)
            except KVError as exc:
                code, text = 500, f"Unable to store data using key {request['key']} - {exc}"
        return json_reply(code, text, {"status": status_json(code, text)})

    # -- delete ------------------------------------------------------------------------
    def delete(self, payload: bytes) -> HostReply:
        msg = messages.parse("tarmac.kvstore.KVStoreDelete", payload)
        if msg is None:
            return self._delete_json(payload)
        code, text = 200, "OK"
        if not msg.key:
            code, text = 400, ERR_NIL_KEY
        else:
            try:
                self.backend.delete(msg.key)
            except KVError as exc:
                code, text = 404, f"Unable to delete key {exc}"
        return status_reply("tarmac.kvstore.KVStoreDeleteResponse", code, text)

    def _delete_json(self, payload: bytes) -> HostReply:
        code, text = 200, "OK"
        key = ""
        try:
            key = go_unmarshal(payload, {"key": ""})["key"]
        except GoJSONError:
            code, text = 400, PARSE_ERROR
        if code == 200:
            try:
                self.backend.delete(key)
            except KVError as exc:
                code, text = 404, f"Unable to delete key {key} - {exc}"
        return json_reply(code, text, {"status": status_json(code, text)})

    # -- keys --------------------------------------------------------------------------
    def keys(self, payload: bytes) -> HostReply:
        code, text = 200, "OK"
        try:
            keys = self.backend.keys()
        except KVError as exc:
            code, text, keys = 500, f"Unable to fetch keys - {exc}", None
        if not payload:  # keysJSON: struct order is keys, then status
            return json_reply(code, text, {"keys": keys, "status": status_json(code, text)})
        return status_reply("tarmac.kvstore.KVStoreKeysResponse", code, text, keys=keys or [])
