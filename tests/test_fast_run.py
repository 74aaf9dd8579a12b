"""The fast ``run`` (no typer) against the typer app: same bytes out, same exit codes.

As tests/test_fast_commands.py does for the other commands: every ``wapc run``
command line runs through ``CliRunner`` on the typer app and through
``entry.run`` in the same isolation (streams, stdin, environment); lines the
fast entry must take are checked to be parsed by it, the others to fall through
to typer. The guests are WASI commands from tests/test_cli_run.py: one that
prints its argv and environ shows that both parsers hand the guest the same
arguments (``--arg`` values first, then ARGS; everything after ``--``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wat
from test_cli_run import CAT, SHOW_ARGS_AND_ENV, command_wat
from typer.testing import CliRunner

from wapc_cli.cli import entry, run_cmd
from wapc_cli.cli.app import app

#: Standard input of every run (``--stdin -`` reads it).
STDIN = b"\x00piped stdin\xff\n"

# {h}: writes to stdout and stderr, {x}: exits 7, {a}: prints argv and environ,
# {c}: copies stdin to stdout, {s}: spins, {p}: traps, {n}: not a command,
# {t}: a text file, {m}: a missing file, {f}: a file of bytes, {d}: a directory.
FAST = [
    "run {h}",
    "run {x}",
    "run {x} --json",
    "run {h} --json",
    "run {a}",
    "run {a} one two",
    "run {a} -- -a --b",
    "run {a} one -- two -- three",
    "run {a} -- --json",
    "run {a} -- --help -h",
    "run {a} --",
    "run -- {a} one",
    "run --arg x {a} y --arg z",
    "run {a} y --arg=z --json --arg x",
    "run {a} - ''",
    "run {a} --env A=1 --env B=two",
    "run {a} --env WAPC_FAST_RUN_SET",
    "run {a} --env WAPC_FAST_RUN_UNSET",
    "run {a} --env =1",
    "run {a} --dir {d}",
    "run {a} --dir {d}:/data:rw --dir {d}:/again",
    "run {a} --dir {m}",
    "run {c} --stdin {f}",
    "run {c} --stdin -",
    "run {c} --stdin=-",
    "run {c} --stdin {f} --json",
    "run {c} --stdin {m}",
    "run {c} --stdin {d}",
    "run -e wasmtime {h}",
    "run {h} --engine=bogus",
    "run {h} --engine=WASMTIME",
    "run {h} -e wasmer",
    "run {x} -e wasmer --json",
    "run {c} -e wasmer --stdin -",
    "run {a} -e wasmer one -- --two",
    "run {s} -e wasmer --timeout 0.5",
    "run {h} --no-cache",
    "run {h} --timeout 5",
    "run {h} --timeout none",
    "run {h} --timeout abc",
    "run {s} --timeout 0.2",
    "run {s} --timeout 0.2 --json",
    "run {s} --fuel 5000",
    "run {h} --fuel 0",
    "run {h} --max-memory 64KiB",
    "run {h} --max-memory lots",
    "run {p}",
    "run {p} --json",
    "run {n}",
    "run {n} --json",
    "run {t}",
    "run {m}",
    "run {m} --json",
    "run {d}",
]
SLOW = [
    "run",
    "run --json",
    "run --help",
    "run {h} --help",
    "run {h} -h",
    "run {h} -x",
    "run {h} -1",
    "run {h} --bogus",
    "run {h} --Json",
    "run {h} --timeout 1 --timeout 2",
    "run {h} --json --json",
    "run {h} --no-cache --no-cache",
    "run {h} -e wasmtime --engine wasmtime",
    "run {h} --stdin {f} --stdin {f}",
    "run {h} --stdin ''",
    "run {h} --env ''",
    "run {h} --env=-x",
    "run {h} --arg -x",
    "run {h} --dir=",
    "run {h} --fuel 007",
    "run {h} --fuel 1_000",
    "run {h} --fuel -5",
    "run {h} -ewasmtime",
    "run {h} -e=wasmtime",
    "run {h} -e",
    "run {h} --json=yes",
    "run ''",
    "run -",
    "run -- -{h}",
    "--traceback run {h}",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("fast-run")
    sources = {
        "h": command_wat([(1, b"hello, out\n"), (2, b"hello, err\n")]),
        "x": command_wat([(1, b"bye\n")], exit_code=7),
        "a": SHOW_ARGS_AND_ENV,
        "c": CAT,
        "s": command_wat([(1, b"spinning\n")], body="(loop $l (br $l))"),
        "p": command_wat([(1, b"before the trap\n")], body="unreachable"),
        "n": '(module (memory (export "memory") 1) (func (export "main")))',
    }
    paths = {}
    for key, text in sources.items():
        paths[key] = root / f"{key}.wasm"
        paths[key].write_bytes(wat(text))
    (root / "text.wasm").write_text("(module)")
    (root / "bytes.bin").write_bytes(bytes(range(256)) * 3)
    (root / "granted").mkdir()
    return {**{k: str(v) for k, v in paths.items()}, "t": str(root / "text.wasm"),
            "m": str(root / "missing"), "f": str(root / "bytes.bin"),
            "d": str(root / "granted")}


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("WAPC_FAST_RUN_SET", "from the environment")
    for name in ("WAPC_ENGINE", "WAPC_TRACEBACK", "WAPC_FAST_RUN_UNSET", "NO_COLOR",
                 "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


def _argv(line: str, files: dict[str, str]) -> list[str]:
    return shlex.split(line.format(**files))


def _typer(argv: list[str]) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(app, argv, input=STDIN, prog_name="wapc")
    return result.exit_code, result.stdout_bytes, result.stderr


def _fast(argv: list[str]) -> tuple[int, bytes, str]:
    runner = CliRunner()
    with runner.isolation(input=STDIN) as (out, err, _):
        try:
            code = entry.run(argv)
        except SystemExit as exc:  # only the typer fall-through exits (e.g. --help)
            code = int(exc.code or 0)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue(), err.getvalue().decode("utf-8", "replace")


def _check_same(argv: list[str]) -> tuple[int, bytes, str]:
    code_t, out_t, err_t = _typer(argv)
    code_f, out_f, err_f = _fast(argv)
    assert (code_f, out_f, err_f) == (code_t, out_t, err_t), argv
    return code_f, out_f, err_f


@pytest.mark.parametrize("line", FAST)
def test_fast_run_matches_typer(line: str, files: dict[str, str]) -> None:
    argv = _argv(line, files)
    assert entry.parse_fast(argv) is not None, f"{line} should take the fast path"
    _check_same(argv)


@pytest.mark.parametrize("line", SLOW)
def test_run_fallthrough_matches_typer(line: str, files: dict[str, str]) -> None:
    argv = _argv(line, files)
    assert entry.parse_fast(argv) is None, f"{line} should fall through to typer"
    _check_same(argv)


def test_the_cases_cover_every_outcome(files: dict[str, str]) -> None:
    """Success, the guest's own exit code, trap or limit, usage and not-a-command."""
    codes = [_check_same(_argv(line, files))[0] for line in (
        "run {h}", "run {x}", "run {p}", "run {s} --fuel 5000", "run {h} --timeout abc",
        "run {n}",
    )]
    assert codes == [0, 7, 3, 3, 2, 4]


