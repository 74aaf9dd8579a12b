"""Zero-length spans at the edge of guest memory: the hot path skips copying them,
never checking them. (ptr = memory size, length 0) is inside memory; one byte
past it, or a pointer near 2**32, is out of range even with length 0."""

from __future__ import annotations

import pytest
from conftest import guest_from_wat

from wapc_cli.errors import GuestTrap

PAGE = 65536


def edge_guest(request_ptr: int, response_ptr: int, host_call_ptr: int) -> str:
    return f"""(module
 (import "wapc" "__guest_request" (func $req (param i32 i32)))
 (import "wapc" "__guest_response" (func $resp (param i32 i32)))
 (import "wapc" "__host_call"
   (func $hc (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
 (memory (export "memory") 1)
 (func (export "__guest_call") (param i32 i32) (result i32)
   (call $req (i32.const 0) (i32.const {request_ptr}))
   (drop (call $hc (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)
                   (i32.const 0) (i32.const 1) (i32.const {host_call_ptr}) (i32.const 0)))
   (call $resp (i32.const {response_ptr}) (i32.const 0))
   (i32.const 1)))"""


def test_an_empty_span_at_the_end_of_memory_is_in_range(engine_name: str) -> None:
    guest = guest_from_wat(edge_guest(PAGE, PAGE, PAGE), engine_name, host_call=lambda r: b"v")
    assert guest.call("op", b"") == b""


@pytest.mark.parametrize(
    ("pointers", "import_name"),
    [
        ((PAGE + 1, 0, 0), "__guest_request"),
        ((-1, 0, 0), "__guest_request"),
        ((0, 0, PAGE + 1), "__host_call"),
        ((0, 0, -1), "__host_call"),
        ((0, PAGE + 1, 0), "__guest_response"),
        ((0, -1, 0), "__guest_response"),
    ],
)
def test_an_empty_span_past_memory_still_traps(
    engine_name: str, pointers: tuple[int, int, int], import_name: str
) -> None:
    guest = guest_from_wat(edge_guest(*pointers), engine_name, host_call=lambda r: b"v")
    with pytest.raises(GuestTrap) as caught:
        guest.call("op", b"")
    assert import_name in str(caught.value)
