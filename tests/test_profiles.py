"""Host profiles through the Python API: each row of docs/hosts.md a test, on every engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import WAPC_IMPORTS, module_from_wat
from profile_guests import (
    ABORT_WAT,
    CARRY_WAT,
    COUNTER_WAT,
    ECHO_WAT,
    EXIT_ZERO_WAT,
    FD_WRITE_WAT,
    INIT_REQUEST_WAT,
    INIT_TRAP_WAT,
    PROBE_WAT,
    REACTOR_ERROR,
    REACTOR_WAT,
    probe_answer,
    result_wat,
)

from wapc_cli.errors import GuestError, GuestTrap, UsageError
from wapc_cli.runtime.events import Event
from wapc_cli.runtime.guest import WapcModule, read_module_file
from wapc_cli.runtime.hostcalls import HostCallError, HostCallRequest
from wapc_cli.runtime.profiles import (
    LIBRARY_PROFILES,
    PROFILES,
    WAPC,
    HostProfile,
    get_profile,
)


def failing(message: str, body: bytes = b"") -> object:
    def handler(request: HostCallRequest) -> bytes:
        raise HostCallError(message, body)

    return handler


# -- the data ----------------------------------------------------------------------------
def test_every_library_row_cites_its_source() -> None:
    rows = ("init_exports", "host_response_after_failed_call", "no_handler_error",
            "env_imports", "result_rule")
    for profile in LIBRARY_PROFILES[1:]:
        for row in rows:
            assert profile.sources.get(row), (profile.name, row)


def test_platforms_are_their_library_plus_their_settings() -> None:
    assert PROFILES["tarmac"].base == "wapc-go" and PROFILES["tarmac"].preset == "tarmac"
    assert PROFILES["tarmac"].init_exports == PROFILES["wapc-go"].init_exports
    kubewarden = PROFILES["kubewarden"]
    assert kubewarden.base == "wapc-rs" and kubewarden.preset == "kubewarden"
    assert kubewarden.fresh_instance_per_call and kubewarden.default_timeout_s == 2.0
    assert PROFILES["wasmcloud"].base == "wapc-rs" and PROFILES["wasmcloud"].wasi_modules == ()


def test_unknown_profile_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown host profile 'wapc-zz'"):
        get_profile("wapc-zz")
    assert get_profile(None) is WAPC and get_profile("WAPC-RS").name == "wapc-rs"


def test_default_profile_keeps_the_hot_path(engine_name: str) -> None:
    module = module_from_wat(ECHO_WAT, engine_name)
    plain, named = module.instantiate(), module.instantiate(profile="wapc")
    assert named.call("echo", b"x") == plain.call("echo", b"x") == b"x"
    assert named.__dict__["_rules"] is None  # nothing applied, nothing loaded for it
    if plain.__dict__["_hot_call"] is not None:
        assert named.__dict__["_hot_call"] is not None


# -- a) init ------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["wapc", "wapc-go", "tarmac"])
def test_reactor_answers_where_initialize_is_called(engine_name: str, profile: str) -> None:
    guest = module_from_wat(REACTOR_WAT, engine_name).instantiate(profile=profile)
    assert guest.call("echo", b"hi") == b"hi"


@pytest.mark.parametrize("profile", ["wapc-rs", "wapc-js", "kubewarden", "wasmcloud"])
def test_reactor_fails_where_initialize_is_not_called(engine_name: str, profile: str) -> None:
    events: list[Event] = []
    guest = module_from_wat(REACTOR_WAT, engine_name).instantiate(
        profile=profile, tracer=events.append)
    with pytest.raises(GuestError) as caught:
        guest.call("echo", b"hi")
    assert caught.value.exit_code == 1 and REACTOR_ERROR in str(caught.value)
    skipped = [e for e in events if getattr(e, "step", "") == "_initialize"]
    assert skipped and skipped[0].outcome == "skipped"  # type: ignore[attr-defined]
    assert skipped[0].deviation is not None and "`_initialize`" in skipped[0].deviation


def test_exit_zero_in_start(engine_name: str) -> None:
    module = module_from_wat(EXIT_ZERO_WAT, engine_name)
    assert module.instantiate(profile="wapc").call("echo", b"a") == b"a"
    assert module.instantiate(profile="wapc-rs").call("echo", b"a") == b"a"  # ignored
    closed = module.instantiate(profile="wapc-go")  # wazero: proc_exit closes the module
    for _ in range(2):
        with pytest.raises(GuestTrap, match=r"module closed with exit_code\(0\)"):
            closed.call("echo", b"a")
    # @wapc/host's WASI stub has no proc_exit: linking fails
    with pytest.raises(GuestTrap, match=r'Import #0 "wasi_snapshot_preview1" "proc_exit"'):
        module.instantiate(profile="wapc-js")


@pytest.mark.parametrize(("profile", "text"), [
    ("wapc", "guest trapped"),
    ("wapc-rs", "Initialization failed: Initialization failed: guest trapped"),
    ("wapc-go", "error calling wapc_init: guest trapped"),
])
def test_init_trap_in_each_hosts_words(engine_name: str, profile: str, text: str) -> None:
    with pytest.raises(GuestTrap, match=text) as caught:
        module_from_wat(INIT_TRAP_WAT, engine_name).instantiate(profile=profile)
    assert caught.value.exit_code == 3


def test_guest_request_during_init_throws_only_in_wapc_js(engine_name: str) -> None:
    module = module_from_wat(INIT_REQUEST_WAT, engine_name)
    assert module.instantiate(profile="wapc-rs").call("echo", b"z") == b"z"
    with pytest.raises(GuestTrap, match="__guest_request called without an invocation"):
        module.instantiate(profile="wapc-js")


# -- b) and c): what a guest sees after a failed host call ---------------------------------
def test_host_response_len_after_a_failed_call_with_a_body(engine_name: str) -> None:
    module = module_from_wat(PROBE_WAT, engine_name)
    handler = failing("denied", b"status-body")
    seen = {p: probe_answer(module.instantiate(handler, profile=p).call("x", b"pl"))
            for p in ("wapc", "wapc-go", "tarmac", "wapc-rs", "wapc-js")}
    assert seen["wapc-go"] == seen["tarmac"] == (0, len(b"status-body"), b"denied")
    assert seen["wapc"] == (0, len(b"status-body"), b"denied")
    assert seen["wapc-rs"] == (0, 0, b"denied")
    assert seen["wapc-js"] == (0, 0, b"Error: denied")  # '' + e


def test_no_handler_error_texts(engine_name: str) -> None:
    module = module_from_wat(PROBE_WAT, engine_name)
    seen = {p: probe_answer(module.instantiate(profile=p).call("x", b""))
            for p in ("wapc", "wapc-rs", "wapc-go", "wapc-js")}
    assert seen["wapc"] == (0, 0, b"no host call handler for b:n:op")
    assert seen["wapc-rs"] == (0, 0, b"Missing host callback function!")
    assert seen["wapc-go"] == (0, 0, b"")  # a nil handler: no error text at all
    assert seen["wapc-js"] == (0, 0, b"Error: Host call not implemented. Guest called host "
                               b"with binding = 'b', namespace = 'n', & operation = 'op'")


def test_wapc_js_counts_the_host_error_in_utf16_units(engine_name: str) -> None:
    module = module_from_wat(PROBE_WAT, engine_name)
    handler = failing("ünï")
    assert probe_answer(module.instantiate(handler).call("x", b""))[2] == "ünï".encode()
    # "Error: ünï" is 10 UTF-16 units, 12 UTF-8 bytes: the guest gets the first 10 bytes.
    assert probe_answer(module.instantiate(handler, profile="wapc-js").call("x", b""))[2] == \
        "Error: ünï".encode()[:10]


def test_deviation_is_marked_on_the_host_call_step(engine_name: str) -> None:
    events: list[Event] = []
    guest = module_from_wat(PROBE_WAT, engine_name).instantiate(
        failing("denied", b"body"), profile="wapc-rs", tracer=events.append)
    guest.call("x", b"")
    marked = [e for e in events if e.deviation]
    assert [e.name for e in marked] == ["host_call"]
    assert "wapc-rs clears the host response" in (marked[0].deviation or "")
    plain: list[Event] = []
    module_from_wat(PROBE_WAT, engine_name).instantiate(
        failing("denied", b"body"), tracer=plain.append).call("x", b"")
    assert not [e for e in plain if e.deviation]  # the default deviates from nothing


# -- d) and e): imports beyond the nine, WASI -------------------------------------------------
def test_env_abort(engine_name: str) -> None:
    module = module_from_wat(ABORT_WAT, engine_name)
    assert module.instantiate(profile="wapc").call("echo") == b"ok"
    for profile, text in (("wapc-rs", r"env.*abort"), ("wapc-js", r'"env": module is not')):
        with pytest.raises(GuestTrap, match=text) as caught:
            module.instantiate(profile=profile)
        assert caught.value.phase == "instantiation"
    with pytest.raises(GuestTrap, match=r"abort: abort at \?:1:2"):
        module.instantiate(profile="wapc").call("abort")
    go = module.instantiate(profile="wapc-go")
    assert go.call("echo") == b"ok"
    closed = r"error invoking guest: module closed with exit_code\(255\)"
    with pytest.raises(GuestTrap, match=closed):
        go.call("abort")
    with pytest.raises(GuestTrap, match=r"exit_code\(255\)"):  # and it stays closed
        go.call("echo")


def test_wasi_fd_write(engine_name: str) -> None:
    module = module_from_wat(FD_WRITE_WAT, engine_name)
    logs: list[tuple[str, str]] = []
    spec = module.instantiate(on_log=lambda m, s: logs.append((s, m))).call("w")
    assert int.from_bytes(spec, "little") == 0 and ("wasi:stdout", "hello") in logs
    logs.clear()
    js = module.instantiate(on_log=lambda m, s: logs.append((s, m)), profile="wapc-js").call("w")
    assert int.from_bytes(js, "little") == 6 and logs == []  # byte count as errno, dropped
    assert int.from_bytes(module.instantiate(profile="wapc-go").call("w"), "little") == 0
    with pytest.raises(GuestTrap, match=r"wasi_snapshot_preview1.*fd_write"):
        module.instantiate(profile="wasmcloud")  # wasm3-provider 0.0.2 offers no WASI


# -- f) per-call state ---------------------------------------------------------------------
def test_after_a_trap(engine_name: str) -> None:
    module = module_from_wat(COUNTER_WAT, engine_name)
    for profile, after in (("wapc", 1), ("wapc-rs", 3), ("wapc-go", 3), ("wapc-js", 3)):
        guest = module.instantiate(profile=profile)
        assert guest.call("count") == b"\x01"
        with pytest.raises(GuestTrap):
            guest.call("trap")
        assert guest.call("count") == bytes([after]), profile  # rebuilt, or reused


def test_kubewarden_builds_a_fresh_instance_per_call(engine_name: str) -> None:
    module = module_from_wat(COUNTER_WAT, engine_name)
    kubewarden = module.instantiate(profile="kubewarden")
    assert [kubewarden.call("count") for _ in range(3)] == [b"\x01"] * 3
    same = module.instantiate(profile="wapc-rs")
    assert [same.call("count") for _ in range(3)] == [b"\x01", b"\x02", b"\x03"]


def test_wapc_js_keeps_the_previous_response(engine_name: str) -> None:
    module = module_from_wat(CARRY_WAT, engine_name)
    outcomes: dict[str, object] = {}
    for profile in ("wapc", "wapc-rs", "wapc-go", "wapc-js"):
        guest = module.instantiate(profile=profile)
        assert guest.call("set") == b"first"
        try:
            outcomes[profile] = guest.call("none")
        except (GuestError, GuestTrap) as exc:
            outcomes[profile] = (type(exc).__name__, str(exc))
    assert outcomes["wapc-js"] == b"first"
    assert outcomes["wapc-go"] == b""
    assert outcomes["wapc-rs"] == ("GuestError", "Guest call failure: No error message OR "
                                   "response set for call success")
    assert outcomes["wapc"][0] == "GuestTrap"  # type: ignore[index]


# -- g) the result of __guest_call -------------------------------------------------------------
def outcome(text: str, engine: str, profile: str) -> object:
    try:
        return module_from_wat(text, engine).instantiate(profile=profile).call("op")
    except (GuestError, GuestTrap) as exc:
        return type(exc).__name__, str(exc)


def test_response_and_error_set_and_1_returned(engine_name: str) -> None:
    both = result_wat(response=True, error=True, returns=1)
    assert outcome(both, engine_name, "wapc") == b"response"  # with a warning
    assert outcome(both, engine_name, "wapc-rs") == b"response"  # a set response wins
    assert outcome(both, engine_name, "wapc-go") == ("GuestError", "guest-fail")  # error wins


def test_guest_response_clears_the_error_in_wapc_js(engine_name: str) -> None:
    both = result_wat(response=True, error=True, returns=1)  # error first, then response
    assert outcome(both, engine_name, "wapc-js") == b"response"
    after = result_wat(response=True, error=True, returns=1, error_first=False)
    assert outcome(after, engine_name, "wapc-js") == b"response"  # any non-zero: success
    assert outcome(after, engine_name, "wapc-go") == ("GuestError", "guest-fail")


def test_any_non_zero_result(engine_name: str) -> None:
    two = result_wat(response=True, error=False, returns=2)
    assert outcome(two, engine_name, "wapc-js") == b"response"
    assert outcome(two, engine_name, "wapc-rs") == b"response"
    assert outcome(two, engine_name, "wapc-go") == (
        "GuestError", 'call to "op" was unsuccessful')
    assert outcome(two, engine_name, "wapc")[0] == "GuestTrap"  # type: ignore[index]


def test_zero_without_an_error(engine_name: str) -> None:
    bare = result_wat(response=False, error=False, returns=0)
    assert outcome(bare, engine_name, "wapc-rs") == (
        "GuestError", "Guest call failure: No error message set for call failure")
    assert outcome(bare, engine_name, "wapc-go") == (
        "GuestError", 'call to "op" was unsuccessful')


def test_profile_is_plain_data() -> None:
    import pickle

    for profile in PROFILES.values():
        assert isinstance(profile, HostProfile)
        assert pickle.loads(pickle.dumps(profile)) == profile


# -- a real reactor: C built with -mexec-model=reactor (sample_guests/c/c_reactor.c) ----------
C_REACTOR = Path(__file__).parent.parent / "sample_guests" / "build" / "c_reactor.wasm"


def test_c_reactor_constructors_run_only_where_initialize_is_called(engine_name: str) -> None:
    module = WapcModule.from_bytes(read_module_file(C_REACTOR), engine=engine_name)
    counts = {p: module.instantiate(profile=p).call("init_count")
              for p in ("wapc", "wapc-go", "wapc-rs")}
    assert counts == {"wapc": b"1", "wapc-go": b"1", "wapc-rs": b"0"}
    with pytest.raises(GuestTrap, match="fd_close"):  # beyond @wapc/host's 3-function stub
        module.instantiate(profile="wapc-js")


def test_result_rule_deviation_is_marked_on_the_return_step(engine_name: str) -> None:
    events: list[Event] = []
    guest = module_from_wat(result_wat(response=True, error=True, returns=1), engine_name) \
        .instantiate(profile="wapc-go", tracer=events.append)
    with pytest.raises(GuestError):
        guest.call("op")
    marked = [(e.name, e.deviation) for e in events if e.deviation]
    assert marked == [("return", "wapc-go lets a guest error win even though __guest_call "
                                 "returned 1")]


EXIT_THREE_WAT = EXIT_ZERO_WAT.replace("(call $proc_exit (i32.const 0))",
                                       "(call $proc_exit (i32.const 3))")


@pytest.mark.parametrize(("profile", "text"), [
    ("wapc", r"guest exited with proc_exit\(3\)"),
    ("wapc-rs", "^Initialization failed: Initialization failed: Exited with i32 exit status 3"),
    ("wapc-go", r"^module closed with exit_code\(3\)"),
])
def test_init_exit_non_zero_in_each_hosts_words(engine_name: str, profile: str, text: str) -> None:
    with pytest.raises(GuestTrap, match=text):
        module_from_wat(EXIT_THREE_WAT, engine_name).instantiate(profile=profile)


def test_suite_schema_names_every_profile() -> None:
    import json
    from importlib import resources

    schema = json.loads(resources.files("wapc_cli").joinpath(
        "schemas/suite.schema.json").read_text("utf-8"))
    assert tuple(schema["$defs"]["host"]["enum"]) == tuple(PROFILES)


def test_an_empty_guest_error_is_no_error_in_wapc_go(engine_name: str) -> None:
    """wapc-go checks `ic.guestErr != ""`: an error of length 0 does not win (wazero.go)."""
    empty_error = result_wat(response=True, error=True, returns=1).replace(
        "(call $guest_error (i32.const 48) (i32.const 10))",
        "(call $guest_error (i32.const 48) (i32.const 0))")
    assert outcome(empty_error, engine_name, "wapc-go") == b"response"
    failed = empty_error.replace("(i32.const 1)))", "(i32.const 0)))")
    assert outcome(failed, engine_name, "wapc-go") == (
        "GuestError", 'call to "op" was unsuccessful')


def test_wapc_js_link_errors_read_as_webassembly_instantiate_words(engine_name: str) -> None:
    """@wapc/host links with WebAssembly.instantiate(source, imports) and prefixes the
    rejection with `Invalid wasm binary: ` (wapc-host.ts, errors.ts); it has no `env`."""
    module = module_from_wat(ABORT_WAT, engine_name)
    with pytest.raises(GuestTrap) as caught:
        module.instantiate(profile="wapc-js")
    index = next(i for i, d in enumerate(module.compiled.imports) if d.module == "env")
    assert caught.value.message == (
        f'Invalid wasm binary: WebAssembly.instantiate(): Import #{index} "env": module is '
        "not an object or function")
    reactor = read_module_file(C_REACTOR)
    with pytest.raises(GuestTrap, match=r'^Invalid wasm binary: WebAssembly\.instantiate\(\): '
                       r'Import #\d+ "wasi_snapshot_preview1" "fd_\w+": function import '
                       r"requires a callable"):
        WapcModule.from_bytes(reactor, engine=engine_name).instantiate(profile="wapc-js")


def test_wapc_go_link_errors_are_wazeros(engine_name: str) -> None:
    """wapc-go's Instantiate returns wazero's resolveImports error as it is: `env` exists
    (AssemblyScript's functions) but has no `__console_log`; there is no `wasi_unstable`."""
    console = """(module (import "env" "__console_log" (func (param i32 i32)))
      (memory (export "memory") 1)
      (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"""
    with pytest.raises(GuestTrap) as caught:
        module_from_wat(console, engine_name).instantiate(profile="wapc-go")
    assert caught.value.message == '"__console_log" is not exported in module "env"'
    unstable = console.replace('"env" "__console_log" (func (param i32 i32))',
                               '"wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) '
                               "(result i32))")
    with pytest.raises(GuestTrap) as caught:
        module_from_wat(unstable, engine_name).instantiate(profile="wapc-go")
    assert caught.value.message == "module[wasi_unstable] not instantiated"


NOT_UTF8_WAT = f"""(module {WAPC_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "b\\ffop") (data (i32.const 16) "\\ff\\fehi")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (if (i32.eq (local.get $op_len) (i32.const 3))  ;; "log"
      (then (call $console_log (i32.const 16) (i32.const 4))))
    (if (i32.eq (local.get $op_len) (i32.const 4))  ;; "call": namespace "\\ff"
      (then (drop (call $host_call (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 1)
                                   (i32.const 2) (i32.const 2) (i32.const 0) (i32.const 0)))))
    (if (i32.eq (local.get $op_len) (i32.const 5))  ;; "error"
      (then (call $guest_error (i32.const 1) (i32.const 2)) (return (i32.const 0))))
    (call $guest_response (i32.const 18) (i32.const 2))
    (i32.const 1)))"""


@pytest.mark.parametrize(("operation", "text"), [
    ("log", "console_log: cannot convert message to UTF8: Utf8Error { valid_up_to: 0, "
            "error_len: Some(1) }"),
    ("call", "host_call: cannot convert ns to UTF8: Utf8Error { valid_up_to: 0, "
             "error_len: Some(1) }"),
    ("error", "guest_error_func: cannot convert message to UTF8: FromUtf8Error { bytes: "
              "[255, 111], error: Utf8Error { valid_up_to: 0, error_len: Some(1) } }"),
])
def test_wapc_rs_traps_on_guest_text_that_is_not_utf8(
    engine_name: str, operation: str, text: str
) -> None:
    """wapc-rs's imports convert with `std::str::from_utf8(..)?` (callbacks.rs:49-75)."""
    module = module_from_wat(NOT_UTF8_WAT, engine_name)
    for profile in ("wapc", "wapc-go", "wapc-js"):  # they replace or keep the bytes
        try:
            module.instantiate(profile=profile).call(operation)
        except GuestError:
            assert operation in ("call", "error")  # no handler / the guest's own error
    for profile in ("wapc-rs", "kubewarden", "wasmcloud"):
        with pytest.raises(GuestTrap) as caught:
            module.instantiate(profile=profile).call(operation)
        assert caught.value.message == f"Guest call failure: {text}"