def test_guest_arguments_are_the_args_after_the_arg_options(files: dict[str, str]) -> None:
    """``--arg`` values, in order, then ARGS, wherever on the line each was given."""
    argv = _argv("run --arg x {a} y -- --arg z", files)
    code, out, _ = _check_same(argv)
    assert code == 0
    assert out.decode().splitlines()[1:4] == ["x", "y", "--arg"]
    assert out.decode().splitlines()[4] == "z"


def test_what_the_fast_parse_hands_on() -> None:
    parse = entry.LIGHT_COMMANDS["run"].parse
    assert parse(["--arg", "x", "m.wasm", "y", "--arg", "z", "--", "-q", "--"]) == {
        "module": Path("m.wasm"), "args": ["y", "-q", "--"], "arg": ["x", "z"],
    }
    assert parse(["m.wasm", "--stdin", "-", "--env", "A=1", "--dir", "d", "--json"]) == {
        "module": Path("m.wasm"), "args": [], "stdin": "-", "env": ["A=1"], "dir": ["d"],
        "json_out": True,
    }


def test_the_fast_options_are_the_commands_own() -> None:
    fast = {option.name for option in entry.LIGHT_COMMANDS["run"].options()}
    assert fast | {"module", "args"} == set(run_cmd.PARAMETERS)


