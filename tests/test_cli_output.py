"""The CLI's shared output rules: one colour rule, flag names in core messages, one version,
one description of the run options for both parsers."""

from __future__ import annotations

import importlib.metadata
import io
import re
import sys
from pathlib import Path

import pytest
import wasmtime
from typer.testing import CliRunner

from wapc_cli import __version__
from wapc_cli.cli import console, entry
from wapc_cli.cli.app import app
from wapc_cli.cli.messages import for_user
from wapc_cli.cli.run_options import RunOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[")

ECHO_WAT = """
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $req (i32.const 0) (i32.const 1024))
    (call $resp (i32.const 1024) (local.get $len))
    (i32.const 1)))
"""


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guests") / "echo.wasm"
    path.write_bytes(wasmtime.wat2wasm(ECHO_WAT))
    return path


@pytest.fixture
def stub_table(tmp_path: Path) -> Path:
    path = tmp_path / "stubs.yaml"
    path.write_text("default: fail\n", encoding="utf-8")
    return path


# -- one colour rule ----------------------------------------------------------------------


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("environ", "tty", "colour"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"TERM": "dumb"}, True, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True, False),
        ({"TERM": "xterm-256color"}, True, True),
    ],
)
def test_the_colour_rule(environ: dict[str, str], tty: bool, colour: bool) -> None:
    terminal = console.Terminal(environ=environ)
    assert terminal.colour(_Stream(tty)) is colour


def test_width_follows_columns_off_a_terminal() -> None:
    assert console.Terminal(environ={"COLUMNS": "120"}).width(_Stream(False)) == 120
    assert console.Terminal(environ={"COLUMNS": "oops"}).width(_Stream(False)) == 80
    assert console.Terminal(environ={}).width(_Stream(True)) is None


COMMANDS = {
    "call": ["call", "{g}", "echo", "-p", "hi"],
    "call --json": ["call", "{g}", "echo", "-p", "hi", "--json"],
    "trace": ["trace", "{g}", "echo", "-p", "hi"],
    "inspect": ["inspect", "{g}"],
    "inspect --run": ["inspect", "{g}", "--run"],
    "bench": ["bench", "{g}", "echo", "-n", "50", "--warmup", "0"],
    "stubs check": ["stubs", "check", "{s}"],
}


def _invoke_as_if_on_a_terminal(
    argv: list[str], term: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", term)
    monkeypatch.setattr(console.Terminal, "is_tty", staticmethod(lambda stream: True))
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_term_dumb_means_no_colour(
    command: str, guest: Path, stub_table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [a.format(g=guest, s=stub_table) for a in COMMANDS[command]]
    output = _invoke_as_if_on_a_terminal(argv, "dumb", monkeypatch)
    assert not ANSI.search(output), output


@pytest.mark.parametrize("command", ["bench", "inspect", "trace"])
def test_a_colour_terminal_gets_colour(
    command: str, guest: Path, stub_table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: the same run on a colour terminal is coloured."""
    argv = [a.format(g=guest, s=stub_table) for a in COMMANDS[command]]
    assert ANSI.search(_invoke_as_if_on_a_terminal(argv, "xterm-256color", monkeypatch))


# -- flag names in core messages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("core", "shown"),
    [
        ("guest memory grew to 2 MiB of the max-memory limit of 1 MiB",
         "guest memory grew to 2 MiB of the --max-memory limit of 1 MiB"),
        ("more than the --max-memory limit of 1 MiB", "more than the --max-memory limit of 1 MiB"),
        ("max-memory: the host ran out of memory under the max-memory limit of 1 MiB",
         "max-memory: the host ran out of memory under the --max-memory limit of 1 MiB"),
        ("a fuel limit is not supported by the wasmer engine (wasmer 1.1 has no fuel "
         "metering); use the wasmtime engine",
         "--fuel is not supported by the wasmer engine (wasmer 1.1 has no fuel "
         "metering); use --engine wasmtime"),
        ("nothing to change", "nothing to change"),
    ],
)
def test_for_user_names_the_flag(core: str, shown: str) -> None:
    assert for_user(core) == shown
    assert for_user(ValueError(core)) == shown
    assert for_user(shown) == shown  # idempotent


BIG_WAT = """
(module
  (memory (export "memory") 4)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (i32.const 1)))
"""


@pytest.mark.parametrize("extra", [[], ["--json"], ["trace"], ["trace", "-f", "jsonl"]])
def test_memory_limit_names_the_flag_in_every_output(extra: list[str], tmp_path: Path) -> None:
    big = tmp_path / "big.wasm"  # starts above the limit: refused before it runs
    big.write_bytes(wasmtime.wat2wasm(BIG_WAT))
    command, rest = ("trace", extra[1:]) if extra[:1] == ["trace"] else ("call", extra)
    argv = [command, str(big), "op", "--max-memory", "128KiB", "-e", "wasmtime", *rest]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 3, result.output
    assert "--max-memory limit" in result.output, result.output
    assert "max-memory limit" not in result.output.replace("--max-memory limit", "")
    assert "----" not in result.output


# -- one version ----------------------------------------------------------------------------


def test_version_is_written_once() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        data = tomllib.loads(text)
        assert "version" not in data["project"]
        assert data["project"]["dynamic"] == ["version"]
        assert data["tool"]["setuptools"]["dynamic"]["version"] == {
            "attr": "wapc_cli.__version__"
        }
    assert importlib.metadata.version("wapc-cli") == __version__
    result = CliRunner().invoke(app, ["--version"])
    assert result.output == f"wapc {__version__}\n"


# -- one description of the run options -----------------------------------------------------

SAME_OPTIONS = [
    ["call", "{g}", "echo"],
    ["call", "{g}", "echo", "-p", "hi", "--json", "-q", "--no-cache"],
    ["call", "{g}", "echo", "--payload-json", "[1]", "--encode", "msgpack", "-d", "hex"],
    ["call", "{g}", "echo", "--timeout", "5", "--fuel", "1000", "--max-memory", "1MiB"],
    ["call", "{g}", "echo", "-e", "wasmtime", "--payload-hex=00ff"],
]


@pytest.mark.parametrize("argv", SAME_OPTIONS)
def test_typer_and_the_fast_path_fill_the_same_options(
    argv: list[str], guest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [a.format(g=guest) for a in argv]
    seen: list[RunOptions] = []

    def capture(options: RunOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.delenv("WAPC_ENGINE", raising=False)
    monkeypatch.setattr("wapc_cli.cli.call.call_command", capture)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen == [entry.parse_fast_call(args)]
