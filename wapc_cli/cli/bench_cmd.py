"""``wapc bench``: calls per second, latency percentiles and the cold path of one guest.

The typer command; what it does (and the bounds it checks) is
:func:`.benching.bench_command`, which the fast entry (:mod:`.entry`) runs too for
the plain forms.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .benching import bench_command
from .fast_parse import BARE_FLAG, COUNT_OPTION, REPLY_OPTION, SIZE_OPTION, WARMUP_OPTION
from .options import run_command
from .run_options import RunOptions

CountOpt = Annotated[
    int | None, typer.Option(*COUNT_OPTION, help="Measure this many calls (default 10000).")
]
DurationOpt = Annotated[
    float | None, typer.Option("--duration", help="Measure for this many seconds instead.")
]
WarmupOpt = Annotated[int, typer.Option(*WARMUP_OPTION, help="Calls made before measuring.")]
SizeOpt = Annotated[
    int | None,
    typer.Option(*SIZE_OPTION, help="Payload of this many bytes (0, 1, 2, ... 255, 0, ...)."),
]
ReplyOpt = Annotated[
    str | None,
    typer.Option(*REPLY_OPTION, help="Answer every host call with this text (instead of --stubs)."),
]
BareOpt = Annotated[
    bool,
    typer.Option(*BARE_FLAG, help="Also measure the bare host loop and report the API's overhead."),
]
BenchTimeoutOpt = Annotated[
    str | None,
    typer.Option("--timeout", help="Wall-clock limit per call in seconds (default: none)."),
]


#: The command's parameters, in the order ``--help`` lists them.
PARAMETERS = (
    "module", "operation", "payload", "payload_hex", "payload_json", "encode", "size", "engine",
    "host", "stubs", "preset", "sql", "kvstore", "allow_http", "function", "tarmac_config",
    "k8s_context", "reply",
    "count", "duration", "warmup", "bare", "timeout", "fuel",
    "max_memory", "no_cache", "json_out",
)


def register(app: typer.Typer) -> None:
    command = run_command(
        bench, PARAMETERS,
        {"size": (SizeOpt, None), "reply": (ReplyOpt, None), "count": (CountOpt, None),
         "duration": (DurationOpt, None), "warmup": (WarmupOpt, 1000), "bare": (BareOpt, False)},
        helps={"timeout": "Wall-clock limit per call in seconds (default: none)."},
    )
    app.command("bench")(command)


def bench(
    options: RunOptions, size: int | None, reply: str | None, count: int | None,
    duration: float | None, warmup: int, bare: bool,
) -> None:
    """Measure calls/s and latency of OPERATION on MODULE (use --engine all to compare)."""
    raise typer.Exit(bench_command(options, size, reply, count, duration, warmup, bare))
