"""``wapc call``: run one exchange; response bytes on stdout, everything else on stderr.

The typer command only declares the options; what the call does lives in
:mod:`.calling`, which the fast entry (:mod:`.entry`) runs too.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..runtime.payload import Decoding, Encoding
from .calling import CallOutcome, call_command, run_call, write_response
from .calling import error_json as _error_json
from .options import (
    ArgOpt,
    DirOpt,
    EncodeOpt,
    EngineOpt,
    EnvOpt,
    ForceOpt,
    FuelOpt,
    JsonOpt,
    MaxMemoryOpt,
    ModuleArg,
    NoCacheOpt,
    OperationArg,
    PayloadHexOpt,
    PayloadJsonOpt,
    PayloadOpt,
    PresetOpt,
    QuietOpt,
    RecordOpt,
    StubsOpt,
    TimeoutOpt,
)

# Re-exported for the commands that reuse a call (trace) and for library users.
__all__ = ["CallOutcome", "_error_json", "call", "register", "run_call", "write_response"]

DecodeOpt = Annotated[
    Decoding,
    typer.Option(
        "--decode", "-d", case_sensitive=False,
        help="How to show the response (auto: raw bytes when piped, text or hex on a terminal).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("call")(call)


def call(
    module: ModuleArg,
    operation: OperationArg,
    payload: PayloadOpt = None,
    payload_hex: PayloadHexOpt = None,
    payload_json: PayloadJsonOpt = None,
    encode: EncodeOpt = Encoding.json,
    decode: DecodeOpt = Decoding.auto,
    engine: EngineOpt = "auto",
    stubs: StubsOpt = None,
    preset: PresetOpt = None,
    record: RecordOpt = None,
    force: ForceOpt = False,
    timeout: TimeoutOpt = None,
    fuel: FuelOpt = None,
    max_memory: MaxMemoryOpt = None,
    env: EnvOpt = None,
    arg: ArgOpt = None,
    dir: DirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Call OPERATION on a waPC guest MODULE and print the response."""
    raise typer.Exit(call_command(
        module=module, operation=operation, payload=payload, payload_hex=payload_hex,
        payload_json=payload_json, encode=encode.value, decode=decode.value, engine=engine,
        stubs=stubs, preset=preset, record=record, force=force, timeout=timeout, fuel=fuel,
        max_memory=max_memory, env=env, arg=arg, dir=dir, json_out=json_out, quiet=quiet,
        no_cache=no_cache,
    ))