def test_engine_from_environment(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_ENGINE", "bogus")
    argv = _argv("run {h}", files)
    assert entry.LIGHT_COMMANDS["run"].parse(argv[1:]) == {
        "module": Path(files["h"]), "args": [], "engine": "bogus",
    }
    code, _, err = _check_same(argv)
    assert code == 2 and "bogus" in err
    assert _check_same([*argv, "-e", "wasmtime"])[:2] == (0, b"hello, out\n")
    monkeypatch.setenv("WAPC_ENGINE", "")  # empty counts as unset, as for typer
    assert _check_same(argv)[:2] == (0, b"hello, out\n")


def test_completion_protocol_goes_to_typer(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_WAPC_COMPLETE", "bash_complete")
    assert entry.parse_fast(_argv("run {h}", files)) is None


def _python(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "WAPC_ENGINE"}
    return subprocess.run([sys.executable, *args], capture_output=True, env=env, input=STDIN,
                          timeout=120)


@pytest.mark.parametrize("line", ["run {h}", "run {x} --json", "run {a} -- -a",
                                  "run {c} --stdin -"])
def test_fast_run_imports_neither_typer_nor_pydantic_nor_rich(
    line: str, files: dict[str, str]
) -> None:
    code = ("import sys; from wapc_cli.cli import entry; rc = entry.run(sys.argv[1:]); "
            "bad = [m for m in ('typer', 'pydantic', 'rich', 'click', 'wapc_cli.cli.app', "
            "'wapc_cli.cli.run_cmd') if m in sys.modules]; "
            "sys.stderr.write(f'rc={rc} heavy={bad}')")
    proc = _python("-c", code, *_argv(line, files))
    expected = 7 if "{x}" in line else 0
    assert proc.stderr.decode().endswith(f"rc={expected} heavy=[]"), proc.stderr


@pytest.mark.parametrize("line", ["run {h}", "run {x}", "run {a} one -- -two",
                                  "run {c} --stdin -", "run {c} --stdin {f} --json", "run {m}",
                                  "run {h} --bogus", "run {p} --json"])
def test_console_script_matches_full_cli(line: str, files: dict[str, str]) -> None:
    """As real processes, output to pipes (the fast entry ends without the teardown)."""
    args = _argv(line, files)
    fast = _python("-m", "wapc_cli", *args)
    full = _python("-c", "import sys; sys.argv[0] = 'wapc'; from wapc_cli.cli.app import main; "
                   "main()", *args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout,
                                                          full.stderr)


def test_arguments_that_are_not_utf8_are_refused_alike(files: dict[str, str]) -> None:
    """A non-UTF-8 argument reaches Python with lone surrogates; both refuse it (exit 2)."""
    for argv in (["run", files["a"], "ok", "\udcff"], ["run", files["a"], "--env", "K=\udcfe"],
                 ["run", files["a"], "--arg", "\udcfd"]):
        assert entry.parse_fast(argv) is not None, argv
        code, out, err = _check_same(argv)
        assert (code, out) == (2, b"") and err.startswith("wapc: error:"), argv
