"""The CLI against hostile text and hostile surroundings.

A guest's text (console log, ``__guest_error``, host-call names, responses shown
as text) never reaches the terminal raw; ``--json`` and ``--format jsonl`` print
their JSON error object for every failure; a closed or full stdout, a reader that
goes away and an ASCII-only stdout end with one line and a documented exit code;
bench refuses plans that never end; ``--dir`` never grants the working directory
by accident. See docs/hostile-guests.md ("The terminal and the output").
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from typer.testing import CliRunner

from wapc_cli.cli import console, guard
from wapc_cli.cli.app import app
from wapc_cli.cli.runspec import dir_grant
from wapc_cli.cli.safe_text import json_safe, lines, one_line
from wapc_cli.errors import UsageError
from wapc_cli.runtime.wasi import DirGrant

#: What the guest writes everywhere: retitle the window, turn text red, return
#: the cursor, reverse the line (bidi override), a C1 CSI.
EVIL = "\x1b]0;PWNED\x07\x1b[31mRED\r\u202e\x9bX"
EVIL_WAT_BYTES = "".join(f"\\{b:02x}" for b in EVIL.encode("utf-8"))
EVIL_LEN = len(EVIL.encode("utf-8"))

#: Logs, makes a host call named EVIL, then answers EVIL, or (for an operation
#: starting with "e") sets EVIL as its error.
EVIL_WAT = f"""
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wapc" "__guest_error" (func $err (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{EVIL_WAT_BYTES}")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $req (i32.const 1024) (i32.const 2048))
    (call $log (i32.const 0) (i32.const {EVIL_LEN}))
    (drop (call $host (i32.const 0) (i32.const {EVIL_LEN}) (i32.const 0) (i32.const {EVIL_LEN})
                      (i32.const 0) (i32.const {EVIL_LEN}) (i32.const 0) (i32.const {EVIL_LEN})))
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 101))
      (then (call $err (i32.const 0) (i32.const {EVIL_LEN})) (return (i32.const 0))))
    (call $resp (i32.const 0) (i32.const {EVIL_LEN}))
    (i32.const 1)))
"""

#: An export named EVIL, and an init that logs EVIL and traps.
EVIL_INIT_WAT = f"""
(module
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{EVIL_WAT_BYTES}")
  (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1))
  (func (export "{EVIL_WAT_BYTES}"))
  (func (export "wapc_init") (call $log (i32.const 0) (i32.const {EVIL_LEN})) unreachable))
