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

from ...runtime.hostcalls import HostReply
from . import messages
from .kv_backends import KVBackend, KVError
from .wire import (
    GoBase64Error,
    GoJSONError,
    failed,
    go_b64decode,
    go_json,
    go_unmarshal,
    json_text_reply,
    ok_data_reply,
    plain_key_request,
    status_first_reply,
    status_object,
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
        key = plain_key_request(payload)  # the common JSON request, known not protobuf
        if key is not None:
            return self._get_key_json(key)
        request = messages.read_vt("tarmac.kvstore.KVStoreGet", payload)
        if request is None:
            return self._get_json(payload)
        code, text, data = 200, "OK", b""
        key = request.get("key", "")
        if not key:
            code, text = 400, ERR_NIL_KEY
        else:
            try:
                data = self.backend.get(key)
            except KVError as exc:
                code, text = 404, f"Unable to fetch key {exc}"
        return status_reply("tarmac.kvstore.KVStoreGetResponse", code, text, data=data)

    def _get_json(self, payload: bytes) -> HostReply:
        try:
            key = go_unmarshal(payload, {"key": ""})["key"]
        except GoJSONError:
            return status_first_reply(400, PARSE_ERROR, "")
        return self._get_key_json(key)

    def _get_key_json(self, key: str) -> HostReply:
        try:
            data = self.backend.get(key)
        except KVError as exc:
            return status_first_reply(404, f"Unable to fetch key {key} - {exc}", "")
        return ok_data_reply(data)

    # -- set ---------------------------------------------------------------------------
    def set(self, payload: bytes) -> HostReply:
        request = messages.read_vt("tarmac.kvstore.KVStoreSet", payload)
        if request is None:
            return self._set_json(payload)
        code, text = 200, "OK"
        key = request.get("key", "")
        if not key:
            code, text = 400, ERR_NIL_KEY
        # Go's msg.Data is nil only when the field is absent; an empty one goes to hord.
        if "data" not in request:
            code, text = 400, "Data cannot be nil"
        if code == 200:
            try:
                self.backend.set(key, request["data"])
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
        return status_first_reply(code, text)

    # -- delete ------------------------------------------------------------------------
    def delete(self, payload: bytes) -> HostReply:
        key = plain_key_request(payload)  # the common JSON request, known not protobuf
        if key is not None:
            return self._delete_key_json(key)
        request = messages.read_vt("tarmac.kvstore.KVStoreDelete", payload)
        if request is None:
            return self._delete_json(payload)
        code, text = 200, "OK"
        key = request.get("key", "")
        if not key:
            code, text = 400, ERR_NIL_KEY
        else:
            try:
                self.backend.delete(key)
            except KVError as exc:
                code, text = 404, f"Unable to delete key {exc}"
        return status_reply("tarmac.kvstore.KVStoreDeleteResponse", code, text)

    def _delete_json(self, payload: bytes) -> HostReply:
        try:
            key = go_unmarshal(payload, {"key": ""})["key"]
        except GoJSONError:
            return status_first_reply(400, PARSE_ERROR)
        return self._delete_key_json(key)

    def _delete_key_json(self, key: str) -> HostReply:
        try:
            self.backend.delete(key)
        except KVError as exc:
            return status_first_reply(404, f"Unable to delete key {key} - {exc}")
        return status_first_reply(200, "OK")

    # -- keys --------------------------------------------------------------------------
    def keys(self, payload: bytes) -> HostReply:
        code, text = 200, "OK"
        try:
            keys = self.backend.keys()
        except KVError as exc:
            code, text, keys = 500, f"Unable to fetch keys - {exc}", None
        if not payload:  # keysJSON: struct order is keys, then status
            return json_text_reply(code, text, '{"keys":' + go_json(keys) + ',"status":'
                                   + status_object(code, text) + "}")
        return status_reply("tarmac.kvstore.KVStoreKeysResponse", code, text, keys=keys or [])
