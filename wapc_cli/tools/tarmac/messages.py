"""Tarmac's protobuf messages (the vendored ``proto/*.proto``), built as descriptors at import.

Why descriptors and not generated ``*_pb2.py``: generated modules are tied to
the protoc that wrote them (the protobuf runtime refuses or warns about
generated code from another major version), while a descriptor built here
works with every protobuf runtime this project allows. The tables below say
exactly what the ``.proto`` files say; ``tests/test_tarmac_proto.py`` compiles
the vendored files with grpcio-tools and checks the two descriptor sets are
identical, so the files stay the source of truth.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES, "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64, "bool": _F.TYPE_BOOL, "double": _F.TYPE_DOUBLE,
}

# file -> (package, go_package, imports, {message: [(name, number, type, repeated)]});
# a type that is not a scalar names a message; "map<string,string>" is a map field.
_FILES: dict[str, tuple[str, str, tuple[str, ...], dict[str, list[tuple[str, int, str, bool]]]]] = {
    "tarmac.proto": ("tarmac", "github.com/tarmac-project/protobuf-go/sdk", (), {
        "Status": [("code", 1, "int32", False), ("status", 2, "string", False)],
    }),
    "kvstore.proto": ("tarmac.kvstore", "github.com/tarmac-project/protobuf-go/sdk/kvstore",
                      ("tarmac.proto",), {
        "KVStoreGet": [("key", 1, "string", False)],
        "KVStoreGetResponse": [("status", 1, ".tarmac.Status", False),
                               ("data", 2, "bytes", False)],
        "KVStoreSet": [("key", 1, "string", False), ("data", 2, "bytes", False)],
        "KVStoreSetResponse": [("status", 1, ".tarmac.Status", False)],
        "KVStoreDelete": [("key", 1, "string", False)],
        "KVStoreDeleteResponse": [("status", 1, ".tarmac.Status", False)],
        "KVStoreKeys": [("return_proto", 1, "bool", False)],
        "KVStoreKeysResponse": [("status", 1, ".tarmac.Status", False),
                                ("keys", 2, "string", True)],
    }),
    "sql.proto": ("tarmac.sql", "github.com/tarmac-project/protobuf-go/sdk/sql",
                  ("tarmac.proto",), {
        "SQLExec": [("query", 1, "bytes", False)],
        "SQLExecResponse": [("status", 1, ".tarmac.Status", False),
                            ("last_insert_id", 2, "int64", False),
                            ("rows_affected", 3, "int64", False)],
        "SQLQuery": [("query", 1, "bytes", False)],
        "SQLQueryResponse": [("status", 1, ".tarmac.Status", False),
                             ("columns", 4, "string", True), ("data", 5, "bytes", False)],
    }),
    "metrics.proto": ("tarmac.metrics", "github.com/tarmac-project/protobuf-go/sdk/metrics", (), {
        "MetricsCounter": [("name", 1, "string", False)],
        "MetricsGauge": [("name", 1, "string", False), ("action", 2, "string", False)],
        "MetricsHistogram": [("name", 1, "string", False), ("value", 2, "double", False)],
    }),
    "http.proto": ("tarmac.http", "github.com/tarmac-project/tarmac/proto", ("tarmac.proto",), {
        "HTTPClient": [("method", 1, "string", False), ("headers", 2, "map<string,string>", False),
                       ("url", 3, "string", False), ("body", 4, "bytes", False),
                       ("insecure", 5, "bool", False)],
        "HTTPClientResponse": [("status", 1, ".tarmac.Status", False),
                               ("code", 2, "int32", False),
                               ("headers", 3, "map<string,string>", False),
                               ("body", 4, "bytes", False)],
    }),
}


def _json_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _field(target: Any, name: str, number: int, kind: str, repeated: bool) -> None:
    field = target.field.add(name=name, number=number, json_name=_json_name(name))
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
    else:
        field.type = _F.TYPE_MESSAGE
        field.type_name = kind


def file_descriptors() -> list[descriptor_pb2.FileDescriptorProto]:
    """The five files as FileDescriptorProtos (what protoc would produce, minus comments)."""
    built = []
    for file_name, (package, go_package, imports, messages) in _FILES.items():
        proto = descriptor_pb2.FileDescriptorProto(name=file_name, package=package,
                                                   syntax="proto3", dependency=list(imports))
        proto.options.go_package = go_package
        for message_name, fields in messages.items():
            message = proto.message_type.add(name=message_name)
            for name, number, kind, repeated in fields:
                if kind == "map<string,string>":
                    entry_name = _json_name(name)[:1].upper() + _json_name(name)[1:] + "Entry"
                    entry = message.nested_type.add(name=entry_name)
                    entry.options.map_entry = True
                    _field(entry, "key", 1, "string", False)
                    _field(entry, "value", 2, "string", False)
                    _field(message, name, number, f".{package}.{message_name}.{entry_name}", True)
                else:
                    _field(message, name, number, kind, repeated)
        built.append(proto)
    return built


_POOL = descriptor_pool.DescriptorPool()
for _file in file_descriptors():
    _POOL.Add(_file)


def message_class(full_name: str) -> type[Message]:
    """The message class for ``full_name`` (e.g. ``tarmac.kvstore.KVStoreGet``)."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


def parse(full_name: str, payload: bytes) -> Any | None:
    """``payload`` as the named message, or None when it is not that message's wire form.

    The same test Tarmac makes (``UnmarshalVT`` / ``proto.Unmarshal`` failing
    sends it to its JSON path): malformed wire data, or a string field that is
    not UTF-8 (proto3 strings must be).
    """
    message = message_class(full_name)()
    try:
        message.ParseFromString(payload)
    except (DecodeError, ValueError, UnicodeDecodeError):
        return None
    return message


def build(full_name: str, **fields: Any) -> Any:
    """A new message of the named type with ``fields`` set."""
    return message_class(full_name)(**fields)


def status(code: int, text: str) -> Any:
    """A ``tarmac.Status``."""
    return build("tarmac.Status", code=code, status=text)


def has_field(payload: bytes, number: int) -> bool:
    """Whether the (well-formed) wire bytes carry field ``number`` at all.

    proto3 ``bytes`` fields have no presence in the Python API, but Tarmac's
    Go code tells a missing ``data`` (nil) from an empty one: this reads the
    tags directly. Only called on bytes that already parsed.
    """
    index, end = 0, len(payload)
    while index < end:
        tag, index = _varint(payload, index)
        if tag >> 3 == number:
            return True
        wire = tag & 7
        if wire == 0:
            _, index = _varint(payload, index)
        elif wire == 1:
            index += 8
        elif wire == 2:
            length, index = _varint(payload, index)
            index += length
        elif wire == 5:
            index += 4
        else:  # groups (3/4): skip the tag only; their contents are tags too
            continue
    return False


def _varint(data: bytes, index: int) -> tuple[int, int]:
    value = shift = 0
    while index < len(data):
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return value, index
