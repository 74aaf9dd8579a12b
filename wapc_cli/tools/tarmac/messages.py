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

from collections.abc import Collection
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


#: full name -> message class: the factory returns the same class every time, and a
#: dict lookup is much cheaper than the pool's (this runs for every reply built).
_CLASSES: dict[str, type[Message]] = {}


def message_class(full_name: str) -> type[Message]:
    """The message class for ``full_name`` (e.g. ``tarmac.kvstore.KVStoreGet``)."""
    found = _CLASSES.get(full_name)
    if found is None:
        found = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))
        _CLASSES[full_name] = found
    return found


#: The requests Tarmac's kvstore and sql callbacks decode with vtprotobuf's ``UnmarshalVT``
#: (``github.com/tarmac-project/protobuf-go``, ``sdk/*/*_vtproto.pb.go``, protoc-gen-go-vtproto
#: v0.6.0), whose rules are not the protobuf package's: no UTF-8 check on strings, a known
#: field with another wire type is an error, and an unknown group ends at any end-group tag
#: (``protohelpers.Skip`` counts depth only). Every field of these messages is length-delimited.
#: httpclient and metrics use Go's ``proto.Unmarshal``, which agrees with the protobuf package.
_VT_DECODED = frozenset({
    "tarmac.kvstore.KVStoreGet", "tarmac.kvstore.KVStoreSet", "tarmac.kvstore.KVStoreDelete",
    "tarmac.sql.SQLQuery", "tarmac.sql.SQLExec",
})
_LEN = 2


def parse(full_name: str, payload: bytes) -> Any | None:
    """``payload`` as the named message, or None when it is not that message's wire form.

    The same test Tarmac makes (``UnmarshalVT`` / ``proto.Unmarshal`` failing
    sends it to its JSON path). For the messages in :data:`_VT_DECODED` that is
    vtprotobuf's decoder, reproduced by :func:`_vt_fields`; a string it accepts
    that is not UTF-8 is read with U+FFFD for the bad bytes (Python strings
    cannot hold them). For the rest, the protobuf package's parse.
    """
    if full_name in _VT_KINDS:
        values = read_vt(full_name, payload)
        return None if values is None else build(full_name, **values)
    message = message_class(full_name)()
    try:
        message.ParseFromString(payload)
    except (DecodeError, ValueError, UnicodeDecodeError):
        return None
    return message


def _message_fields(full_name: str) -> list[tuple[str, int, str, bool]]:
    package, _, message = full_name.rpartition(".")
    for file_package, _go, _imports, messages in _FILES.values():
        if file_package == package:
            return messages[message]
    raise KeyError(full_name)


#: full name -> {field number: (name, type)} for the messages in _VT_DECODED.
_VT_KINDS = {full_name: {number: (name, kind) for name, number, kind, _ in
                         _message_fields(full_name)} for full_name in sorted(_VT_DECODED)}


def read_vt(full_name: str, payload: bytes) -> dict[str, Any] | None:
    """The fields ``payload`` carries as the named message (one in :data:`_VT_DECODED`), by
    name, the last of each winning, strings read with U+FFFD for bad bytes; None where
    ``UnmarshalVT`` fails. What :func:`parse` builds its message from, for callers that
    only read the values (and whether ``data`` is present: proto3 cannot say)."""
    kinds = _VT_KINDS[full_name]
    fields = _vt_fields(payload, kinds)
    if fields is None:
        return None
    return {kinds[number][0]: (raw.decode("utf-8", "replace")
                               if kinds[number][1] == "string" else raw)
            for number, raw in fields.items()}


def _vt_fields(payload: bytes, known: Collection[int]) -> dict[int, bytes] | None:
    """The ``known`` (length-delimited) fields as ``UnmarshalVT`` reads them, the last of
    each winning; None where it returns an error."""
    found: dict[int, bytes] = {}
    index, end = 0, len(payload)
    while index < end:
        start = index
        tag, index = _go_varint(payload, index)
        if tag is None:
            return None
        number = ((tag >> 3) + (1 << 31)) % (1 << 32) - (1 << 31)  # Go: int32(wire >> 3)
        wire = tag & 7
        if wire == 4 or number <= 0:
            return None  # "wiretype end group for non-group" / "illegal tag"
        if number in known:
            if wire != _LEN:
                return None  # "wrong wireType"
            length, index = _go_varint(payload, index)
            if length is None or index + length > end:
                return None
            found[number] = payload[index:index + length]
            index += length
        else:
            skipped = _vt_skip(payload, start)
            if skipped is None or skipped > end:
                return None
            index = skipped
    return found


