"""``wapc trace``: run one exchange and show every ABI step as it happens.

The typer command; what it does is :func:`.tracing.trace_command`, which the
fast entry (:mod:`.entry`) runs too for the plain forms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .fast_parse import FORMAT_OPTION
from .options import run_command
from .run_options import RunOptions
from .tracing import TraceFormat, trace_command

FormatOpt = Annotated[
    TraceFormat,
    typer.Option(
        *FORMAT_OPTION, case_sensitive=False,
        help="rich: a timeline (plain text when piped or NO_COLOR); jsonl: one JSON object "
        "per step.",
    ),
]


#: The command's parameters, in the order ``--help`` lists them.
PARAMETERS = (
    "module", "operation", "payload", "payload_hex", "payload_json", "encode", "engine",
    "host", "stubs", "preset", "sql", "kvstore", "allow_http", "function", "tarmac_config",
    "k8s_context", "admission_request", "settings", "record", "record_format", "force",
    "core", "timeout", "fuel", "max_memory", "env", "arg", "dir", "format", "export",
)


ExportOpt = Annotated[
    Path | None,
    typer.Option("--export", help="Also write the exchange as Chrome Trace Event JSON to FILE "
                 "(opens in Perfetto and speedscope; docs/trace.md)."),
]


def register(app: typer.Typer) -> None:
    command = run_command(trace, PARAMETERS, {"format": (FormatOpt, TraceFormat.rich),
                                              "export": (ExportOpt, None)})
    app.command("trace")(command)


def trace(options: RunOptions, format: TraceFormat, export: Path | None = None) -> None:
    """Call OPERATION on MODULE and show every ABI step, live, with a closing summary."""
    raise typer.Exit(trace_command(options, format, export))
