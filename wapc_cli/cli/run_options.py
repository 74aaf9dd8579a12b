"""The options of one run (``call``, ``trace``, ``bench``): described once, here.

Each field of :class:`RunOptions` carries its type, its default and, in its
``Annotated`` metadata, how the command line spells it: an :class:`Arg` or a
:class:`Flag`. Both parsers read this one description: the typer commands
(:func:`.options.run_command` builds their signatures from it) and the
typer-free fast path of ``wapc call`` in :mod:`.entry` (the flags marked
``fast``). Neither typer nor dataclasses are imported here: the fast path
imports this module on every one-shot call.

This module deliberately does not use ``from __future__ import annotations``:
the metadata is read at run time from the annotations themselves.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NamedTuple, get_args

from ..runtime.payload import Decoding, Encoding

# Arg, Flag and Described are plain classes: building a NamedTuple class costs
# more than the whole of this module otherwise, on every one-shot call.


class Arg:
    """A positional argument."""

    __slots__ = ("help", "show_default")

    def __init__(self, help: str, show_default: bool = True) -> None:
        self.help = help
        self.show_default = show_default


class Flag:
    """An option: its spellings (long first), help, and how the fast path treats it."""

    __slots__ = ("choices", "envvar", "fast", "help", "spellings")

    def __init__(
        self,
        spellings: tuple[str, ...],
        help: str,
        *,
        choices: type[Enum] | None = None,
        envvar: str | None = None,
        fast: bool = False,
    ) -> None:
        self.spellings = spellings
        self.help = help
        #: The values it accepts, when a fixed set (typer matches them case-insensitively).
        self.choices = choices
        #: Read from this environment variable when the option is not given.
        self.envvar = envvar
        #: The typer-free ``wapc call`` parses it (any other option goes to typer).
        self.fast = fast


class RunOptions(NamedTuple):
    """What the user asked a run to do, as parsed from the command line."""

    module: Annotated[Path, Arg("The waPC guest module (.wasm).", show_default=False)]
    operation: Annotated[str, Arg("The operation to call, e.g. echo.")]
    payload: Annotated[str | None, Flag(
        ("--payload", "-p"),
        "Payload: TEXT, @FILE, or @- for stdin (@@TEXT for a literal leading @).", fast=True,
    )] = None
    payload_hex: Annotated[str | None, Flag(
        ("--payload-hex",), "Payload as hex bytes.", fast=True,
    )] = None
    payload_json: Annotated[str | None, Flag(
        ("--payload-json",), "Payload as JSON (or @FILE), encoded with --encode.", fast=True,
    )] = None
    encode: Annotated[str, Flag(
        ("--encode",), "Encoding for --payload-json.", choices=Encoding, fast=True,
    )] = Encoding.json.value
    decode: Annotated[str, Flag(
        ("--decode", "-d"),
        "How to show the response (auto: raw bytes when piped, text or hex on a terminal).",
        choices=Decoding, fast=True,
    )] = Decoding.auto.value
    engine: Annotated[str, Flag(
        ("--engine", "-e"), "WebAssembly engine: auto, wasmtime or wasmer.",
        envvar="WAPC_ENGINE", fast=True,
    )] = "auto"
    host: Annotated[str, Flag(
        ("--host",), "Run as this host would: wapc (the spec, strictly), wapc-rs, wapc-go, "
        "wapc-js, or a platform: tarmac (wapc-go + --preset tarmac), kubewarden (wapc-rs + "
        "--preset kubewarden, a fresh instance per call, 2 s timeout), wasmcloud (wapc 0.10, "
        "no WASI).",
    )] = "wapc"
    stubs: Annotated[list[Path] | None, Flag(
        ("--stubs", "-s"), "YAML stub table answering host calls (repeatable; later wins).",
        fast=True,
    )] = None
    preset: Annotated[str | None, Flag(
        ("--preset",), "Built-in host: tarmac or kubewarden.", fast=True,
    )] = None
    sql: Annotated[str | None, Flag(
        ("--sql",), "Tarmac's SQL database, a DSN: sqlite:///FILE, postgres://..., mysql://... "
        "(default: in-memory SQLite). Implies --preset tarmac.",
    )] = None
    kvstore: Annotated[str | None, Flag(
        ("--kvstore",), "Tarmac's kvstore, a DSN: sqlite:///FILE, redis://... (default: in "
        "memory). Implies --preset tarmac.",
    )] = None
    allow_http: Annotated[list[str] | None, Flag(
        ("--allow-http",), "Let Tarmac's httpclient reach HOST[:PORT] (repeatable; * for any "
        "host). Implies --preset tarmac.",
    )] = None
    function: Annotated[list[str] | None, Flag(
        ("--function",), "NAME=MODULE.wasm: tarmac:function:NAME runs MODULE's handler "
        "(repeatable). Implies --preset tarmac.",
    )] = None
    tarmac_config: Annotated[Path | None, Flag(
        ("--tarmac-config",), "Tarmac's config (tarmac.json): its routes of type function "
        "become tarmac:function:NAME callees. Implies --preset tarmac.",
    )] = None
    k8s_context: Annotated[Path | None, Flag(
        ("--k8s-context",), "Kubewarden's cluster as a file (YAML/JSON list of resources, or "
        "{resources, allow, can_i}): answers kubernetes get/list/can_i. Implies --preset "
        "kubewarden.",
    )] = None
    admission_request: Annotated[Path | None, Flag(
        ("--admission-request",), "Build the payload as kwctl does from an AdmissionReview "
        "(or AdmissionRequest) JSON file: {request, settings}. Shows the policy's verdict.",
    )] = None
    settings: Annotated[Path | None, Flag(
        ("--settings",), "The policy settings (YAML/JSON) for --admission-request "
        "(default {}).",
    )] = None
    record: Annotated[Path | None, Flag(
        ("--record",), "Write every host call and its answer as a stub table.",
    )] = None
    record_format: Annotated[str, Flag(
        ("--record-format",), "What --record writes: stubs (a stub table) or kwctl (a kwctl "
        "host-capabilities session file: the Kubewarden calls that reach the channel).",
    )] = "stubs"
    force: Annotated[bool, Flag(
        ("--force",), "Overwrite the --record file (and --core files) if they exist.",
    )] = False
    core: Annotated[Path | None, Flag(
        ("--core",), "On a trap or limit, write a crash bundle into DIR: a wasm coredump "
        "(<module>.<operation>.core.wasm) and the exchange as JSON.",
    )] = None
    timeout: Annotated[str | None, Flag(
        ("--timeout",),
        "Wall-clock limit per call incl. init, in seconds (0 or 'none' turns it off).", fast=True,
    )] = None
    fuel: Annotated[int | None, Flag(
        ("--fuel",), "Instruction budget (wasmtime fuel units).", fast=True,
    )] = None
    max_memory: Annotated[str | None, Flag(
        ("--max-memory",), "Largest linear memory, e.g. 64MiB; growth beyond fails.", fast=True,
    )] = None
    env: Annotated[list[str] | None, Flag(
        ("--env",), "Grant a WASI environment variable: KEY=VALUE, or KEY to pass it.",
    )] = None
    arg: Annotated[list[str] | None, Flag(
        ("--arg",), "Grant a WASI program argument (repeatable; argv[0] is the module's name).",
    )] = None
    dir: Annotated[list[str] | None, Flag(
        ("--dir",), "Grant WASI access to HOST_DIR[:/GUEST_DIR][:ro|:rw], read-only unless "
        ":rw (a trailing :ro/:rw is the mode; then split at the last ':' only when an "
        "absolute GUEST_DIR follows, else all of it is HOST_DIR). Repeatable.",
    )] = None
    json_out: Annotated[bool, Flag(("--json",), "Print one JSON result object.", fast=True)] = False
    quiet: Annotated[bool, Flag(
        ("--quiet", "-q"), "Do not show the guest's log and WASI output.", fast=True,
    )] = False
    no_cache: Annotated[bool, Flag(
        ("--no-cache",),
        "Compile the module afresh: neither read nor write the compiled-module cache.", fast=True,
    )] = False


class Described:
    """One field of :class:`RunOptions` with its description."""

    __slots__ = ("default", "name", "spec", "type")

    def __init__(self, name: str, type: Any, spec: Arg | Flag, default: Any) -> None:
        self.name = name
        self.type = type  # the field's type, without the metadata
        self.spec = spec
        self.default = default


def described() -> list[Described]:
    """Every field of :class:`RunOptions`, in order, with its type, spelling and default."""
    defaults = RunOptions(Path(), "")
    fields = []
    for name, annotation in RunOptions.__annotations__.items():
        base, spec = get_args(annotation)[:2]
        fields.append(Described(name, base, spec, getattr(defaults, name)))
    return fields
