"""The fast ``call`` entry (no typer) against the typer app: same bytes out, same exit codes.

Every command line runs through both: ``CliRunner`` on the typer app, and
``entry.run`` inside the same ``CliRunner`` isolation (streams, stdin, env).
Command lines the fast path must handle are checked to be parsed by it; the
others to fall through to typer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from typer.testing import CliRunner

from wapc_cli.cli import entry
from wapc_cli.cli.app import app
from wapc_cli.cli.run_options import RunOptions

GUEST_WAT = """
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wapc" "__guest_error" (func $err (param i32 i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "fail")
  (data (i32.const 32) "boom: requested")
  (data (i32.const 64) "logged line")
  (data (i32.const 96) "\\ff\\fe not utf-8")
  (func $grow_for (param $need i32)
    (if (i32.gt_u (i32.add (local.get $need) (i32.const 65536))
                  (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.add (i32.div_u (local.get $need) (i32.const 65536)) (i32.const 1)))))))
  (func $spin (loop $l (br $l)))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $grow_for (local.get $len))
    (call $req (i32.const 0) (i32.const 65536))
    (if (i32.eq (i32.load (i32.const 0)) (i32.load (i32.const 16)))
      (then (call $err (i32.const 32) (i32.const 15)) (return (i32.const 0))))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x70617274)) ;; "trap"
      (then unreachable))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x6e697073)) ;; "spin"
      (then (call $spin)))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x00676f6c)) ;; "log\\0"
      (then (call $log (i32.const 64) (i32.const 11))))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x61746962)) ;; "bina"
      (then (call $resp (i32.const 96) (i32.const 14)) (return (i32.const 1))))
    (call $resp (i32.const 65536) (local.get $len))
    (i32.const 1)))
