"""The waPC exchange (protocol.py + guest.py) against a scripted fake engine."""

from __future__ import annotations

import pytest
from fake_engine import (
    PAGE,
    FakeInstance,
    FakeModule,
    Return,
    Step,
    Trap,
    Write,
    call,
    error,
    fake_guest,
    host_call,
    request,
    respond,
    var,
)

from wapc_cli.engines.base import EngineTrap, EngineTrapInfo
from wapc_cli.errors import GuestError, GuestTrap, StubFailure
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest, HostReply
from wapc_cli.runtime.session import HostAbort

BUF = 4096  # where scripts receive host answers


def relay_host_answer(*, into: str = "rc") -> list[Step]:
    """Read the answer of the latest host call into BUF and report it as the guest's."""

    def report(instance: FakeInstance) -> None:
        functions = instance.functions
        if instance.variables[into] == 1:
            length = functions[("wapc", "__host_response_len")]()
            assert isinstance(length, int)
            functions[("wapc", "__host_response")](BUF)
            functions[("wapc", "__guest_response")](BUF, length)
            instance.variables["result"] = 1
        else:
            length = functions[("wapc", "__host_error_len")]()
            assert isinstance(length, int)
            functions[("wapc", "__host_error")](BUF)
            functions[("wapc", "__guest_error")](BUF, length)
            instance.variables["result"] = 0

    return [report, Return(var("result"))]


# -- outcomes of one call ------------------------------------------------------


def test_echo_through_request_and_response() -> None:
    def echo(instance: FakeInstance) -> None:
        op_len, msg_len = instance.variables["op_len"], instance.variables["msg_len"]
        instance.functions[("wapc", "__guest_request")](0, 256)
        assert bytes(instance.memory.data[:op_len]) == b"echo"
        instance.functions[("wapc", "__guest_response")](256, msg_len)

    guest = fake_guest(FakeModule(on_call=[echo, Return(1)]))
    assert guest.call("echo", b"payload") == b"payload"


def test_return_1_without_response_is_a_trap() -> None:
    guest = fake_guest(FakeModule(on_call=[*request(), Return(1)]))
    with pytest.raises(GuestTrap, match="set no response"):
        guest.call("op")


def test_return_1_with_only_an_error_reports_the_error() -> None:
    guest = fake_guest(FakeModule(on_call=[*error(512, "it broke"), Return(1)]))
    with pytest.raises(GuestError, match="it broke"):
        guest.call("op")


def test_return_0_without_error_is_a_guest_error() -> None:
    guest = fake_guest(FakeModule(on_call=[*request(), Return(0)]))
    with pytest.raises(GuestError, match="without setting an error"):
        guest.call("op")


def test_return_0_with_error() -> None:
    guest = fake_guest(FakeModule(on_call=[*error(512, "nope"), Return(0)]))
    with pytest.raises(GuestError) as info:
        guest.call("op")
    assert info.value.message == "nope"
    assert info.value.raw == b"nope"


def test_both_response_and_error_uses_response_with_warning() -> None:
    guest = fake_guest(
        FakeModule(on_call=[*respond(512, b"answer"), *error(600, "also err"), Return(1)])
    )
    assert guest.call("op") == b"answer"
    assert any("both a response and an error" in w for w in guest.last.warnings)


@pytest.mark.parametrize("value", [2, -1, 0x7FFFFFFF])
def test_return_other_than_0_or_1_is_a_trap(value: int) -> None:
    guest = fake_guest(FakeModule(on_call=[*respond(512, b"x"), Return(value)]))
    with pytest.raises(GuestTrap, match=f"returned {value}"):
        guest.call("op")


def test_error_then_trap_reports_both() -> None:
    guest = fake_guest(FakeModule(on_call=[*error(512, "bad input"), Trap("unreachable")]))
    with pytest.raises(GuestTrap) as info:
        guest.call("op")
    assert info.value.guest_error == "bad input"
    text = str(info.value)
    assert "unreachable" in text
    assert "bad input" in text


# -- per-call state --------------------------------------------------------------