def _vt_skip(data: bytes, index: int) -> int | None:
    """Where the record at ``index`` ends, as ``protohelpers.Skip`` finds it (None: an error)."""
    depth, end = 0, len(data)
    while index < end:
        tag, index = _go_varint(data, index)
        if tag is None:
            return None
        wire = tag & 7
        if wire == 0:
            value, index = _go_varint(data, index)
            if value is None:
                return None
        elif wire == 1:
            index += 8
        elif wire == _LEN:
            length, index = _go_varint(data, index)
            if length is None or length >= 1 << 63:  # Go's int(length) < 0
                return None
            index += length
        elif wire == 3:
            depth += 1
        elif wire == 4:
            if depth == 0:
                return None  # "unexpected end of group"
            depth -= 1
        elif wire == 5:
            index += 4
        else:
            return None  # "illegal wireType"
        if depth == 0:
            return index
    return None  # io.ErrUnexpectedEOF


def _go_varint(data: bytes, index: int) -> tuple[int | None, int]:
    """A varint as vtprotobuf reads one: at most 10 bytes, bits past 64 dropped; None at the
    end of the data or past 10 bytes."""
    value = shift = 0
    while True:
        if shift >= 64 or index >= len(data):
            return None, index
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & ((1 << 64) - 1), index
        shift += 7


def build(full_name: str, **fields: Any) -> Any:
    """A new message of the named type with ``fields`` set."""
    return message_class(full_name)(**fields)


def status(code: int, text: str) -> Any:
    """A ``tarmac.Status``."""
    return build("tarmac.Status", code=code, status=text)


# -- writing the replies ------------------------------------------------------------------
def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_VARINTS = [bytes([value]) for value in range(0x80)]


_INT_RANGES = {"int32": (-(1 << 31), 1 << 31), "int64": (-(1 << 63), 1 << 63)}


def _wire_tag(number: int, kind: str) -> bytes:
    return _varint(number << 3 | (0 if kind in _INT_RANGES else _LEN))


#: full name -> {field name: (number, type, tag bytes)} of the replies whose field 1 is
#: ``status`` (a ``tarmac.Status``) and whose other fields are scalars or repeated
#: strings: what :func:`status_response` writes without the protobuf package.
_STATUS_RESPONSES = {
    f"{package}.{name}": {field: (number, kind if not repeated else "repeated " + kind,
                                  _wire_tag(number, kind))
                          for field, number, kind, repeated in fields[1:]}
    for package, _go, _imports, file_messages in _FILES.values()
    for name, fields in file_messages.items()
    if fields[:1] == [("status", 1, ".tarmac.Status", False)]
    and all(kind in ("string", "bytes", "int32", "int64") for _, _, kind, _ in fields[1:])
}
#: The ``status`` record of every successful reply: code 200, text "OK".
_OK_STATUS_RECORD = b"\x0a\x07\x08\xc8\x01\x12\x02OK"


def status_response(full_name: str, code: int, text: str,
                    fields: dict[str, Any]) -> bytes | None:
    """The bytes ``build(full_name, status=status(code, text), **fields).SerializeToString()``
    gives, written directly: fields in number order, proto3 zero values left out, the
    status always there. None when this cannot say for sure (another message, a value
    of another type or out of range, a text that is not UTF-8): build it then."""
    layout = _STATUS_RESPONSES.get(full_name)
    if layout is None:
        return None
    if type(code) is int and type(text) is str and code == 200 and text == "OK":
        status_record = _OK_STATUS_RECORD
    else:
        status_code = _scalar("int32", b"\x08", code)
        status_text = _scalar("string", b"\x12", text)
        if status_code is None or status_text is None:
            return None
        status_bytes = status_code + status_text
        status_record = b"\x0a" + _varint(len(status_bytes)) + status_bytes
    if not fields:
        return status_record
    records = []
    for name, value in fields.items():
        spec = layout.get(name)
        if spec is None:
            return None
        number, kind, tag = spec
        encoded = _scalar(kind, tag, value)
        if encoded is None:
            return None
        records.append((number, encoded))
    if len(records) > 1:
        records.sort()  # serialization order is field number order (numbers are unique)
    return status_record + b"".join([encoded for _, encoded in records])


def _scalar(kind: str, tag: bytes, value: Any) -> bytes | None:
    """A field of ``kind`` holding ``value`` on the wire, after its ``tag`` (b"" for a zero
    value); None when ``value`` is not exactly what the field holds."""
    kind_of_value = type(value)
    if kind_of_value is bytes and kind == "bytes":
        return tag + _varint(len(value)) + value if value else b""
    if kind_of_value is str and kind == "string":
        if not value:
            return b""
        data = _utf8(value)
        return None if data is None else tag + _varint(len(data)) + data
    if kind_of_value is int and kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if not low <= value < high:
            return None
        return tag + _varint(value & ((1 << 64) - 1)) if value else b""
    if kind_of_value is list and kind == "repeated string":
        parts = []
        for item in value:
            data = _utf8(item) if type(item) is str else None
            if data is None:
                return None
            parts.append(tag + _varint(len(data)) + data)
        return b"".join(parts)
    return None


def _utf8(text: str) -> bytes | None:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: let the protobuf package decide
        return None
