"""Errors serialise themselves: to_json/from_json, across the child's pipe, and in --json."""

from __future__ import annotations

import base64
import json
import socket
from multiprocessing.connection import Connection
from typing import Any

import pytest
from conftest import wat

from wapc_cli import errors
from wapc_cli.cli.render.call_output import error_json
from wapc_cli.engines.base import Limits
from wapc_cli.errors import (
    EngineUnavailable,
    ExitCode,
    GuestError,
    GuestTrap,
    InputFileError,
    LimitExceeded,
    NotAGuest,
    NotWasmError,
    StubFailure,
    UsageError,
    WapcError,
)
from wapc_cli.isolation import run_supervised
from wapc_cli.isolation.messages import Finished
from wapc_cli.tools.stubs.source import Problem, StubTableError

TRAP_FIELDS: dict[str, Any] = {
    "guest_error": "bad input", "frames": ("guest_call", "helper"), "phase": "initialization",
}

#: One instance of every class in the tree, each with every field it has set.
EVERY_ERROR: list[WapcError] = [
    WapcError("plain"),
    UsageError("--count: must be a positive number of calls"),
    InputFileError("payload.json: no such file"),
    NotWasmError("module 'x': not a WebAssembly binary"),
    EngineUnavailable("engine 'wasmer' cannot load"),
    GuestError("nope \ufffd", b"nope \xff"),
    GuestError("no raw bytes"),
    GuestTrap("guest trapped: unreachable"),
    GuestTrap("guest trapped: unreachable", **TRAP_FIELDS),
    LimitExceeded("timeout", "1s", "timeout: the guest ran longer than 1s", phase="call"),
    LimitExceeded("max-memory", "16MiB", "max-memory: under the max-memory limit of 16MiB",
                  **TRAP_FIELDS),
    NotAGuest("module 'x' exports no __guest_call"),
    StubFailure("stub table: 'op' expected 2 times, called 1"),
]


def described(error: WapcError) -> tuple[Any, ...]:
    """Everything an error carries, for comparing two of them."""
    fields: tuple[Any, ...] = (type(error), str(error), error.message, error.exit_code, error.kind)
    if isinstance(error, GuestTrap):
        fields += (error.guest_error, error.frames, error.phase)
    if isinstance(error, LimitExceeded):
        fields += (error.limit, error.figure)
    if isinstance(error, GuestError):
        fields += (error.raw,)
    return fields


def test_every_class_is_covered() -> None:
    defined = {value for value in vars(errors).values()
               if isinstance(value, type) and issubclass(value, WapcError)}
    assert {type(error) for error in EVERY_ERROR} == defined


@pytest.mark.parametrize("error", EVERY_ERROR, ids=lambda e: type(e).__name__)
def test_round_trip_through_json(error: WapcError) -> None:
    data = error.to_json()
    assert json.loads(json.dumps(data)) == data  # plain JSON values only
    assert data["type"] == type(error).__name__
    assert (data["message"], data["exit_code"], data["kind"]) == (
        error.message, int(error.exit_code), error.kind)
    back = WapcError.from_json(json.loads(json.dumps(data)))
    assert described(back) == described(error)


@pytest.mark.parametrize("error", EVERY_ERROR, ids=lambda e: type(e).__name__)
def test_round_trip_through_the_child_pipe(error: WapcError) -> None:
    """The result message the child sends, over the same kind of connection."""
    child_end, parent_end = socket.socketpair()
    with child_end, parent_end:
        sender, receiver = Connection(child_end.detach()), Connection(parent_end.detach())
        sender.send(Finished(error=error.to_json()))
        message = receiver.recv()
        sender.close()
        receiver.close()
    assert isinstance(message, Finished) and message.error is not None
    assert described(WapcError.from_json(message.error)) == described(error)


def test_guest_error_keeps_bytes_that_are_not_utf8() -> None:
    raw = bytes(range(256))
    data = GuestError(raw.decode("utf-8", "replace"), raw).to_json()
    assert base64.b64decode(data["raw_b64"]) == raw
    back = WapcError.from_json(data)
    assert isinstance(back, GuestError) and back.raw == raw