def test_no_response_or_error_leaks_into_the_next_call() -> None:
    module = FakeModule(
        per_call=[
            [*respond(512, b"first"), *error(600, "first error"), Return(1)],
            [*request(), Return(1)],  # sets nothing: must not see call 1's response
            [*request(), Return(0)],  # must not see call 1's error
        ]
    )
    guest = fake_guest(module)
    assert guest.call("a") == b"first"
    assert guest.last.warnings
    with pytest.raises(GuestTrap, match="set no response"):
        guest.call("b")
    with pytest.raises(GuestError, match="without setting an error"):
        guest.call("c")
    assert guest.last.warnings == ()


def test_no_host_answer_leaks_into_the_next_call() -> None:
    module = FakeModule(
        per_call=[
            [*host_call("b", "ns", "op"), *relay_host_answer()],
            [call("__host_response_len", into="n"), call("__host_response", BUF)],
        ]
    )
    guest = fake_guest(module, host_call=lambda request: b"body")
    assert guest.call("a") == b"body"
    assert guest.last.host_calls == 1
    with pytest.raises(GuestTrap, match="no pending host response"):
        guest.call("b")
    assert module.last_instance is not None


def test_no_host_error_leaks_into_the_next_call() -> None:
    def failing(request: HostCallRequest) -> bytes:
        raise HostCallError("denied")

    module = FakeModule(
        per_call=[
            [*host_call("b", "ns", "op"), *relay_host_answer()],
            [call("__host_error_len", into="n"), call("__host_error", BUF)],
        ]
    )
    guest = fake_guest(module, host_call=failing)
    with pytest.raises(GuestError, match="denied"):
        guest.call("a")
    with pytest.raises(GuestTrap, match="no pending host error"):
        guest.call("b")


def test_each_host_call_replaces_response_and_error() -> None:
    def handler(request: HostCallRequest) -> bytes | HostReply:
        if request.operation == "fail":
            return HostReply(error="failed op")
        return request.operation.encode()

    seen: dict[str, int] = {}

    def probe(label: str) -> Step:
        def look(instance: FakeInstance) -> None:
            seen[f"{label}.resp"] = instance.functions[("wapc", "__host_response_len")]() or 0
            seen[f"{label}.err"] = instance.functions[("wapc", "__host_error_len")]() or 0

        return look

    module = FakeModule(
        on_call=[
            *host_call("b", "ns", "first"), probe("1"),
            *host_call("b", "ns", "fail"), probe("2"),
            *host_call("b", "ns", "third"), probe("3"),
            *relay_host_answer(),
        ]
    )
    guest = fake_guest(module, host_call=handler)
    assert guest.call("op") == b"third"
    assert seen == {
        "1.resp": 5, "1.err": 0,
        "2.resp": 0, "2.err": len("failed op"),  # the failure replaced the response
        "3.resp": 5, "3.err": 0,  # the success replaced the error
    }
    assert guest.last.host_calls == 3


def test_host_error_after_success_has_no_pending_error() -> None:
    module = FakeModule(on_call=[*host_call("b", "ns", "op"), call("__host_error", BUF)])
    guest = fake_guest(module, host_call=lambda request: b"ok")
    with pytest.raises(GuestTrap, match="__host_error called with no pending host error"):
        guest.call("op")


def test_host_response_before_any_host_call_is_a_trap() -> None:
    guest = fake_guest(FakeModule(on_call=[call("__host_response", BUF)]))
    with pytest.raises(GuestTrap, match="__host_response called with no pending host response"):
        guest.call("op")


# -- host errors -------------------------------------------------------------------


def test_host_error_length_is_utf8_bytes() -> None:
    message = "échec: 失敗 ✗"
    encoded = message.encode("utf-8")
    assert len(encoded) != len(message)
    module = FakeModule(
        on_call=[
            Write(BUF, b"\xaa" * 64),
            *host_call("b", "ns", "op"),
            call("__host_error_len", into="n"),
            call("__host_error", BUF),
            call("__guest_error", BUF, var("n")),
            Return(0),
        ]
    )

    def handler(request: HostCallRequest) -> bytes:
        raise HostCallError(message)

    guest = fake_guest(module, host_call=handler)
    with pytest.raises(GuestError) as info:
        guest.call("op")
    assert info.value.raw == encoded
    assert info.value.message == message
    memory = module.last_instance.memory if module.last_instance else None
    assert memory is not None
    # Exactly the encoded bytes were written: the sentinel right after is intact.
    assert bytes(memory.data[BUF + len(encoded) : BUF + len(encoded) + 4]) == b"\xaa" * 4