"""

NOT_A_GUEST_WAT = '(module (memory (export "memory") 1) (func (export "run")))'

# {g}: the guest, {n}: a module that is not a waPC guest, {t}: a text file,
# {m}: a missing file, {f}: a payload file.
FAST = [
    "call {g} echo -p hi",
    "call {g} echo --payload=hi",
    "call {g} echo -p ''",
    "call -p hi {g} echo",
    "call {g} -q echo -p hi",
    "call {g} echo --payload-hex 00ff41",
    "call {g} echo --payload-hex zz",
    "call {g} echo --payload-json {{\"a\":[1,2]}}",
    "call {g} echo --payload-json {{\"a\":1}} --encode msgpack",
    "call {g} echo --payload-json {{\"a\":1}} --encode msgpack --decode msgpack",
    "call {g} echo --payload-json {{bad",
    "call {g} echo -p hi --payload-hex 41",
    "call {g} echo -p @{f}",
    "call {g} echo -p @{m}",
    "call {g} echo -p @-",
    "call {g} echo -p @@lit",
    "call {g} echo -p hi --json",
    "call {g} bina --json",
    "call {g} bina -d text",
    "call {g} bina -d auto",
    "call {g} echo -p hi -d hex",
    "call {g} echo -p hi -d json",
    "call {g} echo -p {{\"a\":1}} -d json",
    "call {g} echo -p hi -d msgpack",
    "call {g} echo -p hi -d raw",
    "call {g} fail",
    "call {g} fail --json",
    "call {g} trap",
    "call {g} trap --json",
    "call {g} log -p x",
    "call {g} log -p x -q",
    "call {g} log -p x --quiet --json",
    "call {g} nosuchop",
    "call {g} echo -p hi --timeout 5",
    "call {g} echo -p hi --timeout none",
    "call {g} echo -p hi --timeout abc",
    "call {g} spin --timeout 0.2",
    "call {g} spin --timeout 0.2 --json",
    "call {g} echo -p hi --fuel 1000000",
    "call {g} echo -p hi --fuel 0",
    "call {g} spin --fuel 5000",
    "call {g} echo -p hi --max-memory 64KiB",
    "call {g} echo -p hi --max-memory 1MiB",
    "call {g} echo -p hi --max-memory lots",
    "call {g} echo -p hi --max-memory=1MiB --no-cache",
    "call {g} echo -p hi -e wasmtime",
    "call {g} echo -p hi --engine=bogus",
    "call {g} echo -p hi -e wasmer --timeout 0",
    "call {g} echo -p hi -e wasmer",
    "call {m} echo",
    "call {g} echo --stubs {m}",
    "call {g} echo -s {m} --stubs {t}",
    "call {g} echo --preset tarmac",
    "call {g} echo --preset bogus",
    "call {t} echo",
    "call {n} run",
    "call {n} run --json",
]
SLOW = [
    "call {g} echo -p",
    "call {g} echo -phi",
    "call {g} echo -p=hi",
    "call {g} echo -p -q",
    "call {g} echo -qp hi",
    "call {g} echo -p a -p b",
    "call {g} echo --json --json",
    "call {g} echo --json=yes",
    "call {g} echo --no-json",
    "call {g} echo --encode JSON --payload-json 1",
    "call {g} echo -d HEX -p a",
    "call {g} echo -d bogus -p a",
    "call {g} echo --fuel 1_000",
    "call {g} echo --fuel 007",
    "call {g} echo --fuel x",
    "call {g} echo --fuel -5",
    "call {g} echo --bogus",
    "call {g} echo --help",
    "call {g} echo -h",
    "call {g} echo -- -p",
    "call {g} echo -",
    "call {g} echo extra",
    "call {g}",
    "call",
    "--version",
    "--traceback call {g} fail",
    "call {g} fail --traceback",
    "call {g} echo --stubs=",
    "call {g} echo -s={m}",
    "call {g} echo --env X=1",
    "inspect {g} --json",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("parity")
    guest = root / "guest.wasm"
    guest.write_bytes(wasmtime.wat2wasm(GUEST_WAT))
    not_a_guest = root / "plain.wasm"
    not_a_guest.write_bytes(wasmtime.wat2wasm(NOT_A_GUEST_WAT))
    text = root / "text.wasm"
    text.write_text("(module)")
    payload = root / "payload.bin"
    payload.write_bytes(bytes(range(256)))
    return {"g": str(guest), "n": str(not_a_guest), "t": str(text), "m": str(root / "missing"),
            "f": str(payload)}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("WAPC_ENGINE", raising=False)
    monkeypatch.delenv("WAPC_TRACEBACK", raising=False)


def _argv(line: str, files: dict[str, str]) -> list[str]:
    import shlex

    return shlex.split(line.format(**files))


def _typer(argv: list[str], stdin: bytes) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(app, argv, input=stdin, prog_name="wapc")
    return result.exit_code, result.stdout_bytes, result.stderr


def _fast(argv: list[str], stdin: bytes) -> tuple[int, bytes, str]:
    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _):
        try:
            code = entry.run(argv)
        except SystemExit as exc:  # only the typer fall-through exits (e.g. --help)
            code = int(exc.code or 0)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue(), err.getvalue().decode("utf-8", "replace")


def _comparable(stdout: bytes, argv: list[str]) -> object:
    """JSON results carry timings, which differ run to run; all else must match."""
    if "--json" in argv and stdout.startswith(b"{"):
        data = json.loads(stdout)
        data.pop("timings", None)
        return data
    return stdout


def _check_same(argv: list[str]) -> tuple[int, bytes, str]:
    stdin = b"\x00stdin\xff"
    code_t, out_t, err_t = _typer(argv, stdin)
    code_f, out_f, err_f = _fast(argv, stdin)
    assert (code_f, err_f) == (code_t, err_t), argv
    assert _comparable(out_f, argv) == _comparable(out_t, argv), argv
    return code_f, out_f, err_f


@pytest.mark.parametrize("line", FAST)
def test_fast_path_matches_typer(line: str, files: dict[str, str]) -> None:
    argv = _argv(line, files)
    assert entry.parse_fast_call(argv) is not None, f"{line} should take the fast path"
    _check_same(argv)


@pytest.mark.parametrize("line", SLOW)
def test_fallthrough_matches_typer(line: str, files: dict[str, str]) -> None:
    argv = _argv(line, files)
    assert entry.parse_fast_call(argv) is None, f"{line} should fall through to typer"
    _check_same(argv)


def test_outcomes_are_what_they_say(files: dict[str, str]) -> None:
    """The parity cases cover success, guest error, trap, limit, usage and non-guest exits."""
    codes = {_check_same(_argv(line, files))[0] for line in (
        "call {g} echo -p hi", "call {g} fail", "call {g} trap", "call {g} spin --fuel 5000",
        "call {g} echo --payload-hex zz", "call {n} run",
    )}
    assert codes == {0, 1, 2, 3, 4}


def test_relative_module_path_is_shown_as_given(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(files["g"]).parent)
    code, out, _ = _check_same(["call", "./guest.wasm", "echo", "-p", "hi", "--json"])
    assert code == 0
    assert json.loads(out)["module"] == "guest.wasm"


def test_engine_from_environment(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_ENGINE", "bogus")
    argv = ["call", files["g"], "echo", "-p", "hi"]
    assert entry.parse_fast_call(argv) == RunOptions(
        module=Path(files["g"]), operation="echo", payload="hi", engine="bogus",
    )
    code, _, err = _check_same(argv)
    assert code == 2 and "bogus" in err
    code, out, _ = _check_same([*argv, "-e", "wasmtime"])
    assert (code, out) == (0, b"hi")
    monkeypatch.setenv("WAPC_ENGINE", "")  # empty counts as unset, as for typer
    assert entry.parse_fast_call(argv) == RunOptions(Path(files["g"]), "echo", payload="hi")
    assert _check_same(argv)[:2] == (0, b"hi")


def test_traceback_from_environment(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPC_TRACEBACK", "1")
    argv = ["call", files["g"], "fail"]
    typer_code, _, typer_err = _typer(argv, b"")
    code, _, err = _fast(argv, b"")
    # The frames differ (typer's are above ours); the report and the exit code do not.
    assert code == typer_code == 1
    assert err.startswith("Traceback") and typer_err.startswith("Traceback")
    assert err.splitlines()[-2:] == typer_err.splitlines()[-2:]


def test_completion_protocol_goes_to_typer(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_WAPC_COMPLETE", "bash_complete")
    assert entry.parse_fast_call(["call", files["g"], "echo"]) is None


def _run(code: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.pop("WAPC_ENGINE", None)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=env)


def test_fast_path_imports_neither_typer_nor_rich(files: dict[str, str], tmp_path: Path) -> None:
    code = ("import sys; from wapc_cli.cli import entry; rc = entry.run(sys.argv[1:]); "
            "bad = [m for m in ('typer', 'rich', 'pydantic', 'click', 'yaml', 'msgpack', "
            "'multiprocessing', 'wapc_cli.tools.inspect', 'wapc_cli.cli.app') "
            "if m in sys.modules]; "
            "sys.stderr.write(f'rc={rc} heavy={bad}')")
    proc = _run(code, "call", files["g"], "echo", "-p", "hi")
    assert proc.stdout == b"hi"
    assert proc.stderr.decode() == "rc=0 heavy=[]"


@pytest.mark.parametrize(
    "argv",
    [["call", "{g}", "echo", "-p", "hi"], ["call", "{g}", "fail"], ["call", "{m}", "echo"],
     ["call", "{g}", "echo", "--bogus"], ["--version"]],
)
def test_console_script_matches_full_cli(argv: list[str], files: dict[str, str]) -> None:
    """As real processes: ``python -m wapc_cli`` (the fast entry) and the typer app's main."""
    args = [a.format(**files) for a in argv]
    fast = subprocess.run([sys.executable, "-m", "wapc_cli", *args], capture_output=True)
    full = _run("import sys; sys.argv[0] = 'wapc'; from wapc_cli.cli.app import main; main()",
                *args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout,
                                                          full.stderr)


def test_help_through_entry_imports_no_engine() -> None:
    code = ("import sys\nfrom wapc_cli.cli import entry\n"
            "try:\n entry.main(['--help'])\nexcept SystemExit: pass\n"
            "print([m for m in ('wasmtime', 'wasmer') if m in sys.modules], file=sys.stderr)")
    proc = _run(code)
    assert b"Usage" in proc.stdout
    assert proc.stderr.decode().strip().endswith("[]")


@pytest.mark.parametrize("mode", [["-d", "raw"], ["--json"]])
def test_reader_gone_is_not_an_error_on_both_paths(
    mode: list[str], files: dict[str, str], tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 300_000)  # more than a pipe buffer: the write itself fails
    args = ["call", files["g"], "echo", "-p", f"@{big}", *mode]
    results = []
    for cmd in ([sys.executable, "-m", "wapc_cli"],
                [sys.executable, "-c", "from wapc_cli.cli.app import main; main()"]):
        read, write = os.pipe()
        os.close(read)
        try:
            proc = subprocess.run([*cmd, *args], stdout=write, stderr=subprocess.PIPE)
        finally:
            os.close(write)
        results.append((proc.returncode, proc.stderr))
    assert results[0] == results[1] == (0, b"")
