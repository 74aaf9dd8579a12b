"""What ``wapc addr2line`` does, without typer: both the typer command and the fast entry run it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import TrapFrame
from ..runtime.guest import read_module_file
from .console import terminal
from .safe_text import one_line


def addr2line_command(module: Path, offsets: Sequence[str], json_out: bool = False) -> int:
    """Map module OFFSETs (as trap frames show them) to functions and source lines."""
    from ..tools.debuginfo import addr2line as lookup
    from ..tools.debuginfo import dwarf_problem, parse_offset

    numbers = [parse_offset(text) for text in offsets]
    data = read_module_file(module)
    results = lookup(data, numbers)
    problem = dwarf_problem(data)
    if problem is not None:
        terminal.note_line(f"the module's DWARF cannot be read, {problem}: "
                           "functions are named from the name section only")
    out = terminal.stdout
    if json_out:
        document = {"module": str(module), "lookups": [r.as_json() for r in results],
                    "dwarf_problem": problem}
        out.write(json.dumps(document) + "\n")
        return 0
    for result in results:
        head = f"{result.offset:#x}"
        if not result.frames:
            out.write(f"{head}  ?? (not in any function's code)\n")
            continue
        for position, frame in enumerate(result.frames):
            prefix = head if position == 0 else " " * len(head)
            out.write(f"{prefix}  {frame_line(frame)}\n")
    return 0


def frame_line(frame: TrapFrame) -> str:
    """One frame as ``function at file:line:column`` (safe to print: module-made text)."""
    name = one_line(frame.function, 200)
    if frame.file is None:
        return f"{name} (no line information)"
    where = one_line(frame.file, 300)
    if frame.line is not None:
        where += f":{frame.line}" + (f":{frame.column}" if frame.column else "")
    return f"{name} at {where}" + (" (inlined)" if frame.inlined else "")