def test_no_handler_error_names_the_call() -> None:
    module = FakeModule(on_call=[*host_call("mybind", "myns", "myop"), *relay_host_answer()])
    guest = fake_guest(module)
    with pytest.raises(GuestError) as info:
        guest.call("op")
    assert info.value.message == "no host call handler for mybind:myns:myop"


def test_handler_exception_is_a_failed_host_call_not_an_escape() -> None:
    def buggy(request: HostCallRequest) -> bytes:
        raise ZeroDivisionError("division by zero")

    module = FakeModule(on_call=[*host_call("b", "ns", "op"), *relay_host_answer()])
    guest = fake_guest(module, host_call=buggy)
    with pytest.raises(GuestError) as info:
        guest.call("op")
    assert info.value.message == "host call handler raised ZeroDivisionError: division by zero"


def test_handler_returning_the_wrong_type_is_a_failed_host_call() -> None:
    module = FakeModule(on_call=[*host_call("b", "ns", "op"), *relay_host_answer()])
    guest = fake_guest(module, host_call=lambda request: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(GuestError, match="returned int, expected bytes"):
        guest.call("op")


def test_host_call_returns_1_and_0() -> None:
    results: list[int] = []

    def record(instance: FakeInstance) -> None:
        results.append(instance.variables["rc"])

    def handler(request: HostCallRequest) -> bytes:
        if request.payload == b"bad":
            raise HostCallError("bad", body=b"status body")
        return b""

    module = FakeModule(
        on_call=[
            *host_call("b", "ns", "op", b"good"), record,
            *host_call("b", "ns", "op", b"bad"), record,
            call("__host_response_len", into="rc"), record,
            *respond(512, b"done"), Return(1),
        ]
    )
    guest = fake_guest(module, host_call=handler)
    assert guest.call("op") == b"done"
    # A failed call may carry a body (Tarmac's status): its length stays readable.
    assert results == [1, 0, len(b"status body")]


def test_host_abort_ends_the_run_with_its_error() -> None:
    def abort(request: HostCallRequest) -> bytes:
        raise HostAbort(StubFailure("no stub rule matched b:ns:op"))

    module = FakeModule(on_call=[*host_call("b", "ns", "op"), *relay_host_answer()])
    guest = fake_guest(module, host_call=abort)
    with pytest.raises(StubFailure, match="no stub rule matched b:ns:op"):
        guest.call("op")


def test_host_abort_with_plain_exception_is_a_trap() -> None:
    def abort(request: HostCallRequest) -> bytes:
        raise HostAbort(RuntimeError("stop here"))

    module = FakeModule(on_call=[*host_call("b", "ns", "op"), Return(1)])
    guest = fake_guest(module, host_call=abort)
    with pytest.raises(GuestTrap, match="stop here"):
        guest.call("op")


# -- untrusted pointers ----------------------------------------------------------

OUT = PAGE - 2  # two bytes before the end of a one-page memory

# (import, module, args, what the message must name, pointer, length)
BAD_POINTERS = [
    ("__guest_request (operation)", "wapc", (OUT, 0), OUT, 4),
    ("__guest_request (payload)", "wapc", (0, OUT), OUT, 7),
    ("__guest_response", "wapc", (OUT, 3), OUT, 3),
    ("__guest_response", "wapc", (-1, 1), 0xFFFFFFFF, 1),
    ("__guest_response", "wapc", (0, -1), 0, 0xFFFFFFFF),
    ("__guest_error", "wapc", (OUT, 10), OUT, 10),
    ("__guest_error", "wapc", (-16, 4), 0xFFFFFFF0, 4),
    ("__host_call (binding)", "wapc", (OUT, 3, 0, 1, 0, 1, 0, 1), OUT, 3),
    ("__host_call (namespace)", "wapc", (0, 1, OUT, 3, 0, 1, 0, 1), OUT, 3),
    ("__host_call (operation)", "wapc", (0, 1, 0, 1, OUT, 3, 0, 1), OUT, 3),
    ("__host_call (payload)", "wapc", (0, 1, 0, 1, 0, 1, -2, 8), 0xFFFFFFFE, 8),
    ("__console_log", "wapc", (0, 0x7FFFFFFF), 0, 0x7FFFFFFF),
    ("env.__console_log", "env", (OUT, 5), OUT, 5),
]


@pytest.mark.parametrize(
    ("what", "module_name", "args", "pointer", "length"),
    BAD_POINTERS,
    ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_POINTERS)],
)
def test_out_of_range_pointer_is_a_trap_naming_it(
    what: str, module_name: str, args: tuple[int, ...], pointer: int, length: int
) -> None:
    name = what.split(" ")[0].removeprefix("env.")
    module = FakeModule(on_call=[call(name, *args, module=module_name), Return(1)])
    calls: list[HostCallRequest] = []
    guest = fake_guest(module, host_call=lambda r: calls.append(r) or b"")
    with pytest.raises(GuestTrap) as info:
        guest.call("echo", b"payload")
    message = str(info.value)
    assert message.startswith(f"{what}: pointer {pointer:#x} + length {length} ")
    assert f"({PAGE} bytes)" in message
    assert calls == []  # the handler never ran on garbage
    assert module.last_instance is not None
    assert module.last_instance.memory.violations == []


