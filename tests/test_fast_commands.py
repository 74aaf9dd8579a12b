"""The fast commands (no typer) against the typer app: same bytes out, same exit codes.

As tests/test_entry_parity.py does for ``call``: every ``inspect``, ``trace``,
``bench``, ``stubs``, ``test`` and ``addr2line`` command line runs through ``CliRunner``
on the typer app and through ``entry.run`` in the same isolation; lines the fast entry
must take are checked to be parsed by it, the others to fall through. A trace, a
benchmark and a suite run show durations, which differ from run to run (and ``inspect
--run`` its init's): there numbers (with their unit) are compared as ``N`` and runs of
spaces as one, everything else byte for byte.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from test_entry_parity import GUEST_WAT, NOT_A_GUEST_WAT
from typer.testing import CliRunner

from wapc_cli.cli import bench_cmd, entry, fast_parse, trace_cmd
from wapc_cli.cli.app import app
from wapc_cli.cli.run_options import Flag, described
from wapc_cli.cli.tracing import TraceFormat

SUITE = Path(__file__).resolve().parent.parent / "sample_guests" / "suites" / "as_guest.wapc.yaml"

WARNING_WAT = """(module
  (import "wapc" "__guest_request" (func (param i32 i32)))
  (import "wapc" "__guest_response" (func (param i32 i32)))
  (import "wapc" "__guest_error" (func (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"""

FAST = [
    "inspect {g}",
    "inspect {g} --json",
    "inspect --json {g}",
    "inspect {g} --strict",
    "inspect {w} --strict",
    "inspect {w} --strict --json",
    "inspect {g} --run",
    "inspect {g} --run --json --timeout 5",
    "inspect {g} --run -e wasmtime",
    "inspect {g} --run --engine=bogus",
    "inspect {g} --run --timeout abc",
    "inspect {n}",
    "inspect {n} --json",
    "inspect {t}",
    "inspect {t} --json",
    "inspect {m}",
    "inspect {m} --json",
    "trace {g} echo -p hi",
    "trace {g} echo -p hi -f jsonl",
    "trace {g} echo --format=jsonl --payload-hex 00ff",
    "trace {g} echo --payload-json {{\"a\":1}} --encode msgpack -f jsonl",
    "trace {g} echo --payload-json {{bad",
    "trace {g} fail",
    "trace {g} fail -f jsonl",
    "trace {g} trap -f jsonl",
    "trace {g} log -p x",
    "trace {g} spin --timeout 0.2 -f jsonl",
    "trace {g} spin --fuel 5000",
    "trace {g} echo -p hi --max-memory 64KiB",
    "trace {g} echo -p hi --max-memory lots",
    "trace {g} echo -p hi -e bogus",
    "trace {g} nosuchop -f jsonl",
    "trace {m} echo",
    "trace {m} echo -f jsonl",
    "trace {n} run",
    "trace {g} echo --stubs {m}",
    "trace {g} echo --stubs {s} -f jsonl",
    "trace {g} echo -s {s} --stubs {b}",
    "trace {g} echo --preset tarmac",
    "trace {g} echo --preset bogus -f jsonl",
    "bench {g} echo -n 50 --warmup 0",
    "bench {g} echo -n 50 --warmup 0 --json",
    "bench {g} echo --size 10 -n 50 --warmup 0 --bare --json",
    "bench {g} echo -p hi --count=20 --warmup=0 --no-cache --json",
    "bench {g} echo -n 20 --warmup 0 --stubs {s} --json",
    "bench {g} echo -n 0",
    "bench {g} echo --size 5 -p hi -n 5",
    "bench {g} echo --reply v --stubs {s} -n 5",
    "bench {g} echo -n 200000000",
    "bench {g} echo -n 5 -e bogus",
    "bench {g} fail -n 20 --warmup 0 --json",
    "bench {m} echo -n 5",
    "bench {n} run -n 5 --json",
    "stubs check {s}",
    "stubs check {s} {b}",
    "stubs check {b}",
    "stubs check {m}",
    "stubs schema",
    "test {u}",
    "test {u} --json",
    "test --no-cache {u} {u}",
    "test {m}",
    "test {s}",
    "addr2line {g} 0x10",
    "addr2line {g} 0x10 20 --json",
    "addr2line --json {g} 0x10",
    "addr2line {g} zz",
    "addr2line {m} 0x10",
    "addr2line {t} 0x10 --json",
]
SLOW = [
    "inspect",
    "inspect {g} {g}",
    "inspect {g} --json --json",
    "inspect {g} --strict=yes",
    "inspect {g} --bogus",
    "inspect {g} -h",
    "inspect {g} --timeout -1 --run",
    "trace {g}",
    "trace {g} echo -f JSONL",
    "trace {g} echo -f xml",
    "trace {g} echo -fjsonl",
    "trace {g} echo --json",
    "trace {g} echo -d hex",
    "trace {g} echo --fuel 1_000",
    "trace {g} echo -p a -p b",
    "trace {g} echo --force",
    "trace {g} echo --export",
    "trace {g} echo --help",
    "bench {g} echo --duration 0.1",
    "bench {g} echo -n 1_000",
    "bench {g} echo -n=5",
    "bench {g} echo -n 5 -n 6",
    "bench {g} echo --engine all -n 5 --warmup 0 --json --reply",
    "stubs",
    "stubs check",
    "stubs check --help",
    "stubs check -- {s}",
    "stubs schema extra",
    "stubs bogus",
    "test",
    "test --schema",
    "test {u} -j 2",
    "test {u} --json --json",
    "test {u} --engine wasmtime",
    "addr2line {g}",
    "addr2line {g} -5",
    "addr2line {g} 0x10 --json --json",
    "addr2line {g} 0x10 -h",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("fast-commands")
    paths = {"g": root / "guest.wasm", "n": root / "plain.wasm", "w": root / "warn.wasm"}
    for key, text in (("g", GUEST_WAT), ("n", NOT_A_GUEST_WAT), ("w", WARNING_WAT)):
        paths[key].write_bytes(wasmtime.wat2wasm(text))
    text = root / "text.wasm"
    text.write_text("(module)")
    stubs, broken = root / "stubs.yaml", root / "broken.yaml"
    stubs.write_text('default: empty\ncalls:\n  - {match: "a:b:c", reply: x}\n')
    broken.write_text("default: eror\n")
    return {**{k: str(v) for k, v in paths.items()}, "t": str(text), "m": str(root / "missing"),
            "s": str(stubs), "b": str(broken), "u": str(SUITE)}


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_CACHE_DIR", str(tmp_path / "cache"))
    # Both runs compile: a benchmark says whether its compile was a cache load.
    monkeypatch.setenv("WAPC_NO_CACHE", "1")
    for name in ("WAPC_ENGINE", "WAPC_TRACEBACK", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


def _argv(line: str, files: dict[str, str]) -> list[str]:
    import shlex

    return shlex.split(line.format(**files))


def _typer(argv: list[str]) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(app, argv, prog_name="wapc")
    return result.exit_code, result.stdout_bytes, result.stderr


def _fast(argv: list[str]) -> tuple[int, bytes, str]:
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            code = entry.run(argv)
        except SystemExit as exc:  # only the typer fall-through exits (e.g. --help)
            code = int(exc.code or 0)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue(), err.getvalue().decode("utf-8", "replace")


def _numbers_aside(text: str) -> str:
    numbers = re.sub(r"-?\d+(,\d{3})*(\.\d+)?(e-?\d+)?(ms|µs|ns)?", "N", text)
    return re.sub(r"[ \u2500]+", " ", numbers)


def _check_same(argv: list[str]) -> tuple[int, bytes, str]:
    code_t, out_t, err_t = _typer(argv)
    code_f, out_f, err_f = _fast(argv)
    assert (code_f, err_f) == (code_t, err_t), argv
    if argv[0] in ("trace", "bench", "test") or "--run" in argv:  # durations differ
        assert _numbers_aside(out_f.decode()) == _numbers_aside(out_t.decode()), argv
    else:
        assert out_f == out_t, argv
    return code_f, out_f, err_f


@pytest.mark.parametrize("line", FAST)
def test_fast_path_matches_typer(line: str, files: dict[str, str]) -> None:
    argv = _argv(line, files)
    assert entry.parse_fast(argv) is not None, f"{line} should take the fast path"
    _check_same(argv)


@pytest.mark.parametrize("line", SLOW)
def test_fallthrough_matches_typer(line: str, files: dict[str, str]) -> None:
    argv = _argv(line, files)
    assert entry.parse_fast(argv) is None, f"{line} should fall through to typer"
    _check_same(argv)


def test_the_cases_cover_every_outcome(files: dict[str, str]) -> None:
    codes = {_check_same(_argv(line, files))[0] for line in (
        "inspect {g}", "inspect {n}", "inspect {m}", "trace {g} fail", "trace {g} trap",
        "trace {g} spin --fuel 5000",
    )}
    assert codes == {0, 1, 2, 3, 4}


def test_engine_from_environment(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_ENGINE", "bogus")
    for line in ("inspect {g} --run", "trace {g} echo -p hi"):
        code, _, err = _check_same(_argv(line, files))
        assert code == 2 and "bogus" in err


def test_the_fast_options_are_the_commands_own() -> None:
    """The fast ``trace`` and ``bench`` take only options the commands have."""
    fast_fields = {f.name for f in described() if isinstance(f.spec, Flag) and f.spec.fast}
    assert set(entry.TRACE_FIELDS) <= set(trace_cmd.PARAMETERS) & fast_fields
    assert set(entry.BENCH_FIELDS) <= set(bench_cmd.PARAMETERS) & fast_fields
    assert tuple(f.value for f in TraceFormat) == fast_parse.TRACE_FORMATS


def _run(code: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.pop("WAPC_ENGINE", None)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=env)


@pytest.mark.parametrize("line", ["inspect {g}", "inspect {g} --json", "trace {g} echo -p hi",
                                  "trace {g} echo -p hi -f jsonl"])
def test_fast_commands_import_neither_typer_nor_pydantic(line: str, files: dict[str, str]) -> None:
    code = ("import sys; from wapc_cli.cli import entry; rc = entry.run(sys.argv[1:]); "
            "bad = [m for m in ('typer', 'pydantic', 'click', 'wapc_cli.cli.app') "
            "if m in sys.modules]; sys.stderr.write(f'rc={rc} heavy={bad}')")
    proc = _run(code, *_argv(line, files))
    assert proc.stderr.decode().endswith("rc=0 heavy=[]"), proc.stderr


@pytest.mark.parametrize("line", ["inspect {g}", "inspect {n} --json", "trace {g} echo -p hi",
                                  "trace {g} fail -f jsonl", "inspect {g} --bogus"])
def test_console_script_matches_full_cli(line: str, files: dict[str, str]) -> None:
    """As real processes (the fast entry ends without the interpreter's teardown)."""
    args = _argv(line, files)
    fast = subprocess.run([sys.executable, "-m", "wapc_cli", *args], capture_output=True)
    full = _run("import sys; sys.argv[0] = 'wapc'; from wapc_cli.cli.app import main; main()",
                *args)
    assert (fast.returncode, fast.stderr) == (full.returncode, full.stderr)
    if args[0] == "trace":
        assert _numbers_aside(fast.stdout.decode()) == _numbers_aside(full.stdout.decode())
    else:
        assert fast.stdout == full.stdout
