"""Host profiles as data: how wapc-rs, wapc-go and @wapc/host behave where the waPC spec is silent.

One :class:`HostProfile` per host library, each field a row of the
comparison in ``docs/hosts.md`` (rows a-g) with the source it was read from
in ``sources``. :mod:`.profile_rules` is the one place that acts on a
profile; nothing else in the runtime branches on a host's name. The default,
``wapc``, is this project's strict reading of the spec: a guest run under it
behaves exactly as one run with no profile at all (and takes the same fast path).

Platform profiles (``tarmac``, ``kubewarden``, ``wasmcloud``) are a library
profile plus the platform's own settings: its preset, a fresh instance per
request, a default time limit, the WASI it offers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..errors import UsageError

#: Citation prefixes (repository @ commit, as in docs/hosts.md).
RS = "wapc/wapc-rs@44c95a1"
GO = "wapc/wapc-go@a72aedb"
JS = "wapc/wapc-js@0fc7c54"
WZ = "tetratelabs/wazero@v1.9.0"


class HostProfile(NamedTuple):
    """How one host runs a waPC guest. Every field is plain data (it pickles to a child)."""

    name: str
    #: Who behaves this way, as trace deviations and ``wapc compat`` name it.
    label: str
    #: The library and version the rows were read from.
    library: str
    # -- a) init --------------------------------------------------------------------
    #: The init exports called after instantiation, in order, when the guest has them.
    init_exports: tuple[str, ...] = ("_start", "_initialize", "wapc_init")
    #: WASI ``proc_exit(0)`` during init: "continue" (the instance stays usable) or
    #: "close" (wazero: the module is closed, every later call fails).
    init_exit_zero: str = "continue"
    #: How an init failure reads ({export}: the init export, {error}: what went wrong).
    init_failure: str = "{error}"
    #: How a ``proc_exit(N)`` reads as an error ({code}).
    exit_text: str = "guest exited with proc_exit({code})"
    #: How an init export's ``proc_exit(N)``, N != 0, fails init ({export}, {error}: exit_text).
    init_exit_failure: str = "{error}"
    #: What ``__guest_request`` does outside a guest call (during init): None writes
    #: nothing; a text is an error that ends init.
    guest_request_outside_call: str | None = None
    # -- b) the host response after a failed host call ------------------------------
    #: "body": the body the handler returned with its error; "empty": length 0.
    host_response_after_failed_call: str = "body"
    # -- c) host error texts ----------------------------------------------------------
    #: The host error when nothing answers host calls ({binding}, {namespace},
    #: {operation}); None: the call fails with NO error text and the host response
    #: left as it was (wapc-go's nil handler).
    no_handler_error: str | None = "no host call handler for {binding}:{namespace}:{operation}"
    #: How a handler's error reaches the guest ({message}).
    host_error_format: str = "{message}"
    #: What ``__host_error_len`` counts: "utf8" bytes, or "utf16" code units (the
    #: UTF-8 bytes are then written cut to that many: non-ASCII text is truncated).
    host_error_length: str = "utf8"
    # -- d) imports beyond the nine ---------------------------------------------------
    #: The ``env`` imports offered and what each does: "trap" (AssemblyScript's abort
    #: as a trap), "exit" (abort closes the module with exit code 255), "log"
    #: (``env.__console_log``). Any other import fails instantiation.
    env_imports: Mapping[str, str] = {"abort": "trap", "__console_log": "log"}
    #: Text the guest hands over (``__console_log``, ``__host_call``'s binding, namespace
    #: and operation, ``__guest_error``) must be UTF-8, else the import traps.
    strict_utf8: bool = False
    #: How a missing import fails instantiation ({module}, {name}, {index}: its place
    #: among the module's imports, from 0).
    unknown_import: str = "unknown import: `{module}::{name}` has not been defined"
    #: How an import from a module the host does not have at all fails ({module},
    #: {index}); None: as ``unknown_import``.
    unknown_module: str | None = None
    # -- e) WASI -------------------------------------------------------------------------
    #: The modules the full WASI preview1 is offered under.
    wasi_modules: tuple[str, ...] = ("wasi_snapshot_preview1", "wasi_unstable")
    #: The modules @wapc/host's three-function WASI stub is offered under.
    wasi_stub_modules: tuple[str, ...] = ()
    # -- f) per-call state -------------------------------------------------------------
    #: Guest response and error start empty for each call (False: the previous call's stay).
    reset_per_call: bool = True
    #: ``__guest_response`` clears an error the guest set before it.
    guest_response_clears_error: bool = False
    #: A trap throws the instance away (False: the same instance serves the next call).
    rebuild_after_trap: bool = True
    #: Every call gets a new instance (and runs init again): a platform's choice.
    fresh_instance_per_call: bool = False
    # -- g) the result of __guest_call ----------------------------------------------------
    #: Which rule turns (result, response, error) into the answer: see
    #: :func:`wapc_cli.runtime.outcome.profile_result`.
    result_rule: str = "wapc"
    #: How a guest's error reads to the embedder ({error}).
    guest_error_format: str = "{error}"
    #: How a trap during a call reads ({error}).
    trap_format: str = "{error}"
    # -- the platform ------------------------------------------------------------------------
    #: The host-call preset the platform answers with.
    preset: str | None = None
    #: The platform's default time limit per call, in seconds (None: wapc's own default).
    default_timeout_s: float | None = None
    #: For a platform: the library profile it is built on.
    base: str | None = None
    #: Where each field was read: field name -> "repo@commit path:lines".
    sources: Mapping[str, str] = {}

    @property
    def is_default(self) -> bool:
        """This is the spec's behaviour: the runtime applies nothing."""
        return self.name == DEFAULT_PROFILE


