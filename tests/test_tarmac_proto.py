"""The protobuf side of the Tarmac preset: descriptors equal to the vendored .proto files,
and Tarmac's try-protobuf-then-JSON detection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wapc_cli.tools.tarmac import messages

PROTO_DIR = Path(__file__).resolve().parent.parent / "wapc_cli" / "tools" / "tarmac" / "proto"
FILES = ["tarmac.proto", "kvstore.proto", "sql.proto", "metrics.proto", "http.proto"]


def test_descriptors_are_exactly_the_vendored_proto_files(tmp_path: Path) -> None:
    try:
        from grpc_tools import protoc
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("grpcio-tools (a dev dependency) is needed to check the descriptors")
        pytest.skip("grpcio-tools is not installed")
    from google.protobuf import descriptor_pb2

    out = tmp_path / "set.pb"
    assert protoc.main(["protoc", f"-I{PROTO_DIR}", f"--descriptor_set_out={out}",
                        *(str(PROTO_DIR / name) for name in FILES)]) == 0
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    assert {f.name: f for f in compiled.file} == {f.name: f for f in messages.file_descriptors()}


def test_provenance_names_every_vendored_file() -> None:
    provenance = (PROTO_DIR / "PROVENANCE.md").read_text()
    for name in FILES:
        assert f"`{name}`" in provenance


@pytest.mark.parametrize("payload, is_proto", [
    (b"", True),  # an empty message: every field at its zero value
    (b"\n\x03abc", True),
    (b'{"key":"abc"}', False),  # '{' is field 15, start-group, never closed
    (b" {}", False),
    # Tarmac's UnmarshalVT (vtprotobuf) does not check UTF-8, so this is protobuf there too
    (b"\n\x02\xff\xfe", True),
    (b"\r\x00\x00\x00\x00", False),  # field 1 (key) with the 32-bit wire type: an error
    (b"{$", True),  # an unknown group closed by another field's end-group tag: vtprotobuf's Skip
    (b"\x10\x01", True),  # an unknown varint field (2)
    (b"\x00\x01", False),  # field number 0
    (b"\n\x05ab", False),  # truncated
])
def test_wire_form_detection_is_a_parse_attempt(payload: bytes, is_proto: bool) -> None:
    assert (messages.parse("tarmac.kvstore.KVStoreGet", payload) is not None) is is_proto


def test_field_presence_on_the_wire() -> None:
    """proto3 bytes have no presence in the Python API; Tarmac's nil data is its absence."""
    def has_data(payload: bytes) -> bool:
        request = messages.read_vt("tarmac.kvstore.KVStoreSet", payload)
        return request is not None and "data" in request

    assert has_data(b"\n\x01k\x12\x00")
    assert not has_data(b"\n\x01k")
    assert has_data(b"\x12\x02hi")
