"""Engines declare what they can do; callers ask instead of testing names or classes."""

from __future__ import annotations

import pytest
from conftest import guest_from_wat

from wapc_cli.engines import ENGINE_NAMES, declared_capabilities, get_engine
from wapc_cli.engines.base import Capabilities, Limits, view_memory
from wapc_cli.errors import EngineUnavailable
from wapc_cli.runtime.limits import needs_supervision

ECHO = """(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $guest_response (i32.const 0) (i32.const 0))
    (i32.const 1)))
"""


def test_each_engine_says_what_the_registry_declares(engine_name: str) -> None:
    assert get_engine(engine_name).capabilities == declared_capabilities(engine_name)


def test_interrupt_works_where_the_engine_says_it_can(engine_name: str) -> None:
    engine = get_engine(engine_name)
    # Nothing runs, so this stops nothing; it answers whether it could.
    assert engine.interrupt() is engine.capabilities.interrupts
    assert engine.capabilities.interrupts is (engine_name == "wasmtime")


def test_auto_answers_for_the_engine_it_picks() -> None:
    assert declared_capabilities("auto") == get_engine("auto").capabilities


def test_an_unknown_engine_is_refused_but_needs_no_child() -> None:
    with pytest.raises(EngineUnavailable, match="unknown engine 'nope'"):
        declared_capabilities("nope")
    assert not needs_supervision("nope", Limits(timeout_s=1))


@pytest.mark.parametrize(
    ("capabilities", "limits", "child"),
    [
        (Capabilities(True, True, True), Limits(timeout_s=1, max_memory_bytes=1), False),
        (Capabilities(False, True, True), Limits(timeout_s=1), True),
        (Capabilities(False, True, True), Limits(max_memory_bytes=1), False),
        (Capabilities(True, False, True), Limits(max_memory_bytes=1), True),
        (Capabilities(True, False, True), Limits(timeout_s=1), False),
        (Capabilities(False, False, False), Limits(fuel=10), False),
    ],
)
def test_a_child_process_only_for_what_the_engine_cannot_enforce(
    capabilities: Capabilities, limits: Limits, child: bool
) -> None:
    assert capabilities.needs_child_process(limits) is child


def test_registry_names_every_engine() -> None:
    for name in ENGINE_NAMES[1:]:
        assert isinstance(declared_capabilities(name), Capabilities)


def test_instances_and_memories_declare_what_the_core_may_rely_on(engine_name: str) -> None:
    guest = guest_from_wat(ECHO, engine_name)
    guest.call("op")
    instance = guest._instance
    assert instance is not None
    assert isinstance(instance.unsigned_args, bool)
    assert isinstance(instance.hot_path, str) and instance.hot_path
    memory = instance.memory
    assert memory is not None
    lender = view_memory(memory)
    if memory.lends_views:
        assert lender is memory
        assert len(lender.view()) == memory.size()
    else:
        assert lender is None
        assert not hasattr(memory, "view")
