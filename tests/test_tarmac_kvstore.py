"""tarmac:kvstore:* in both wire forms: Tarmac's exact answers (pkg/callbacks/kvstore)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tarmac_probe import Probe, ask

from wapc_cli.errors import UsageError
from wapc_cli.runtime.hostcalls import HostReply
from wapc_cli.tools.tarmac import messages
from wapc_cli.tools.tarmac.options import TarmacOptions
from wapc_cli.tools.tarmac.preset import TarmacPreset


def proto(name: str, **fields: object) -> bytes:
    return bytes(messages.build(name, **fields).SerializeToString())


def status_of(name: str, body: bytes) -> tuple[int, str]:
    parsed = messages.parse(name, body)
    assert parsed is not None
    return parsed.status.code, parsed.status.status


# -- JSON ---------------------------------------------------------------------------------
def test_json_get_set_delete_keys_exact_bytes() -> None:
    preset = TarmacPreset(seed={"seeded": b"s"})
    got = ask(preset, "tarmac:kvstore:get", b'{"key":"seeded"}')
    assert got == HostReply(b'{"status":{"code":200,"status":"OK"},"data":"cw=="}', None,
                            "preset:tarmac")
    put = ask(preset, "tarmac:kvstore:set", b'{"key":"greeting","data":"aGk="}')
    assert put.body == b'{"status":{"code":200,"status":"OK"}}' and put.ok
    keys = ask(preset, "tarmac:kvstore:keys")
    assert keys.body == b'{"keys":["greeting","seeded"],"status":{"code":200,"status":"OK"}}'
    gone = ask(preset, "tarmac:kvstore:delete", b'{"key":"seeded"}')
    assert gone.ok and gone.body == b'{"status":{"code":200,"status":"OK"}}'


def test_json_missing_key_is_404_with_data_and_delete_of_missing_is_200() -> None:
    preset = TarmacPreset()
    missing = ask(preset, "tarmac:kvstore:get", b'{"key":"nope"}')
    text = "Unable to fetch key nope - nil value returned from database"
    assert missing.error == text
    assert missing.body == (b'{"status":{"code":404,"status":"' + text.encode()
                            + b'"},"data":""}')
    again = ask(preset, "tarmac:kvstore:delete", b'{"key":"nope"}')
    assert again.ok and json.loads(again.body)["status"]["code"] == 200


def test_json_empty_key_is_404_500_404_and_empty_data_500() -> None:
    preset = TarmacPreset()
    get = ask(preset, "tarmac:kvstore:get", b'{"key":""}')
    put = ask(preset, "tarmac:kvstore:set", b'{"key":"","data":"aGk="}')
    delete = ask(preset, "tarmac:kvstore:delete", b'{"key":""}')
    assert [json.loads(r.body)["status"]["code"] for r in (get, put, delete)] == [404, 500, 404]
    assert get.error == "Unable to fetch key  - key cannot be nil"
    assert put.error == "Unable to store data using key  - key cannot be nil"
    assert delete.error == "Unable to delete key  - key cannot be nil"
    empty = ask(preset, "tarmac:kvstore:set", b'{"key":"k","data":""}')
    assert empty.error == "Unable to store data using key k - data cannot be empty"
    assert json.loads(empty.body)["status"]["code"] == 500


def test_json_parse_and_base64_errors_are_400() -> None:
    preset = TarmacPreset()
    junk = ask(preset, "tarmac:kvstore:get", b"not json")
    assert junk.body == b'{"status":{"code":400,"status":"Error Parsing Input"},"data":""}'
    bad = ask(preset, "tarmac:kvstore:set", b'{"key":"k","data":"a!=="}')
    assert bad.error == "Unable to decode data - illegal base64 data at input byte 1"
    wrong_type = ask(preset, "tarmac:kvstore:delete", b'{"key":5}')
    assert wrong_type.error == "Error Parsing Input"


def test_json_keys_of_an_empty_store_is_null() -> None:
    # hord's hashmap driver returns a nil slice: ffjson writes null; keys come first.
    keys = ask(TarmacPreset(), "tarmac:kvstore:keys")
    assert keys.body == b'{"keys":null,"status":{"code":200,"status":"OK"}}'


# -- protobuf -----------------------------------------------------------------------------
def test_proto_get_set_delete_keys() -> None:
    preset = TarmacPreset()
    put = ask(preset, "tarmac:kvstore:set",
              proto("tarmac.kvstore.KVStoreSet", key="k", data=b"\0v"))
    assert put.ok and put.body == proto("tarmac.kvstore.KVStoreSetResponse",
                                        status=messages.status(200, "OK"))
    got = ask(preset, "tarmac:kvstore:get", proto("tarmac.kvstore.KVStoreGet", key="k"))
    assert got.body == proto("tarmac.kvstore.KVStoreGetResponse",
                             status=messages.status(200, "OK"), data=b"\0v")
    keys = ask(preset, "tarmac:kvstore:keys", proto("tarmac.kvstore.KVStoreKeys",
                                                     return_proto=True))
    assert keys.body == proto("tarmac.kvstore.KVStoreKeysResponse",
                              status=messages.status(200, "OK"), keys=["k"])
    delete = ask(preset, "tarmac:kvstore:delete", proto("tarmac.kvstore.KVStoreDelete", key="k"))
    missing = ask(preset, "tarmac:kvstore:delete", proto("tarmac.kvstore.KVStoreDelete", key="k"))
    assert delete.ok and missing.ok


def test_proto_errors_and_their_texts() -> None:
    preset = TarmacPreset()
    missing = ask(preset, "tarmac:kvstore:get", proto("tarmac.kvstore.KVStoreGet", key="x"))
    assert missing.error == "Unable to fetch key nil value returned from database"
    assert status_of("tarmac.kvstore.KVStoreGetResponse", missing.body)[0] == 404
    empty = ask(preset, "tarmac:kvstore:get", b"")  # an empty payload parses: key ""
    assert empty.error == "key cannot be nil"
    assert status_of("tarmac.kvstore.KVStoreGetResponse", empty.body) == (400, "key cannot be nil")
    no_data = ask(preset, "tarmac:kvstore:set", b"\n\x01k")  # data absent: Go's nil
    assert status_of("tarmac.kvstore.KVStoreSetResponse", no_data.body) == (400,
                                                                           "Data cannot be nil")
    empty_data = ask(preset, "tarmac:kvstore:set", b"\n\x01k\x12\x00")  # present but empty
    assert status_of("tarmac.kvstore.KVStoreSetResponse", empty_data.body) == (
        500, "Unable to store data - data cannot be empty")


def test_keys_answers_protobuf_for_any_non_empty_payload_unparsed() -> None:
    preset = TarmacPreset(seed={"a": b"1"})
    reply = ask(preset, "tarmac:kvstore:keys", b"{}")  # JSON, but not empty: protobuf back
    parsed = messages.parse("tarmac.kvstore.KVStoreKeysResponse", reply.body)
    assert parsed is not None and list(parsed.keys) == ["a"]


# -- on every engine, through a guest -----------------------------------------------------
def test_through_a_guest_both_forms(engine_name: str) -> None:
    preset = TarmacPreset()
    probe = Probe(engine_name, preset.answer)
    ok, body, error = probe.frame("tarmac:kvstore:set", b'{"key":"k","data":"aGk="}')
    assert ok and body == b'{"status":{"code":200,"status":"OK"}}' and error is None
    ok, body, error = probe.frame("tarmac:kvstore:get", proto("tarmac.kvstore.KVStoreGet", key="k"))
    assert ok and messages.parse("tarmac.kvstore.KVStoreGetResponse", body).data == b"hi"
    ok, body, error = probe.frame("tarmac:kvstore:get", b'{"key":"gone"}')
    assert not ok and error == "Unable to fetch key gone - nil value returned from database"
    assert json.loads(body)["data"] == ""
    ok, body, error = probe.frame("tarmac:kvstore:delete", b'{"key":"gone"}')
    assert ok
    ok, body, error = probe.frame("tarmac:kvstore:nope", b"")
    assert (ok, body, error) == (False, b"", "callback not found")


# -- stores -------------------------------------------------------------------------------
def test_sqlite_store_persists_across_runs(tmp_path: Path) -> None:
    options = TarmacOptions(kvstore=f"sqlite:///{tmp_path / 'kv.db'}")
    first = TarmacPreset(options)
    assert ask(first, "tarmac:kvstore:set", b'{"key":"k","data":"aGk="}').ok
    first.close()
    second = TarmacPreset(options)
    got = ask(second, "tarmac:kvstore:get", b'{"key":"k"}')
    assert json.loads(got.body)["data"] == "aGk="
    second.close()


@pytest.mark.parametrize("dsn, shown", [
    ("redis://:secret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
    ("ftp://x", "ftp://x"),
    ("sqlite://relative.db", "sqlite://relative.db"),
])
def test_bad_or_unreachable_store_is_a_usage_error_without_password(dsn: str, shown: str) -> None:
    with pytest.raises(UsageError) as caught:
        TarmacPreset(TarmacOptions(kvstore=dsn))
    assert shown in str(caught.value) and "secret" not in str(caught.value)
