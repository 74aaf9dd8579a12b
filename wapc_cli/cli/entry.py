"""The ``wapc`` console script: fast paths for the common commands, else typer.

Why fast paths: importing typer (and, once a command runs, pydantic through typer's
coercion) and rich costs more than the whole of a one-shot ``wapc call guest.wasm
echo -p hi``, and twice what ``wapc inspect`` itself does. The plain forms of
``call``, ``inspect``, ``trace``, ``bench`` and ``run`` (:data:`LIGHT_COMMANDS`; what
each accepts is in :mod:`.fast_parse`), ``stubs check FILE...``, ``stubs schema`` and
``test SUITE... [--json] [--no-cache]`` and ``addr2line MODULE OFFSET... [--json]``
are parsed here, with no typer, into the same values the typer commands get, and run
by the same functions (:func:`.calling.call_command`,
:func:`.inspecting.inspect_command`, :func:`.tracing.trace_command`,
:func:`.benching.bench_command`, :func:`.run_work.run_command`, :mod:`.stubs_work`,
:func:`.suite_runs.run_test_command`, :func:`.addr2line_run.addr2line_command`).
Anything else (another command, ``--help``, any other option, a repeated option, a
value that typer would coerce or reject) goes to the full typer app unchanged, so
errors and help come from one place. ``tests/test_entry_parity.py`` and
``tests/test_fast_commands.py`` run the same argument lists through both and compare
stdout, stderr and exit code.

Imports go one way: this module imports the typer app (lazily), never the reverse;
both run commands through :func:`.guard.run_guarded`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .console import terminal
from .fast_parse import (
    BARE_FLAG,
    CALL_FIELDS,
    COUNT_OPTION,
    FORMAT_OPTION,
    REPLY_OPTION,
    RUN_FLAG,
    SIZE_OPTION,
    STDIN_OPTION,
    STRICT_FLAG,
    TRACE_FORMATS,
    WARMUP_OPTION,
    LightCommand,
    LightOption,
    run_fields,
)
from .guard import run_guarded
from .run_options import RunOptions

#: The RunOptions fields the fast ``trace`` parses: ``trace``'s among the fast ones.
TRACE_FIELDS = ("payload", "payload_hex", "payload_json", "encode", "engine", "stubs",
                "preset", "timeout", "fuel", "max_memory")

#: The RunOptions fields the fast ``bench`` parses: ``bench``'s among the fast ones.
BENCH_FIELDS = ("payload", "payload_hex", "payload_json", "encode", "engine", "stubs",
                "preset", "timeout", "fuel", "max_memory", "no_cache", "json_out")

#: The RunOptions fields the fast ``run`` parses: all of ``run``'s (``--stdin`` is its own).
RUN_FIELDS = ("engine", "timeout", "fuel", "max_memory", "env", "arg", "dir", "json_out",
              "no_cache")

#: The command lines the fast entry parses itself, by command.
LIGHT_COMMANDS = {
    "call": LightCommand("call", ("module", "operation"), run_fields(*CALL_FIELDS)),
    "inspect": LightCommand("inspect", ("module",), [
        *run_fields("json_out", "engine", "timeout"),
        LightOption("strict", STRICT_FLAG, "flag"), LightOption("run", RUN_FLAG, "flag"),
    ]),
    "trace": LightCommand("trace", ("module", "operation"), [
        *run_fields(*TRACE_FIELDS),
        LightOption("format", FORMAT_OPTION, "choice", choices=TRACE_FORMATS),
    ]),
    "bench": LightCommand("bench", ("module", "operation"), [
        *run_fields(*BENCH_FIELDS),
        LightOption("size", SIZE_OPTION, "int"), LightOption("reply", REPLY_OPTION, "text"),
        LightOption("count", COUNT_OPTION, "int"), LightOption("warmup", WARMUP_OPTION, "int"),
        LightOption("bare", BARE_FLAG, "flag"),
    ]),
    "run": LightCommand("run", ("module",), [
        *run_fields(*RUN_FIELDS), LightOption("stdin", STDIN_OPTION, "text", takes_dash=True),
    ], rest="args"),
}
#: ``wapc bench``'s own options (the rest are RunOptions fields).
_BENCH_OWN = ("size", "reply", "count", "warmup", "bare")
#: Set by the shell-completion protocol of the full CLI.
_COMPLETE_VAR = "_WAPC_COMPLETE"

#: One parsed command line, ready to run: returns the exit code.
Runner = Callable[[], int]


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    runner = parse_fast(args)
    if runner is None:
        sys.exit(_full_cli(args))
    _exit(_guarded(runner))


def run(argv: Sequence[str]) -> int:
    """Run one command line, returning the exit code (the console script also exits)."""
    runner = parse_fast(argv)
    return _full_cli(list(argv)) if runner is None else _guarded(runner)


def _full_cli(args: list[str]) -> int:
    from .app import app

    return int(app(args=args, prog_name="wapc", standalone_mode=False) or 0)


def _guarded(runner: Runner) -> int:
    return run_guarded(runner, show_traceback=bool(os.environ.get("WAPC_TRACEBACK")))


def parse_fast(argv: Sequence[str]) -> Runner | None:
    """What a plain ``call``, ``inspect``, ``trace``, ``bench``, ``run``, ``stubs``,
    ``test`` or ``addr2line`` command line runs; None for typer."""
    if not argv or os.environ.get(_COMPLETE_VAR):
        return None
    if argv[0] == "stubs":
        return _stubs_runner(argv[1:])
    if argv[0] == "test":
        return _test_runner(argv[1:])
    if argv[0] == "addr2line":
        return _addr2line_runner(argv[1:])
    command = LIGHT_COMMANDS.get(argv[0])
    values = command.parse(argv[1:]) if command is not None else None
    if values is None:
        return None
    if argv[0] == "call":
        return _call_runner(RunOptions(**values))
    if argv[0] == "inspect":
        return _inspect_runner(values)
    if argv[0] == "bench":
        return _bench_runner(values)
    if argv[0] == "run":
        return None if values.get("stdin") == "" else _run_runner(values)  # "": typer's
    return _trace_runner(values)


def _stubs_runner(args: Sequence[str]) -> Runner | None:
    """``stubs check FILE...`` and ``stubs schema``, when nothing else is on the line."""
    if any(arg.startswith("-") for arg in args):
        return None  # --help, "--", "-": typer's
    if len(args) >= 2 and args[0] == "check":
        files = [Path(arg) for arg in args[1:]]
        if not all(args[1:]):
            return None  # Path("") is "."; typer's to judge

        def check() -> int:
            from .stubs_work import check_command

            return check_command(files)

        return check
    if list(args) == ["schema"]:

        def schema() -> int:
            from .stubs_work import schema_command

            return schema_command()

        return schema
    return None


def _test_runner(args: Sequence[str]) -> Runner | None:
    """``test SUITE... [--json] [--no-cache]``, each switch once; anything else is typer's."""
    switches = {"--json": "json_out", "--no-cache": "no_cache"}
    given: dict[str, bool] = {}
    suites: list[Path] = []
    for arg in args:
        if arg in switches and switches[arg] not in given:
            given[switches[arg]] = True
        elif arg and not arg.startswith("-"):
            suites.append(Path(arg))
        else:
            return None  # "", another option, a repeated switch, "-", "--"
    if not suites:
        return None  # typer says what is missing

    def body() -> int:
        from .suite_runs import run_test_command

        return run_test_command(suites, json_out=given.get("json_out", False),
                                use_cache=not given.get("no_cache", False))

    return body


