"""``wapc call``: run one exchange; response bytes on stdout, everything else on stderr.

The options are :class:`~.run_options.RunOptions` fields; what the call does
lives in :mod:`.calling`, which the fast entry (:mod:`.entry`) runs too.
"""

from __future__ import annotations

import typer

from .calling import call_command
from .options import run_command
from .run_options import RunOptions

#: The command's parameters, in the order ``--help`` lists them.
PARAMETERS = (
    "module", "operation", "payload", "payload_hex", "payload_json", "encode", "decode",
    "engine", "host", "stubs", "preset", "sql", "kvstore", "allow_http", "function",
    "tarmac_config",
    "k8s_context", "admission_request", "settings", "record", "record_format", "force", "core",
    "timeout", "fuel", "max_memory", "env",
    "arg", "dir", "json_out", "quiet", "no_cache",
)


def register(app: typer.Typer) -> None:
    app.command("call")(run_command(call, PARAMETERS))


def call(options: RunOptions) -> None:
    """Call OPERATION on a waPC guest MODULE and print the response."""
    raise typer.Exit(call_command(options))
