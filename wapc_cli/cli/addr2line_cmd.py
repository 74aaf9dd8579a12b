"""``wapc addr2line MODULE OFFSET...``: function and ``file:line:column`` of module offsets.

Offsets are byte offsets in the module file, as trap frames report them (hex
``0x514`` or decimal); DWARF gives the source line and inlined frames, the name
section the function when there is no DWARF. One block per offset, innermost
frame first; ``--json`` prints one object with a list of lookups.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import TrapFrame
from ..runtime.guest import read_module_file
from .console import terminal
from .safe_text import one_line

ModuleArg = Annotated[Path, typer.Argument(help="The WebAssembly module (with DWARF for lines).")]
OffsetsArg = Annotated[
    list[str], typer.Argument(help="Module offsets: hex (0x514) or decimal (1300).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def register(app: typer.Typer) -> None:
    app.command("addr2line")(addr2line)


def addr2line(module: ModuleArg, offsets: OffsetsArg, json_out: JsonOpt = False) -> None:
    """Map module OFFSETs (as trap frames show them) to functions and source lines."""
    from ..tools.debuginfo import addr2line as lookup
    from ..tools.debuginfo import parse_offset

    numbers = [parse_offset(text) for text in offsets]
    data = read_module_file(module)
    results = lookup(data, numbers)
    out = terminal.stdout
    if json_out:
        document = {"module": str(module), "lookups": [r.as_json() for r in results]}
        out.write(json.dumps(document) + "\n")
        return
    for result in results:
        head = f"{result.offset:#x}"
        if not result.frames:
            out.write(f"{head}  ?? (not in any function's code)\n")
            continue
        for position, frame in enumerate(result.frames):
            prefix = head if position == 0 else " " * len(head)
            out.write(f"{prefix}  {frame_line(frame)}\n")


def frame_line(frame: TrapFrame) -> str:
    """One frame as ``function at file:line:column`` (safe to print: module-made text)."""
    name = one_line(frame.function, 200)
    if frame.file is None:
        return f"{name} (no line information)"
    where = one_line(frame.file, 300)
    if frame.line is not None:
        where += f":{frame.line}" + (f":{frame.column}" if frame.column else "")
    return f"{name} at {where}" + (" (inlined)" if frame.inlined else "")
