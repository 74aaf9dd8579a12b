"""The clang -g sample guest (sample_guests/build/dwarf_trap.wasm) and where its source says things.

Line numbers are read from the source's marker comments, so editing the guest
does not silently break the tests: rebuild it (scripts/build-guests c) instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "sample_guests" / "c" / "dwarf_trap.c"
MODULE = ROOT / "sample_guests" / "build" / "dwarf_trap.wasm"


def line_of(marker: str) -> int:
    """The 1-based line of the source that holds ``marker``."""
    for number, text in enumerate(SOURCE.read_text().splitlines(), 1):
        if marker in text:
            return number
    raise AssertionError(f"marker {marker!r} not in {SOURCE}")


EMPTY_TRAP_LINE = line_of("TRAP: empty input")
DIGIT_TRAP_LINE = line_of("TRAP: not a digit")
CALL_LINE = line_of("CALL: check_input")
CHECK_LOOP_LINE = line_of("sum += digit_value(payload[i])")


def engine_args(engine: str) -> list[str]:
    return ["--engine", engine]


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m wapc_cli ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "wapc_cli", *args], input=stdin, capture_output=True,
        timeout=120, cwd=ROOT,
    )


def invoke(*args: str) -> Any:
    """The same through typer's CliRunner (in this process)."""
    from wapc_cli.cli.app import app

    return CliRunner().invoke(app, list(args))
