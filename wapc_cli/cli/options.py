"""Options shared by several commands, as ``Annotated`` aliases (defined once)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..runtime.payload import Encoding

ModuleArg = Annotated[
    Path, typer.Argument(help="The waPC guest module (.wasm).", show_default=False)
]
OperationArg = Annotated[str, typer.Argument(help="The operation to call, e.g. echo.")]

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine", "-e", help="WebAssembly engine: auto, wasmtime or wasmer.", envvar="WAPC_ENGINE"
    ),
]

PayloadOpt = Annotated[
    str | None,
    typer.Option(
        "--payload", "-p",
        help="Payload: TEXT, @FILE, or @- for stdin (@@TEXT for a literal leading @).",
    ),
]
PayloadHexOpt = Annotated[
    str | None, typer.Option("--payload-hex", help="Payload as hex bytes.")
]
PayloadJsonOpt = Annotated[
    str | None,
    typer.Option("--payload-json", help="Payload as JSON (or @FILE), encoded with --encode."),
]
EncodeOpt = Annotated[
    Encoding,
    typer.Option("--encode", case_sensitive=False, help="Encoding for --payload-json."),
]

StubsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--stubs", "-s", help="YAML stub table answering host calls (repeatable; later wins)."
    ),
]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", help="Built-in host: tarmac.")
]
RecordOpt = Annotated[
    Path | None,
    typer.Option("--record", help="Write every host call and its answer as a stub table."),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Overwrite the --record file if it exists.")
]

TimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        help="Wall-clock limit per call incl. init, in seconds (0 or 'none' turns it off).",
    ),
]
FuelOpt = Annotated[
    int | None, typer.Option("--fuel", help="Instruction budget (wasmtime fuel units).")
]
MaxMemoryOpt = Annotated[
    str | None,
    typer.Option("--max-memory", help="Largest linear memory, e.g. 64MiB; growth beyond fails."),
]

EnvOpt = Annotated[
    list[str] | None,
    typer.Option("--env", help="Grant a WASI environment variable: KEY=VALUE, or KEY to pass it."),
]
ArgOpt = Annotated[
    list[str] | None, typer.Option("--arg", help="Grant a WASI program argument.")
]
DirOpt = Annotated[
    list[str] | None,
    typer.Option("--dir", help="Grant read-only WASI access to HOST_DIR[:GUEST_DIR]."),
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON result object.")]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Do not show the guest's log and WASI output.")
]
NoCacheOpt = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Compile the module afresh: neither read nor write the compiled-module cache.",
    ),
]
