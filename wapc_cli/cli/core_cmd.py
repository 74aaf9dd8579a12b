"""``wapc core show FILE [--module MODULE]``: a coredump's frames and the memory around the request.

FILE is a coredump written by ``--core`` (or any tool-conventions coredump).
With ``--module`` (the module that trapped) each frame gets its function and
source line; the exchange record beside FILE says where the request and the
response lie, and those bytes are shown as a hex dump. ``--json`` prints one
object instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..runtime.userfiles import read_user_bytes
from .addr2line_cmd import frame_line
from .console import terminal

FileArg = Annotated[Path, typer.Argument(help="The coredump (<module>.<operation>.core.wasm).")]
ModuleOpt = Annotated[
    Path | None, typer.Option("--module", "-m", help="The module that trapped: source lines.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


#: A 32-bit guest's memory is at most 4 GiB; a coredump is that and a little more.
MAX_COREDUMP_BYTES = (4 << 30) + (16 << 20)


def register(app: typer.Typer) -> None:
    core = typer.Typer(help="Read coredumps written by --core.", no_args_is_help=True)
    core.command("show")(show)
    app.add_typer(core, name="core")


def show(file: FileArg, module: ModuleOpt = None, json_out: JsonOpt = False) -> None:
    """Print a coredump's frames (with source lines given --module) and memory regions."""
    from ..runtime.guest import read_module_file
    from ..tools.crash import show_core

    data = read_user_bytes(file, "coredump", MAX_COREDUMP_BYTES)
    wasm = None if module is None else read_module_file(module)
    report = show_core(file, data, wasm)
    if module is not None and report.dump.executable not in ("", module.name):
        terminal.note_line(f"the coredump is of '{report.dump.executable}', not '{module.name}': "
                           "the source lines may belong to another module")
    out = terminal.stdout
    if json_out:
        out.write(json.dumps(report.as_json()) + "\n")
        return
    dump = report.dump
    size = "no memory" if dump.memory_size is None else f"memory {dump.memory_size} bytes"
    out.write(f"coredump {file} of {_safe(dump.executable)} ({size})\n")
    out.write(f"frames of thread {_safe(dump.thread)}, youngest first:\n")
    if not report.frames:
        out.write("  (none recorded)\n")
    for number, (frame, source) in enumerate(report.frames):
        head = f"  #{number:<2} func[{frame.funcidx}]+{frame.codeoffset:#x}"
        if not source:
            out.write(f"{head}\n")
        for position, located in enumerate(source):
            prefix = head if position == 0 else " " * len(head)
            out.write(f"{prefix}  {frame_line(located)}\n")
    if report.record is None:
        out.write("no exchange record beside it: no request or response pointers\n")
    for region in report.regions:
        out.write(f"{region.label} at {region.address:#x}:\n")
        if region.data is None:
            out.write("    (the coredump holds no memory)\n" if dump.memory_size is None
                      else "    (outside the dumped memory)\n")
            continue
        out.write(hex_dump(region.data, region.address))


def hex_dump(data: bytes, address: int) -> str:
    """16 bytes a line: address, hex, and the printable ASCII of them."""
    lines = []
    for start in range(0, len(data), 16):
        chunk = data[start : start + 16]
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"    {address + start:08x}  {chunk.hex(' '):<47}  |{text}|\n")
    return "".join(lines)


def _safe(text: str) -> str:
    from .safe_text import one_line

    return one_line(text, 200)