def _addr2line_runner(args: Sequence[str]) -> Runner | None:
    """``addr2line MODULE OFFSET... [--json]``; anything else is typer's."""
    json_out = args.count("--json") == 1
    rest = [arg for arg in args if arg != "--json"]
    if len(rest) < 2 or args.count("--json") > 1 or any(
        not arg or arg.startswith("-") for arg in rest
    ):
        return None
    module, offsets = Path(rest[0]), rest[1:]

    def body() -> int:
        from .addr2line_run import addr2line_command

        return addr2line_command(module, offsets, json_out)

    return body


def _bench_runner(values: dict[str, Any]) -> Runner:
    own = {name: values.pop(name) for name in _BENCH_OWN if name in values}

    def body() -> int:
        from .benching import bench_command

        return bench_command(RunOptions(**values), **own)

    return body


def _run_runner(values: dict[str, Any]) -> Runner:
    def body() -> int:
        from .run_work import run_command

        return run_command(**values)

    return body


def _call_runner(options: RunOptions) -> Runner:
    def body() -> int:
        from .calling import call_command

        return call_command(options)

    return body


def _inspect_runner(values: dict[str, Any]) -> Runner:
    def body() -> int:
        from .inspecting import inspect_command

        return inspect_command(
            values["module"], values.get("json_out", False), values.get("strict", False),
            values.get("run", False), values.get("engine", "auto"), values.get("timeout"),
        )

    return body


def _trace_runner(values: dict[str, Any]) -> Runner:
    trace_format = values.pop("format", TRACE_FORMATS[0])

    def body() -> int:
        from .tracing import TraceFormat, trace_command

        return trace_command(RunOptions(**values), TraceFormat(trace_format))

    return body


def _exit(rc: int) -> None:
    """End the process without the interpreter's teardown, once nothing needs it.

    Tearing down (freeing every module, and wasmtime's engine, store and code)
    is a sizeable share of a one-shot command. The command is over and its
    output is flushed here; what a normal exit would still do that anyone could
    observe is run first: the ``atexit`` callbacks (a guest's WASI descriptors
    are closed by ``weakref.finalize``'s, which every guest registers; on wasmer,
    multiprocessing's). The fast paths write files only through raw descriptors
    or closed file objects, so no buffer is left for the teardown to flush. If a
    flush fails, or this Python has no way to run the callbacks, the normal exit
    reports and runs them as usual.
    """
    import atexit

    run_callbacks = getattr(atexit, "_run_exitfuncs", None)
    if run_callbacks is None or not _flushed():
        sys.exit(rc)
    run_callbacks()  # each runs once: atexit forgets them as it calls them
    if not _flushed():  # a callback wrote, and the stream failed: report as usual
        sys.exit(rc)
    os._exit(rc)


def _flushed() -> bool:
    try:
        terminal.stdout.flush()
        terminal.stderr.flush()
    except BaseException:
        return False
    return True


def parse_fast_call(argv: Sequence[str]) -> RunOptions | None:
    """The options of a plain ``call`` command line, or None to leave it to typer."""
    if len(argv) < 3 or argv[0] != "call" or os.environ.get(_COMPLETE_VAR):
        return None
    values = LIGHT_COMMANDS["call"].parse(argv[1:])
    return None if values is None else RunOptions(**values)

