"""Static conformance report of a waPC guest: read the module, never run it.

``inspect_module(data, name)`` parses the binary (``wasm.parse``), checks it
against the ABI in ``abi`` and returns a frozen ``Report``: what the module
imports and exports, how it initialises, which toolchain probably built it
(with the evidence), and every error and warning with what will go wrong at
run time and how to fix it. A module that is not WebAssembly at all raises
``NotWasmError``; a non-conformant one is a report with ``conformant=False``.
``run_init`` (``inspect --run``) is the one part that executes the module.
Nothing here prints: the CLI renders the report.

The parts: :mod:`.report` (the data), :mod:`.checks` (the static checks),
:mod:`.init_run` (running the init exports).
"""

from ...wasm.constants import PAGE
from ...wasm.parse import display_name
from ..fingerprint import SdkGuess
from .checks import inspect_module
from .init_run import InitRun, RunResult, run_init, run_init_enforced
from .report import (
    REPORT_FORMAT,
    Counts,
    ExportInfo,
    Finding,
    ImportInfo,
    InitInfo,
    MemoryInfo,
    Report,
)

__all__ = [
    "PAGE",
    "REPORT_FORMAT",
    "Counts",
    "ExportInfo",
    "Finding",
    "ImportInfo",
    "InitInfo",
    "InitRun",
    "MemoryInfo",
    "Report",
    "RunResult",
    "SdkGuess",
    "display_name",
    "inspect_module",
    "run_init",
    "run_init_enforced",
]