@pytest.mark.parametrize(
    ("what", "import_name", "body", "error_text"),
    [
        ("__host_response", "__host_response", b"12345", None),
        ("__host_error", "__host_error", b"", "12345"),
    ],
)
def test_out_of_range_host_answer_write_is_a_trap(
    what: str, import_name: str, body: bytes, error_text: str | None
) -> None:
    module = FakeModule(on_call=[*host_call("b", "ns", "op"), call(import_name, OUT)])
    guest = fake_guest(module, host_call=lambda r: HostReply(body, error_text))
    with pytest.raises(GuestTrap) as info:
        guest.call("op")
    assert str(info.value).startswith(f"{what}: pointer {OUT:#x} + length 5 ")


def test_abort_reads_assemblyscript_strings() -> None:
    def as_string(text: str) -> bytes:
        data = text.encode("utf-16-le")
        return len(data).to_bytes(4, "little") + data

    module = FakeModule(
        on_call=[
            Write(96, as_string("boom")),
            Write(196, as_string("assembly/index.ts")),
            call("abort", 100, 200, 12, 5, module="env"),
        ]
    )
    guest = fake_guest(module)
    with pytest.raises(GuestTrap) as info:
        guest.call("op")
    assert str(info.value) == "abort: boom at assembly/index.ts:12:5"


def test_abort_with_bad_string_pointers_still_traps_cleanly() -> None:
    module = FakeModule(on_call=[call("abort", -8, 2, 1, 2, module="env")])
    guest = fake_guest(module)
    with pytest.raises(GuestTrap) as info:
        guest.call("op")
    assert str(info.value) == "abort: abort at ?:1:2"


# -- logging -------------------------------------------------------------------------


def test_console_logs_go_to_on_log_with_their_source() -> None:
    logs: list[tuple[str, str]] = []
    module = FakeModule(
        on_call=[
            Write(700, "héllo".encode()),
            call("__console_log", 700, len("héllo".encode())),
            call("__console_log", 700, 6, module="env"),
            *respond(512, b"r"),
            Return(1),
        ]
    )
    guest = fake_guest(module, on_log=lambda message, source: logs.append((message, source)))
    assert guest.call("op") == b"r"
    assert logs == [("héllo", "wapc"), ("héllo", "env")]


# -- lifecycle -------------------------------------------------------------------------