DEFAULT_PROFILE = "wapc"

WAPC = HostProfile(
    name="wapc", label="wapc", library="wapc (this project): the spec, strictly",
    sources={"init_exports": "docs/wapc-abi.md 'What real guests add'"},
)

WAPC_RS = HostProfile(
    name="wapc-rs", label="wapc-rs", library="wapc 2.2.0 + wasmtime-provider 2.22.0",
    init_exports=("_start", "wapc_init"),
    init_exit_zero="continue",
    init_failure="Initialization failed: Initialization failed: {error}",
    exit_text="Exited with i32 exit status {code}",
    init_exit_failure="Initialization failed: Initialization failed: {error}",
    host_response_after_failed_call="empty",
    no_handler_error="Missing host callback function!",
    env_imports={},
    strict_utf8=True,
    wasi_modules=("wasi_snapshot_preview1", "wasi_unstable"),
    result_rule="wapc-rs",
    guest_error_format="Guest call failure: {error}",
    trap_format="Guest call failure: {error}",
    rebuild_after_trap=False,
    sources={
        "init_exports": f"{RS} crates/wapc/src/wapc_functions.rs:28-32",
        "init_exit_zero": f"{RS} crates/wasmtime-provider/src/provider.rs:259-285",
        "init_failure": f"{RS} crates/wasmtime-provider/src/errors.rs:12-17, "
                        "crates/wapc/src/wapchost/host.rs:45-50",
        "host_response_after_failed_call": f"{RS} crates/wapc/src/wapchost/modulestate.rs:87-113",
        "no_handler_error": f"{RS} crates/wasmtime-provider/src/callbacks.rs:110-111,149-170",
        "env_imports": f"{RS} crates/wasmtime-provider/src/callbacks.rs:8-20",
        "strict_utf8": f"{RS} crates/wasmtime-provider/src/callbacks.rs:49-75 "
                       "(std::str::from_utf8 / String::from_utf8, then `?`)",
        "wasi_modules": f"{RS} crates/wasmtime-provider/src/provider.rs:38-57",
        "reset_per_call": f"{RS} crates/wapc/src/wapchost/host.rs:66-114",
        "rebuild_after_trap": f"{RS} crates/wasmtime-provider/src/provider.rs:186-215",
        "result_rule": f"{RS} crates/wapc/src/wapchost/host.rs:66-114",
    },
)

WAPC_GO = HostProfile(
    name="wapc-go", label="wapc-go", library="wapc-go v0.7.2 + engines/wazero (wazero v1.9.0)",
    init_exports=("_start", "_initialize", "wapc_init"),
    init_exit_zero="close",
    init_failure="error calling {export}: {error}",
    exit_text="module closed with exit_code({code})",
    host_response_after_failed_call="body",
    no_handler_error=None,
    env_imports={"abort": "exit"},
    # Instantiate returns wazero's link error as it is (store.go resolveImports, getExport).
    unknown_import='"{name}" is not exported in module "{module}"',
    unknown_module="module[{module}] not instantiated",
    wasi_modules=("wasi_snapshot_preview1",),
    result_rule="wapc-go",
    trap_format="error invoking guest: {error}",
    rebuild_after_trap=False,
    sources={
        "init_exports": f"{GO} engines/wazero/wazero.go:381-402",
        "init_exit_zero": f"{GO} engines/wazero/wazero.go:381-402; "
                          f"{WZ} imports/wasi_snapshot_preview1/proc.go:28-38",
        "host_response_after_failed_call": f"{GO} engines/wazero/wazero.go:228-255",
        "no_handler_error": f"{GO} engines/wazero/wazero.go:228-255,289-313",
        "env_imports": f"{GO} engines/wazero/wazero.go:104-120; "
                       f"{WZ} imports/assemblyscript/assemblyscript.go:126-130",
        "wasi_modules": f"{GO} engines/wazero/wazero.go:104-120",
        "unknown_import": f"{WZ} internal/wasm/store.go (resolveImports), "
                          "internal/wasm/module_instance.go (getExport)",
        "reset_per_call": f"{GO} engines/wazero/wazero.go:440-465",
        "result_rule": f"{GO} engines/wazero/wazero.go:440-465",
    },
)