"""

#: What must never appear in anything printed as text.
RAW = ("\x1b]0;", "PWNED\x07", "\x1b[31mRED", "\r", "\u202e", "\x9b")
RAW_BYTES = tuple(item.encode("utf-8") for item in RAW)


def assert_clean(*texts: str | bytes) -> None:
    for text in texts:
        raw = RAW_BYTES if isinstance(text, bytes) else RAW
        found = [item for item in raw if item in text]  # type: ignore[operator]
        assert not found, f"raw {found!r} in {text!r}"


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "evil.wasm"
    path.write_bytes(wasmtime.wat2wasm(EVIL_WAT))
    return path


@pytest.fixture(scope="module")
def evil_init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "evil_init.wasm"
    path.write_bytes(wasmtime.wat2wasm(EVIL_INIT_WAT))
    return path


@pytest.fixture(scope="module")
def not_a_guest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "memory_only.wasm"
    path.write_bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1))'))
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout, result.stderr


def wapc(
    *args: str | bytes, stdout: int | None = subprocess.PIPE, **env: str
) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "wapc_cli", *args], stdout=stdout, stderr=subprocess.PIPE,
        env=environ, timeout=120, check=False,
    )
    assert b"Traceback" not in proc.stderr and b"Exception ignored" not in proc.stderr
    return proc


# -- the one sanitiser -----------------------------------------------------------------


def test_the_sanitiser_escapes_what_drives_a_terminal() -> None:
    assert one_line(EVIL) == "\\x1b]0;PWNED\\x07\\x1b[31mRED\\r\\u202e\\x9bX"
    assert one_line("a\nb\tc") == "a\\nb\\tc"
    assert one_line("a\tb", keep="\t") == "a\tb"
    assert lines("a\nb\tc\x1b[2J") == "a\nb\tc\\x1b[2J"
    assert one_line("\u2066x\u2069 \x7f \udcff") == "\\u2066x\\u2069 \\x7f \\udcff"
    assert one_line("héllo ✓ 日本") == "héllo ✓ 日本"  # printable text is left alone
    assert one_line("x" * 10, 4) == "xxxx..."


def test_json_safe_keeps_the_value() -> None:
    document = json.dumps({"m": EVIL + " é"}, ensure_ascii=False)
    safe = json_safe(document)
    assert_clean(safe)
    assert json.loads(safe) == {"m": EVIL + " é"}


def test_inspect_names_use_the_same_rule() -> None:
    from wapc_cli.cli.render.inspect_view import display_name
    from wapc_cli.wasm.module import display_name as core_display_name

    for name in (EVIL, "a\nb" * 80, "ok_name"):
        assert display_name(name) == core_display_name(name) == one_line(name, 100)


# -- guest text in every output ---------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["-d", "text"], ["-d", "json"], ["--json"], ["-q"]])
@pytest.mark.parametrize("operation", ["ok", "err"])
def test_call_shows_no_raw_guest_text(
    evil: Path, engine_name: str, operation: str, extra: list[str]
) -> None:
    code, out, err = cli("call", str(evil), operation, "-e", engine_name, *extra)
    assert code == (0 if operation == "ok" else 1)
    assert_clean(err)
    if {"-d", "--json"} & set(extra):  # else stdout is the raw response (piped): the product
        assert_clean(out)
    if operation == "err":
        assert "wapc: error: \\x1b]0;PWNED\\x07\\x1b[31mRED\\r\\u202e\\x9bX" in err


def test_the_raw_response_stays_raw(evil: Path) -> None:
    proc = wapc("call", str(evil), "ok", "-q")
    assert proc.returncode == 0 and proc.stdout == EVIL.encode("utf-8")


@pytest.mark.parametrize("environ", [{}, {"NO_COLOR": "1"}, {"FORCE_COLOR": "1"}])
@pytest.mark.parametrize("operation", ["ok", "err"])
def test_trace_shows_no_raw_guest_text(
    evil: Path, engine_name: str, operation: str, environ: dict[str, str]
) -> None:
    code, out, err = cli("trace", str(evil), operation, "-e", engine_name, env=environ)
    assert code == (0 if operation == "ok" else 1)
    assert_clean(out, err)
    assert "\\x1b]0;PWNED" in out  # shown, escaped: in the log, host-call name, error rows


def test_trace_jsonl_is_ascii_json(evil: Path, engine_name: str) -> None:
    code, out, err = cli("trace", str(evil), "err", "-e", engine_name, "-f", "jsonl")
    assert code == 1
    assert_clean(out, err)
    assert out.isascii()
    events = [json.loads(line) for line in out.splitlines()]
    assert any(e.get("message") == EVIL for e in events)


def test_inspect_shows_no_raw_module_text(evil_init: Path, engine_name: str) -> None:
    code, out, err = cli("inspect", str(evil_init), "--run", "-e", engine_name)
    assert code == 3
    assert_clean(out, err)
    assert "\\x1b]0;PWNED" in out
    code, out, err = cli("inspect", str(evil_init), "--run", "-e", engine_name, "--json")
    assert code == 3 and out.isascii()
    assert_clean(out, err)


def test_a_real_terminal_sees_no_raw_guest_text(evil: Path) -> None:
    """On a pty: --decode auto shows text, escaped; the log and the error line too."""
    for operation, decode in (("ok", "auto"), ("ok", "text"), ("err", "auto")):
        parent, child = pty.openpty()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "wapc_cli", "call", str(evil), operation, "-d", decode],
                stdout=child, stderr=child, timeout=120, check=False,
                env={**os.environ, "TERM": "xterm"},
            )
            os.close(child)
            child = -1
            shown = b""
            while True:
                try:
                    chunk = os.read(parent, 65536)
                except OSError:  # EIO: the other end is closed
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(parent)
            if child != -1:
                os.close(child)
        assert proc.returncode == (0 if operation == "ok" else 1)
        assert_clean(shown.replace(b"\r\n", b"\n"))  # the pty's own line endings
        assert b"\\x1b]0;PWNED" in shown


def test_subprocess_streams_carry_no_raw_guest_text(evil: Path) -> None:
    for args in (["call", str(evil), "err"], ["trace", str(evil), "err"],
                 ["call", str(evil), "ok", "-d", "text"], ["call", str(evil), "err", "--json"]):
        proc = wapc(*args)
        assert proc.returncode in (0, 1)
        assert_clean(proc.stdout, proc.stderr)


# -- --json prints its error object for every failure --------------------------------------


def _json_error(out: str) -> dict[str, object]:
    document = json.loads(out)
    assert document["exit_code"] in (2, 4)
    return document


@pytest.mark.parametrize(
    "args, kind, code",
    [
        (["call", "{missing}", "op", "--json"], "usage", 2),
        (["call", "{not_a_guest}", "op", "--json"], "not_a_guest", 4),
        (["call", "{not_a_guest}", "op", "--json", "--max-memory", "lots"], "usage", 2),
        (["call", "{not_a_guest}", "--json"], "usage", 2),  # missing OPERATION
        (["call", "{not_a_guest}", "op", "--json", "--decode", "nope"], "usage", 2),
    ],
)
def test_call_json_reports_every_failure(
    args: list[str], kind: str, code: int, not_a_guest: Path, tmp_path: Path
) -> None:
    paths = {"missing": str(tmp_path / "nope.wasm"), "not_a_guest": str(not_a_guest)}
    exit_code, out, err = cli(*(arg.format(**paths) for arg in args))
    assert exit_code == code
    document = _json_error(out)
    assert document["ok"] is False and document["exit_code"] == code
    error = document["error"]
    assert isinstance(error, dict) and error["kind"] == kind
    assert err.startswith("wapc: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "args, kind, code",
    [
        (["trace", "{missing}", "op", "-f", "jsonl"], "usage", 2),
        (["trace", "{not_a_guest}", "op", "--format", "jsonl"], "not_a_guest", 4),
        (["trace", "{not_a_guest}", "op", "--format=jsonl", "--bogus"], "usage", 2),
    ],
)
def test_trace_jsonl_ends_in_its_summary_for_every_failure(
    args: list[str], kind: str, code: int, not_a_guest: Path, tmp_path: Path
) -> None:
    paths = {"missing": str(tmp_path / "nope.wasm"), "not_a_guest": str(not_a_guest)}
    exit_code, out, _ = cli(*(arg.format(**paths) for arg in args))
    assert exit_code == code
    summary = json.loads(out.splitlines()[-1])
    assert summary["event"] == "summary" and summary["ok"] is False
    assert summary["outcome"] == kind and summary["exit_code"] == code
    assert summary["error"]["kind"] == kind


@pytest.mark.parametrize(
    "args",
    [["inspect", "{missing}", "--json"], ["inspect", "--json", "--bogus"],
     ["inspect", "{evil}", "--json", "--run", "--timeout", "soon"]],
)
def test_inspect_json_reports_usage_failures(args: list[str], evil: Path, tmp_path: Path) -> None:
    paths = {"missing": str(tmp_path / "nope.wasm"), "evil": str(evil)}
    exit_code, out, _ = cli(*(arg.format(**paths) for arg in args))
    assert exit_code == 2
    document = json.loads(out)
    assert document["exit_code"] == 2 and document["error"]["kind"] == "usage"


def test_inspect_json_of_a_non_guest_is_the_report(not_a_guest: Path) -> None:
    exit_code, out, _ = cli("inspect", str(not_a_guest), "--json")
    assert exit_code == 4
    assert json.loads(out)["conformant"] is False


# -- stdout that cannot take the output ------------------------------------------------------


COMMANDS = [
    ["call", "{evil}", "ok", "-q"],
    ["call", "{evil}", "ok", "-q", "--json"],
    ["trace", "{evil}", "ok"],
    ["trace", "{evil}", "ok", "-f", "jsonl"],
    ["inspect", "{evil}"],
    ["inspect", "{evil}", "--json"],
    ["--help"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a).replace("{evil}", "g"))
def test_a_closed_or_full_stdout_is_one_line_and_exit_74(args: list[str], evil: Path) -> None:
    argv = [arg.format(evil=evil) for arg in args]
    closed = subprocess.run(  # as `wapc ... >&-` in a shell: fd 1 closed before Python starts
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "wapc_cli", *argv],
        stderr=subprocess.PIPE, timeout=120, check=False,
    )
    assert closed.returncode == guard.OUTPUT_ERROR, closed.stderr
    assert closed.stderr.endswith(
        b"wapc: error: cannot write to standard output: Bad file descriptor\n"
    ), closed.stderr
    assert b"Traceback" not in closed.stderr
    with open("/dev/full", "wb") as full:
        proc = wapc(*argv, stdout=full.fileno())
    assert proc.returncode == guard.OUTPUT_ERROR, proc.stderr
    assert proc.stderr.endswith(
        b"wapc: error: cannot write to standard output: No space left on device\n"
    )


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a).replace("{evil}", "g"))
def test_a_reader_that_goes_away_is_no_error(args: list[str], evil: Path) -> None:
    argv = [arg.format(evil=evil) for arg in args]
    script = (
        f"{sys.executable!r} -m wapc_cli {' '.join(repr(a) for a in argv)} 2>err; "
        "echo $? >rc"
    )
    # The reader closes before anything is written: every write meets EPIPE.
    proc = subprocess.run(
        ["sh", "-c", f"( sleep 0.3; {script} ) | true; sleep 0.1; while [ ! -s rc ]; "
         "do sleep 0.1; done; cat rc err"],
        capture_output=True, timeout=120, check=False, cwd=evil.parent,
    )
    rc, _, err = proc.stdout.partition(b"\n")
    assert rc == b"0", proc.stdout
    assert b"Traceback" not in err and b"Exception ignored" not in err, err
    (evil.parent / "rc").unlink()


def test_an_ascii_stdout_gets_escapes_not_an_error(tmp_path: Path) -> None:
    echo = tmp_path / "echo.wasm"
    echo.write_bytes(wasmtime.wat2wasm("""
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $req (i32.const 0) (i32.const 1024))
    (call $resp (i32.const 1024) (local.get $len))
    (i32.const 1)))"""))
    proc = wapc("call", str(echo), "echo", "-p", "héllo ✓", "-d", "text",
                PYTHONIOENCODING="ascii")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"h\\xe9llo \\u2713\n"
    proc = wapc("trace", str(echo), "echo", "-p", "héllo", PYTHONIOENCODING="ascii")
    assert proc.returncode == 0, proc.stderr


def test_an_operation_that_is_not_utf8_is_a_usage_error(evil: Path) -> None:
    proc = wapc("call", str(evil), b"\xffop", "-q")
    assert proc.returncode == 2
    assert proc.stderr == b"wapc: error: operation '\\udcffop' is not valid UTF-8 " \
                          b"(waPC operation names are text)\n"


# -- bench plans that never end ----------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--duration", "nan"], "--duration: nan is not a positive number of seconds"),
        (["--duration", "inf"], "--duration: inf is not a positive number of seconds"),
        (["--duration", "-1"], "--duration: -1 is not a positive number of seconds"),
        (["--duration", "1e9"], "--duration: 1e+09 is more than the maximum of 3600 seconds"),
        (["--count", "10000000000"], "--count: 10000000000 is more than the maximum"),
        (["--warmup", "10000000000"], "--warmup: 10000000000 is more than the maximum"),
        (["--size", str(2**40)], "--size: 1099511627776 is more than the maximum"),
    ],
)
def test_bench_refuses_plans_that_never_end(evil: Path, flags: list[str], message: str) -> None:
    code, _, err = cli("bench", str(evil), "ok", *flags)
    assert code == 2
    assert err.startswith(f"wapc: error: {message}") and err.count("\n") == 1


def test_bench_engine_all_says_which_engine_it_leaves_out(
    evil: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wapc_cli.engines as engines

    monkeypatch.setattr(engines, "available_engines", lambda: ["wasmtime"])
    real = engines.get_engine

    def only_wasmtime(name: str = "auto") -> object:
        if name == "wasmer":
            raise engines.EngineUnavailable("engine 'wasmer' cannot be loaded in this Python: x")
        return real(name)

    monkeypatch.setattr(engines, "get_engine", only_wasmtime)
    code, _, err = cli("bench", str(evil), "ok", "--engine", "all", "-n", "5", "--warmup", "0")
    assert code == 0
    assert "wapc: warning: --engine all: leaving out wasmer: engine 'wasmer' cannot" in err


# -- --dir ------------------------------------------------------------------------------------


def test_dir_grant_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("data", "a:b", "x:rw", "a:ro:b"):
        (tmp_path / name).mkdir()
    assert dir_grant("data") == DirGrant("data", "data", writable=False)
    assert dir_grant("data:/g") == DirGrant("data", "/g", writable=False)
    assert dir_grant("a:b") == DirGrant("a:b", "a:b")  # a host path with ':' in it
    assert dir_grant("a:b:/g") == DirGrant("a:b", "/g")
    # the mode suffix: read-only unless :rw
    assert dir_grant("data:ro") == DirGrant("data", "data", writable=False)
    assert dir_grant("data:rw") == DirGrant("data", "data", writable=True)
    assert dir_grant("data:/g:rw") == DirGrant("data", "/g", writable=True)
    assert dir_grant("data:/:rw") == DirGrant("data", "/", writable=True)
    assert dir_grant("a:b:/g:ro") == DirGrant("a:b", "/g", writable=False)
    assert dir_grant("a:ro:b") == DirGrant("a:ro:b", "a:ro:b")  # ':ro' not at the end
    # a host directory whose name ends in a mode is named with a mode, or a guest path
    assert dir_grant("x:rw:ro") == DirGrant("x:rw", "x:rw", writable=False)
    assert dir_grant("x:rw:/g") == DirGrant("x:rw", "/g", writable=False)
    with pytest.raises(UsageError, match="'x' is not a directory"):
        dir_grant("x:rw")
    for empty in ("", ":/g", ":rw", ":/g:ro"):
        with pytest.raises(UsageError, match="names no host directory"):
            dir_grant(empty)
    with pytest.raises(UsageError, match="must be absolute"):
        dir_grant("data:relative")
    with pytest.raises(UsageError, match="the mode after ':' is ro or rw, not 'RW'"):
        dir_grant("data:RW")
    with pytest.raises(UsageError, match="one mode, at the end"):
        dir_grant("data:/g:ro:rw")
    # a host directory whose name is not UTF-8 needs a guest path (WASI paths are text)
    odd = os.fsdecode(b"odd\xff")
    (tmp_path / odd).mkdir()
    with pytest.raises(UsageError, match=r"is not valid UTF-8 \(give the grant a GUEST_DIR"):
        dir_grant(odd)
    assert dir_grant(f"{odd}:/odd:rw") == DirGrant(odd, "/odd", writable=True)


@pytest.mark.parametrize("value", ["", ":/g", ":rw"])
def test_an_empty_dir_is_refused_not_the_working_directory(evil: Path, value: str) -> None:
    code, _, err = cli("call", str(evil), "ok", "-q", "--dir", value)
    assert code == 2
    assert err == (f"wapc: error: --dir: '{value}' names no host directory "
                   "(HOST_DIR[:/GUEST_DIR][:ro|:rw])\n")


# -- layout ---------------------------------------------------------------------------------


def test_a_narrow_trace_keeps_a_readable_detail_column(evil: Path) -> None:
    code, out, _ = cli("trace", str(evil), "ok", env={"COLUMNS": "40"})
    assert code == 0
    rows = out.splitlines()
    assert all(len(row) <= 40 for row in rows), [row for row in rows if len(row) > 40]
    # the detail column keeps most of the width: the escaped log runs on 30-wide lines
    assert any("\\x1b]0;PWNED\\x07\\x1b[31mRED\\r" in row for row in rows), out
    wide = cli("trace", str(evil), "ok", env={"COLUMNS": "100"})[1]
    assert "console_log" in wide and all(len(row) <= 100 for row in wide.splitlines())


def test_one_page_is_one_page(evil: Path) -> None:
    _, out, _ = cli("inspect", str(evil))
    assert "memory: 1 page (64 KiB)" in out and "(1 pages)" not in out


def test_stderr_that_is_gone_does_not_hide_the_exit_code() -> None:
    terminal = console.Terminal(stderr=None)
    terminal.given_stderr = _Failing()  # type: ignore[assignment]
    terminal.error_line("still exits")  # no exception: nowhere left to report


class _Failing:
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        raise OSError(28, "No space left on device")