def test_instance_is_rebuilt_after_a_trap_and_init_runs_again() -> None:
    module = FakeModule(
        init={"wapc_init": [Write(0, b"\x07")]},
        per_call=[
            [lambda instance: instance.memory.data.__setitem__(0, 9), *respond(512, b"one")],
            [Trap("boom")],
            [lambda instance: _check_fresh(instance), *respond(512, b"three")],
        ],
    )
    guest = fake_guest(module)
    assert module.instantiations == 1
    assert guest.call("a") == b"one"
    with pytest.raises(GuestTrap, match="boom"):
        guest.call("b")
    assert module.instantiations == 1  # rebuilt lazily, before the next call
    assert guest.call("c") == b"three"
    assert module.instantiations == 2
    assert module.init_runs == ["wapc_init", "wapc_init"]


def _check_fresh(instance: FakeInstance) -> None:
    # The new instance's memory starts from scratch plus what init wrote.
    assert instance.memory.data[0] == 7


def test_host_fault_rebuilds_too() -> None:
    module = FakeModule(
        per_call=[[call("__guest_response", -1, 4)], [*respond(512, b"ok")]]
    )
    guest = fake_guest(module)
    with pytest.raises(GuestTrap):
        guest.call("a")
    assert guest.call("b") == b"ok"
    assert module.instantiations == 2


def test_host_calls_are_allowed_during_init() -> None:
    seen: list[str] = []

    def handler(request: HostCallRequest) -> bytes:
        seen.append(request.key)
        return b"config"

    module = FakeModule(
        init={"wapc_init": [*host_call("init", "cfg", "load"), call("__host_response", BUF)]},
        on_call=[*respond(512, b"ok")],
    )
    guest = fake_guest(module, host_call=handler)
    assert seen == ["init:cfg:load"]
    assert guest.call("op") == b"ok"


def test_init_trap_is_reported_with_its_phase() -> None:
    module = FakeModule(init={"wapc_init": [Trap("init failed")]})
    with pytest.raises(GuestTrap) as info:
        fake_guest(module)
    assert info.value.phase == "wapc_init"
    assert "init failed" in str(info.value)


def test_start_section_trap_is_reported_with_its_phase() -> None:
    module = FakeModule(start=[Trap("start failed")])
    with pytest.raises(GuestTrap) as info:
        fake_guest(module)
    assert info.value.phase == "instantiation (start section)"


def test_init_order() -> None:
    module = FakeModule(init={"wapc_init": [], "_initialize": [], "_start": []})
    fake_guest(module)
    assert module.init_runs == ["_start", "_initialize", "wapc_init"]


def test_guest_memory_growth_is_seen_by_bounds_checks() -> None:
    def grow(instance: FakeInstance) -> None:
        instance.memory.grow(1)

    module = FakeModule(on_call=[grow, *respond(PAGE + 100, b"high"), Return(1)])
    assert fake_guest(module).call("op") == b"high"


def test_last_is_the_latest_calls_record_across_init_and_a_failed_rebuild() -> None:
    """``guest.last`` never shows init's host calls, and keeps the trapped call's
    record when the rebuild after it fails in init (init resets the session)."""

    def trap_when_rebuilt(instance: FakeInstance) -> None:
        if instance.module.instantiations > 1:
            raise EngineTrap(EngineTrapInfo("unreachable", ("wapc_init @ 0x0",)))

    module = FakeModule(
        init={"wapc_init": [*host_call("b", "ns", "init"), trap_when_rebuilt]},
        per_call=[
            [*request(), *host_call("b", "ns", "one"), *respond(512, b"ok"), Return(1)],
            [*request(), *host_call("b", "ns", "one"), *host_call("b", "ns", "two"), Trap()],
        ],
    )
    seen: list[str] = []
    guest = fake_guest(module, host_call=lambda request: seen.append(request.operation) or b"")
    assert seen == ["init"]
    assert guest.last.host_calls == 0  # no call yet: init's host call is not one
    assert guest.call("a") == b"ok"
    assert guest.last.host_calls == 1
    with pytest.raises(GuestTrap, match="unreachable"):
        guest.call("b")
    assert guest.last.host_calls == 2
    for _ in range(2):  # each rebuild traps in wapc_init (after its host call)
        with pytest.raises(GuestTrap, match="wapc_init"):
            guest.call("c")
        assert guest.last.host_calls == 2  # still the trapped call's record
    assert seen == ["init", "one", "one", "two", "init", "init"]