WAPC_JS = HostProfile(
    name="wapc-js", label="@wapc/host", library="@wapc/host 0.0.3 (npm)",
    init_exports=("_start", "wapc_init"),
    init_failure="{error}",
    exit_text="RuntimeError: exit {code}",
    guest_request_outside_call=(
        "__guest_request called without an invocation present. This is probably a bug in "
        "the library using @wapc/host."
    ),
    host_response_after_failed_call="empty",
    no_handler_error=(
        "Error: Host call not implemented. Guest called host with binding = '{binding}', "
        "namespace = '{namespace}', & operation = '{operation}'"
    ),
    host_error_format="Error: {message}",
    host_error_length="utf16",
    env_imports={},
    # WebAssembly.instantiate(source, imports) rejects; InvalidWasm prefixes its message.
    unknown_import='Invalid wasm binary: WebAssembly.instantiate(): Import #{index} '
                   '"{module}" "{name}": function import requires a callable',
    unknown_module='Invalid wasm binary: WebAssembly.instantiate(): Import #{index} '
                   '"{module}": module is not an object or function',
    wasi_modules=(),
    wasi_stub_modules=("wasi", "wasi_unstable", "wasi_snapshot_preview1"),
    reset_per_call=False,
    guest_response_clears_error=True,
    rebuild_after_trap=False,
    result_rule="wapc-js",
    trap_format="RuntimeError: {error}",
    sources={
        "init_exports": f"{JS} src/wapc-host.ts:90-121",
        "guest_request_outside_call": f"{JS} src/callbacks.ts:89-103",
        "host_response_after_failed_call": f"{JS} src/callbacks.ts:14-42",
        "no_handler_error": f"{JS} src/callbacks.ts:14-42, src/errors.ts:8-13",
        "host_error_length": f"{JS} src/callbacks.ts:44-70",
        "env_imports": f"{JS} src/wapc-host.ts:53-61,80-88",
        "unknown_import": f"{JS} src/wapc-host.ts:53-61, src/errors.ts (InvalidWasm)",
        "wasi_stub_modules": f"{JS} src/callbacks.ts:107-150",
        "reset_per_call": f"{JS} src/wapc-host.ts:90-121",
        "guest_response_clears_error": f"{JS} src/callbacks.ts:73-87",
        "result_rule": f"{JS} src/wapc-host.ts:90-121",
    },
)

#: The host libraries, in the order ``wapc compat`` runs them.
LIBRARY_PROFILES: tuple[HostProfile, ...] = (WAPC, WAPC_RS, WAPC_GO, WAPC_JS)


def _platform(base: HostProfile, sources: Mapping[str, str], **changes: Any) -> HostProfile:
    """A platform: ``base``'s rows, with the platform's own (and their sources) over them."""
    return base._replace(base=base.name, sources={**base.sources, **sources}, **changes)


TARMAC = _platform(
    WAPC_GO, name="tarmac", label="Tarmac (wapc-go)", preset="tarmac",
    library="Tarmac @59e5c8c: wapc-go v0.7.2 + engines/wazero",
    sources={"preset": "tarmac-project/tarmac@59e5c8c go.mod:23-26, pkg/app/app.go:34-35"},
)
KUBEWARDEN = _platform(
    WAPC_RS, name="kubewarden", label="Kubewarden (wapc-rs)", preset="kubewarden",
    library="policy-server 1.31.0: wapc 2.1.0 + wasmtime-provider 2.13.0",
    fresh_instance_per_call=True, default_timeout_s=2.0,
    sources={
        "fresh_instance_per_call": "kubewarden/policy-server@4eb6565 "
                                   "src/evaluation/evaluation_environment.rs:588",
        "default_timeout_s": "kubewarden/policy-server@4eb6565 src/cli.rs:164-169",
    },
)
WASMCLOUD = _platform(
    WAPC_RS, name="wasmcloud", label="wasmCloud 0.18 (wapc 0.10)",
    library="wasmCloud 0.18.2: wapc 0.10.1 + wasm3-provider 0.0.2",
    wasi_modules=(), unknown_import="Initialization failed: unknown import {module}.{name}",
    sources={
        "result_rule": "wapc/wapc-rust src/lib.rs:250-270,430-480",
        "wasi_modules": "wasmCloud/wasmCloud@v0.18.2 Cargo.toml features; "
                        "wapc/wasm3-provider de0b3a9 (fd_write stub only from 0.0.3)",
    },
)

PROFILES: dict[str, HostProfile] = {
    profile.name: profile
    for profile in (*LIBRARY_PROFILES, TARMAC, KUBEWARDEN, WASMCLOUD)
}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)


def get_profile(name: str | HostProfile | None) -> HostProfile:
    """The profile called ``name`` (None: the default); an unknown name is a usage error."""
    if name is None:
        return WAPC
    if isinstance(name, HostProfile):
        return name
    profile = PROFILES.get(name.strip().lower())
    if profile is None:
        raise UsageError(
            f"unknown host profile '{name}' (choose from: {', '.join(PROFILE_NAMES)})"
        )
    return profile
