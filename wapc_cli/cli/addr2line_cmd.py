"""``wapc addr2line MODULE OFFSET...``: function and ``file:line:column`` of module offsets.

Offsets are byte offsets in the module file, as trap frames report them (hex
``0x514`` or decimal); DWARF gives the source line and inlined frames, the name
section the function when there is no DWARF. One block per offset, innermost
frame first; ``--json`` prints one object with a list of lookups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .addr2line_run import addr2line_command, frame_line

ModuleArg = Annotated[Path, typer.Argument(help="The WebAssembly module (with DWARF for lines).")]
OffsetsArg = Annotated[
    list[str], typer.Argument(help="Module offsets: hex (0x514) or decimal (1300).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

__all__ = ["addr2line", "frame_line", "register"]


def register(app: typer.Typer) -> None:
    app.command("addr2line")(addr2line)


def addr2line(module: ModuleArg, offsets: OffsetsArg, json_out: JsonOpt = False) -> None:
    """Map module OFFSETs (as trap frames show them) to functions and source lines."""
    raise typer.Exit(addr2line_command(module, offsets, json_out))