def test_a_subclass_from_another_layer_comes_back_as_its_ancestor() -> None:
    error = StubTableError([Problem("stubs.yaml", 3, 1, "unknown key 'whne'")])
    data = error.to_json()
    assert data["type"] == "InputFileError"
    back = WapcError.from_json(data)
    assert type(back) is InputFileError
    assert (str(back), back.exit_code) == (str(error), ExitCode.USAGE)


def test_an_unknown_type_keeps_its_exit_code() -> None:
    back = WapcError.from_json({"type": "FutureError", "message": "later", "exit_code": 5})
    assert type(back) is WapcError
    assert (str(back), back.exit_code, back.kind) == ("later", ExitCode.STUB_FAILURE,
                                                      "stub_failure")


# -- the CLI's --json error object stays what it was -------------------------------------
def documented_error_json(error: WapcError) -> dict[str, Any]:
    """The ``error`` member of ``--json`` as README.md documents it (the converter the CLI
    had before errors serialised themselves), with the message already as the CLI shows it."""
    kind = {
        ExitCode.GUEST_ERROR: "guest_error",
        ExitCode.TRAP: "limit" if isinstance(error, LimitExceeded) else "trap",
        ExitCode.NOT_A_GUEST: "not_a_guest",
        ExitCode.STUB_FAILURE: "stub_failure",
    }.get(error.exit_code, "usage")
    data: dict[str, Any] = {"kind": kind, "message": str(error).replace(
        "max-memory limit", "--max-memory limit")}
    if isinstance(error, GuestTrap):
        data["guest_error"] = error.guest_error
        data["frames"] = [frame.to_json() for frame in error.frames]  # objects since #16
        data["phase"] = error.phase
    if isinstance(error, LimitExceeded):
        data["limit"] = error.limit
        data["figure"] = error.figure
    if isinstance(error, GuestError):
        data["raw_b64"] = base64.b64encode(error.raw).decode("ascii")
    return data


@pytest.mark.parametrize("error", EVERY_ERROR, ids=lambda e: type(e).__name__)
def test_cli_json_error_object_is_unchanged(error: WapcError) -> None:
    assert json.dumps(error_json(error)) == json.dumps(documented_error_json(error))


# -- errors a real child makes, back in the parent ------------------------------------------
LOOP_GUEST = """(module
  (import "wapc" "__guest_error" (func $err (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "it failed")
  (func (export "__guest_call") (param $op i32) (param $len i32) (result i32)
    ;; the operation's length picks: 4 spins, 5 traps, anything else fails
    (if (i32.eq (local.get $op) (i32.const 4)) (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $op) (i32.const 5)) (then unreachable))
    (call $err (i32.const 0) (i32.const 9))
    (i32.const 0)))"""


@pytest.mark.parametrize(("wasm", "operation", "limits", "expected"), [
    (wat(LOOP_GUEST), "no", Limits(), GuestError),
    (wat(LOOP_GUEST), "traps", Limits(), GuestTrap),
    (wat(LOOP_GUEST), "spin", Limits(fuel=10_000), LimitExceeded),
    (wat('(module (memory (export "memory") 1))'), "op", Limits(), NotAGuest),
    (b"\x00asm but not really", "op", Limits(), NotWasmError),
], ids=["guest-error", "trap", "fuel", "not-a-guest", "not-wasm"])
def test_errors_made_in_the_child_come_back_whole(
    wasm: bytes, operation: str, limits: Limits, expected: type[WapcError]
) -> None:
    """wasmtime runs in every test environment; the child is the same for every engine."""
    outcome = run_supervised(wasm, operation=operation, engine="wasmtime", limits=limits)
    error = outcome.error
    assert type(error) is expected, error
    assert error.to_json() == WapcError.from_json(error.to_json()).to_json()
    if isinstance(error, GuestError):
        assert error.raw == b"it failed"
    if isinstance(error, LimitExceeded):
        assert (error.limit, error.phase) == ("fuel", "call")
