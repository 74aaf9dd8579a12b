"""`wapc inspect`: the static report (core) and the command (CliRunner, subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wat
from typer.testing import CliRunner

from wapc_cli import abi
from wapc_cli.cli.app import app
from wapc_cli.errors import NotWasmError
from wapc_cli.tools.inspect import Report, inspect_module, run_init

SAMPLES = Path(__file__).resolve().parent.parent / "sample_guests"
MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())["modules"]
ANSI = re.compile(r"\x1b\[")

GOOD_WAT = """
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $req (i32.const 0) (i32.const 0))
    (call $resp (i32.const 0) (local.get 1))
    (i32.const 1)))
"""

_GUEST_CALL = '(func (export "__guest_call") (param i32 i32) (result i32) i32.const 1)'
_REQ_RESP = """
  (import "wapc" "__guest_request" (func (param i32 i32)))
  (import "wapc" "__guest_response" (func (param i32 i32)))
"""

#: name -> (WAT, error code, words the error message must contain)
BROKEN = {
    "missing_guest_call": (
        f'(module {_REQ_RESP} (memory (export "memory") 1) '
        '(func (export "guest_call") (param i32 i32) (result i32) i32.const 1))',
        "missing-guest-call", "'__guest_call'",
    ),
    "guest_call_wrong_signature": (
        f'(module {_REQ_RESP} (memory (export "memory") 1) '
        '(func (export "__guest_call") (param i32) (result i32) i32.const 1))',
        "guest-call-signature", "(i32) -> (i32), expected (i32, i32) -> (i32)",
    ),
    "guest_call_is_a_global": (
        f'(module {_REQ_RESP} (memory (export "memory") 1) '
        '(global (export "__guest_call") i32 (i32.const 0)))',
        "guest-call-not-function", "global",
    ),
    "unknown_wapc_import": (
        f'(module {_REQ_RESP} (import "wapc" "__host_log" (func (param i32 i32))) '
        f'(memory (export "memory") 1) {_GUEST_CALL})',
        "unknown-wapc-import", "wapc.__host_log",
    ),
    "wapc_import_wrong_signature": (
        f'(module {_REQ_RESP} (import "wapc" "__host_call" (func (param i32 i32) (result i32))) '
        f'(memory (export "memory") 1) {_GUEST_CALL})',
        "import-signature", "wapc.__host_call' has type (i32, i32) -> (i32)",
    ),
    "env_abort_wrong_signature": (
        f'(module {_REQ_RESP} (import "env" "abort" (func (param i32))) '
        f'(memory (export "memory") 1) {_GUEST_CALL})',
        "import-signature", "env.abort",
    ),
    "no_memory_export": (
        f"(module {_REQ_RESP} (memory 1) {_GUEST_CALL})",
        "missing-memory", "does not export its memory",
    ),
    "memory_under_another_name": (
        f'(module {_REQ_RESP} (memory (export "mem") 1) {_GUEST_CALL})',
        "missing-memory", "'mem', not 'memory'",
    ),
    "no_memory_at_all": (
        f"(module {_REQ_RESP} {_GUEST_CALL})", "missing-memory", "no memory",
    ),
    "unknown_import_module": (
        f'(module {_REQ_RESP} (import "my_host" "get_time" (func (result i64))) '
        f'(memory (export "memory") 1) {_GUEST_CALL})',
        "unsupported-import", "my_host.get_time",
    ),
    "imported_memory": (
        f'(module {_REQ_RESP} (import "env" "memory" (memory 1)) (export "memory" (memory 0)) '
        f"{_GUEST_CALL})",
        "unsupported-import", "imports its memory",
    ),
    "undefined_env_symbol": (
        f'(module {_REQ_RESP} (import "env" "printf" (func (param i32 i32) (result i32))) '
        f'(memory (export "memory") 1) {_GUEST_CALL})',
        "unsupported-import", "env.printf",
    ),
    "wasi_global_import": (
        f'(module {_REQ_RESP} (import "wasi_snapshot_preview1" "x" (global i32)) '
        f'(memory (export "memory") 1) {_GUEST_CALL})',
        "unsupported-import", "wasi_snapshot_preview1.x",
    ),
    "init_with_arguments": (
        f'(module {_REQ_RESP} (memory (export "memory") 1) {_GUEST_CALL} '
        '(func (export "wapc_init") (param i32)))',
        "init-signature", "wapc_init",
    ),
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def report_of(text: str) -> Report:
    return inspect_module(wat(text), "<wat>")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- the static report -------------------------------------------------------------


def test_good_guest_is_conformant() -> None:
    report = report_of(GOOD_WAT)
    assert report.conformant and not report.errors and not report.warnings
    assert {e.name: e.role for e in report.exports} == {
        "memory": "memory", "__guest_call": "guest_call"
    }
    assert report.memory is not None and report.memory.min_pages == 1
    assert report.memory.max_pages is None
    assert report.init.style == "none" and not report.wasi
    assert report.counts.imported_functions == 2 and report.counts.functions == 1


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_module_is_not_conformant(case: str) -> None:
    text, code, words = BROKEN[case]
    report = report_of(text)
    assert not report.conformant
    codes = [f.code for f in report.errors]
    assert code in codes, codes
    finding = report.errors[codes.index(code)]
    assert words in finding.message
    assert finding.impact and finding.fix


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_cli_exits_4_naming_the_problem(runner: CliRunner, tmp_path: Path, case: str) -> None:
    text, code, words = BROKEN[case]
    path = write(tmp_path, f"{case}.wasm", wat(text))
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 4, result.output
    assert words in result.stdout and f"[{code}]" in result.stdout  # full report first
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wapc: error: module ")
    assert str(path) in lines[0] and "not a waPC guest" in lines[0]


def test_all_nine_wapc_imports_with_their_signatures_are_accepted() -> None:
    imports = "".join(
        f'(import "wapc" "{name}" (func (param {" ".join(p)}) (result {" ".join(r)})))'
        .replace("(param )", "").replace("(result )", "")
        for name, (p, r) in abi.HOST_IMPORTS.items()
    )
    report = report_of(f'(module {imports} (memory (export "memory") 1) {_GUEST_CALL})')
    assert report.conformant, report.errors
    assert sorted(i.name for i in report.imports if i.role == "wapc" and i.ok) == sorted(
        abi.HOST_IMPORTS
    )


def test_env_imports_of_real_sdks_are_recognised() -> None:
    report = report_of(f"""(module {_REQ_RESP}
        (import "env" "abort" (func (param i32 i32 i32 i32)))
        (import "env" "__console_log" (func (param i32 i32)))
        (memory (export "memory") 1) {_GUEST_CALL})""")
    assert report.conformant
    assert [i.role for i in report.imports if i.module == "env"] == ["env", "env"]


def test_wasi_imports_are_a_need_not_an_error() -> None:
    report = report_of(f"""(module {_REQ_RESP}
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (import "wasi_unstable" "proc_exit" (func (param i32)))
        (import "wasi_snapshot_preview1" "sock_frobnicate" (func (param i32) (result i32)))
        (memory (export "memory") 1) {_GUEST_CALL})""")
    assert report.conformant and report.wasi
    assert report.wasi_modules == ("wasi_snapshot_preview1", "wasi_unstable")
    # the note comes from the runtime's implementation table: only the one it lacks
    enosys = [n for n in report.notes if "ENOSYS" in n]
    assert len(enosys) == 1 and "sock_frobnicate" in enosys[0], report.notes
    assert any(n == "WASI: 2 function(s) from `wasi_snapshot_preview1`" for n in report.sdk.needs)


def test_the_wasi_note_knows_each_module_and_each_type() -> None:
    """As the host answers: wasi_unstable has no sock_accept (ENOSYS), and a WASI name
    imported with another type traps when called."""
    report = report_of(f"""(module {_REQ_RESP}
        (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))
        (import "wasi_unstable" "sock_accept" (func (param i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1) {_GUEST_CALL})""")
    enosys = [n for n in report.notes if "ENOSYS" in n]
    assert len(enosys) == 1 and "wasi_unstable.sock_accept" in enosys[0], report.notes
    mistyped = [n for n in report.notes if "WASI defines" in n]
    assert len(mistyped) == 1 and "fd_write" in mistyped[0] and "traps" in mistyped[0]


def test_warnings() -> None:
    report = report_of(f"""(module
        (memory (export "memory") 1 4) {_GUEST_CALL}
        (func (export "_start")) (func (export "_initialize")))""")
    assert report.conformant
    codes = {w.code for w in report.warnings}
    assert codes == {"no-guest-request", "no-reply", "small-memory-max", "command-and-reactor"}
    assert report.init.exports == ("_start", "_initialize")


def test_init_export_that_is_not_a_function_is_a_warning() -> None:
    report = report_of(f"""(module {_REQ_RESP} (memory (export "memory") 1) {_GUEST_CALL}
        (global (export "_initialize") i32 (i32.const 0)))""")
    assert report.conformant
    assert [w.code for w in report.warnings] == ["init-not-function"]
    assert report.init.exports == ()


def test_init_order_and_start_section() -> None:
    report = report_of(f"""(module {_REQ_RESP} (memory (export "memory") 1) {_GUEST_CALL}
        (func $boot) (start $boot)
        (func (export "wapc_init")) (func (export "_initialize")))""")
    assert report.init.start_section and report.init.start_function == "boot"
    assert report.init.exports == ("_initialize", "wapc_init")  # the order hosts run them
    assert report.init.style == "reactor"


def test_malformed_name_section_is_a_warning() -> None:
    data = wat(GOOD_WAT) + b"\x00\x08\x04name\x01\x05\x01"  # subsection cut short
    report = inspect_module(data, "x.wasm")
    assert report.conformant
    assert [w.code for w in report.warnings] == ["malformed-custom-section"]


def test_hostile_names_are_escaped_in_messages() -> None:
    report = report_of(f"""(module {_REQ_RESP} (import "evil\\1b[31m" "{"x" * 300}" (func))
        (memory (export "memory") 1) {_GUEST_CALL})""")
    message = report.errors[0].message
    assert "\x1b" not in message and "\\x1b[31m" in message
    assert len(message) < 250


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"(module)\n", "compile it with wat2wasm"),
        (b"\0asm\x01\0\0", "truncated"),
        (b"\0asm\x01\0\0\0\x0a\x20\x01", "truncated: the code section declares 32 bytes"),
        (b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f", "truncated"),
    ],
)
def test_not_wasm_raises(data: bytes, words: str) -> None:
    with pytest.raises(NotWasmError, match=re.escape(words)) as info:
        inspect_module(data, "m.wasm")
    assert "'m.wasm'" in str(info.value)


# -- SDK fingerprints ----------------------------------------------------------------

#: Module shapes of toolchains that cannot be built here, as their guests look.
TINYGO_WAT = f"""(module
  (@producers (language "Go" "1.21") (processed-by "TinyGo" "0.30.0"))
  {_REQ_RESP}
  (import "wapc" "__guest_error" (func (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func $runtime.alloc (export "malloc") (param i32) (result i32) i32.const 0)
  (func $runtime.free (export "free") (param i32))
  (func (export "calloc") (param i32 i32) (result i32) i32.const 0)
  (func (export "realloc") (param i32 i32) (result i32) i32.const 0)
  (func (export "asyncify_start_unwind") (param i32))
  (func $_initialize (export "_initialize"))
  {_GUEST_CALL})"""

OLD_TINYGO_WAT = f"""(module {_REQ_RESP}
  (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "malloc") (param i32) (result i32) i32.const 0)
  (func (export "free") (param i32))
  (func (export "_start"))
  {_GUEST_CALL})"""

AS_WAT = f"""(module {_REQ_RESP}
  (import "env" "abort" (func (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "~\\00l\\00i\\00b\\00/\\00r\\00t\\00")
  (func $~lib/rt/itcms/__new (export "__new") (param i32 i32) (result i32) i32.const 0)
  (func $start) (start $start)
  {_GUEST_CALL})"""

ZIG_WAT = f"""(module {_REQ_RESP}
  (import "env" "__console_log" (func (param i32 i32)))
  (memory (export "memory") 17)
  (func (export "wapc_init"))
  {_GUEST_CALL})"""

RUST_WAT = f"""(module
  (@producers (language "Rust" "") (processed-by "rustc" "1.70.0"))
  {_REQ_RESP}
  (memory (export "memory") 17)
  (global (export "__data_end") i32 (i32.const 1024))
  (global (export "__heap_base") i32 (i32.const 2048))
  (func $_ZN10wapc_guest13register_function17h0E)
  (func (export "wapc_init"))
  {_GUEST_CALL})"""

C_WAT = f"""(module
  (@producers (language "C11" "") (processed-by "clang" "16.0.0"))
  {_REQ_RESP}
  (memory (export "memory") 2)
  (func $__wasm_call_ctors)
  (func (export "_initialize"))
  {_GUEST_CALL})"""


@pytest.mark.parametrize(
    ("text", "sdk", "need"),
    [
        (TINYGO_WAT, "tinygo", "reactor: `_initialize`"),
        (OLD_TINYGO_WAT, "tinygo", "command: `_start`"),
        (AS_WAT, "assemblyscript", "start section"),
        (ZIG_WAT, "zig", "`env.__console_log(ptr, len)`"),
        (RUST_WAT, "rust", "`wapc_init` called once"),
        (C_WAT, "c", "reactor: `_initialize`"),
    ],
)
def test_sdk_fingerprint(text: str, sdk: str, need: str) -> None:
    report = report_of(text)
    assert report.conformant, report.errors
    assert report.sdk.id == sdk, report.sdk
    assert report.sdk.evidence
    assert any(n.startswith(need) for n in report.sdk.needs), report.sdk.needs


def test_no_evidence_means_unknown() -> None:
    report = report_of(GOOD_WAT)
    assert report.sdk.id == "unknown" and report.sdk.confidence == "low"


# -- real guests ---------------------------------------------------------------------


def _expected_sdk(language: str) -> str:
    for prefix, sdk in (
        ("AssemblyScript", "assemblyscript"), ("C ", "c"), ("Zig", "zig"), ("Rust", "rust"),
        ("TinyGo", "tinygo"),
    ):
        if language.startswith(prefix):
            return sdk
    raise AssertionError(f"manifest language not mapped: {language}")


@pytest.mark.parametrize("path", sorted(MANIFEST))
def test_sample_guest_report(path: str) -> None:
    entry = MANIFEST[path]
    report = inspect_module((SAMPLES / path).read_bytes(), path)
    assert report.conformant, report.errors
    assert not report.warnings, report.warnings
    assert report.sdk.id == _expected_sdk(entry["language"]), report.sdk
    assert report.sdk.confidence in ("high", "medium")
    assert report.wasi == entry["wasi"]
    assert {f"{i.module}.{i.name}" for i in report.imports} >= set(entry["imports"])
    assert {e.name for e in report.exports} >= set(entry["exports"])
    if entry["init"] == "start_section":
        assert report.init.start_section and report.init.exports == ()
    else:
        assert entry["init"] in report.init.exports
    assert report.size == (SAMPLES / path).stat().st_size


@pytest.mark.parametrize("path", sorted(MANIFEST))
def test_sample_guest_cli_json_and_run(runner: CliRunner, path: str) -> None:
    result = runner.invoke(app, ["inspect", str(SAMPLES / path), "--json", "--run", "--strict"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["conformant"] is True and document["exit_code"] == 0
    assert document["run"]["ok"] is True
    steps = [s["step"] for s in document["run"]["steps"]]
    init = MANIFEST[path]["init"]
    # A start section runs as its own init step, after instantiation (wapc_cli.wasm.startfn).
    expected = "start section" if init == "start_section" else init
    assert steps[:2] == ["compile", "instantiate" if init == "start_section" else "start"]
    assert expected in steps


def test_run_on_every_engine(engine_name: str) -> None:
    data = (SAMPLES / "build/c_command_exit.wasm").read_bytes()
    result = run_init(data, "c_command_exit.wasm", engine=engine_name)
    assert result.ok and result.engine == engine_name
    assert [(s.step, s.outcome) for s in result.steps] == [
        ("compile", "ok"), ("start", "ok"), ("_start", "exit(0)")
    ]


# -- the command ---------------------------------------------------------------------


def test_json_schema(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "g.wasm", wat(TINYGO_WAT))
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    for key in ("conformant", "errors", "warnings", "imports", "exports", "init", "wasi", "sdk",
                "memory", "custom_sections", "counts", "size", "module", "notes", "run",
                "exit_code", "format"):
        assert key in doc, key
    assert doc["wasi"] is True and doc["run"] is None
    assert doc["imports"][0] == {
        "module": "wapc", "name": "__guest_request", "kind": "func",
        "params": ["i32", "i32"], "results": [], "role": "wapc", "ok": True,
    }
    assert {"name": "__guest_call", "kind": "func", "role": "guest_call",
            "params": ["i32", "i32"], "results": ["i32"]} in doc["exports"]
    assert doc["init"] == {"start_section": False, "start_function": None,
                           "exports": ["_initialize"], "style": "reactor"}
    assert doc["sdk"]["id"] == "tinygo" and doc["sdk"]["evidence"] and doc["sdk"]["needs"]
    assert doc["memory"]["min_pages"] == 2 and doc["memory"]["max_pages"] is None
    assert {"name": "producers", "size": doc["custom_sections"][0]["size"]} in doc[
        "custom_sections"
    ]


def test_json_for_a_broken_module(runner: CliRunner, tmp_path: Path) -> None:
    text, code, _ = BROKEN["unknown_wapc_import"]
    path = write(tmp_path, "b.wasm", wat(text))
    result = runner.invoke(app, ["inspect", str(path), "--json", "--run"])
    assert result.exit_code == 4
    doc = json.loads(result.stdout)
    assert doc["conformant"] is False and doc["exit_code"] == 4 and doc["run"] is None
    assert doc["errors"][0]["code"] == code
    assert set(doc["errors"][0]) == {"code", "message", "impact", "fix"}


def test_strict_fails_on_warnings(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "w.wasm", wat(f'(module (memory (export "memory") 1) {_GUEST_CALL})'))
    assert runner.invoke(app, ["inspect", str(path)]).exit_code == 0
    strict = runner.invoke(app, ["inspect", str(path), "--strict"])
    assert strict.exit_code == 4
    assert "warning(s) with --strict" in strict.stderr


def test_run_reports_a_trapping_init_with_exit_3(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "t.wasm", wat(f"""(module {_REQ_RESP} (memory (export "memory") 1)
        {_GUEST_CALL} (func (export "wapc_init") unreachable))"""))
    result = runner.invoke(app, ["inspect", str(path), "--run"])
    assert result.exit_code == 3, result.output
    assert "wapc_init" in result.stdout and "trap" in result.stdout
    assert "initialisation failed" in result.stderr
    doc = json.loads(runner.invoke(app, ["inspect", str(path), "--run", "--json"]).stdout)
    assert doc["run"]["ok"] is False and doc["run"]["exit_code"] == 3
    assert doc["run"]["steps"][-1] == {**doc["run"]["steps"][-1], "step": "wapc_init",
                                       "outcome": "trap"}


def test_run_reports_a_trapping_start_section(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "s.wasm", wat(f"""(module {_REQ_RESP} (memory (export "memory") 1)
        {_GUEST_CALL} (func $boom unreachable) (start $boom))"""))
    result = runner.invoke(app, ["inspect", str(path), "--run", "--json"])
    assert result.exit_code == 3
    steps = json.loads(result.stdout)["run"]["steps"]
    assert [(s["step"], s["outcome"]) for s in steps] == [
        ("compile", "ok"), ("instantiate", "ok"), ("start section", "trap")
    ]


def test_run_reports_code_the_engine_refuses(runner: CliRunner, tmp_path: Path) -> None:
    # The static reader skips function bodies; the engine validates them.
    path = write(tmp_path, "v.wasm", wat(f"""(module {_REQ_RESP} (memory (export "memory") 1)
        (func (export "__guest_call") (param i32 i32) (result i32) i32.const 1))"""))
    data = bytearray(path.read_bytes())
    data[data.rindex(b"\x41\x01\x0b")] = 0x42  # i32.const -> i64.const: a type error
    path.write_bytes(bytes(data))
    static = runner.invoke(app, ["inspect", str(path)])
    assert static.exit_code == 0, static.output
    result = runner.invoke(app, ["inspect", str(path), "--run", "--json"])
    assert result.exit_code == 2, result.output
    run = json.loads(result.stdout)["run"]
    assert run["steps"] == [{**run["steps"][0], "step": "compile", "outcome": "error"}]
    assert "not a valid WebAssembly module" in run["error"]


def test_run_with_a_timeout(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "loop.wasm", wat(f"""(module {_REQ_RESP} (memory (export "memory") 1)
        {_GUEST_CALL} (func (export "_initialize") (loop (br 0))))"""))
    result = runner.invoke(app, ["inspect", str(path), "--run", "--timeout", "0.5"])
    assert result.exit_code == 3
    assert "timeout" in result.stderr


def test_unreadable_files_exit_2_with_one_line(runner: CliRunner, tmp_path: Path) -> None:
    cases = {
        "missing": (tmp_path / "missing.wasm", "no such file"),
        "dir": (tmp_path, "is a directory"),
        "empty": (write(tmp_path, "e.wasm", b""), "is empty"),
        "text": (write(tmp_path, "t.wat", b"(module)"), "wat2wasm"),
        "truncated": (
            write(tmp_path, "c.wasm", (SAMPLES / "build/c_reactor.wasm").read_bytes()[:3000]),
            "truncated: the code section",
        ),
    }
    for path, words in cases.values():
        result = runner.invoke(app, ["inspect", str(path)])
        assert result.exit_code == 2, (path, result.output)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and words in lines[0] and str(path) in lines[0], lines


def test_truncation_message_names_the_offset(runner: CliRunner, tmp_path: Path) -> None:
    data = (SAMPLES / "build/zig_guest.wasm").read_bytes()
    path = write(tmp_path, "z.wasm", data[: len(data) // 2])
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2
    assert re.search(r"at byte \d+, 0x[0-9a-f]+", result.stderr)


def test_text_report_is_plain_and_fits_80_columns(runner: CliRunner) -> None:
    for path in ("build/c_sandbox.wasm", "thirdparty/rust_host_call.wasm"):
        result = runner.invoke(app, ["inspect", str(SAMPLES / path), "--run"])
        assert result.exit_code == 0, result.stderr
        assert not ANSI.search(result.stdout)
        assert all(len(line) <= 80 for line in result.stdout.splitlines())
        assert all(line == line.rstrip() for line in result.stdout.splitlines())
        for words in ("conformant waPC guest", "Toolchain", "Exports", "Imports", "Init",
                      "Custom sections", "Run (wasmtime)"):
            assert words in result.stdout


def test_colour_only_when_asked_and_never_with_no_color(runner: CliRunner) -> None:
    path = str(SAMPLES / "build/zig_guest.wasm")
    forced = runner.invoke(app, ["inspect", path], env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert ANSI.search(forced.stdout)
    plain = runner.invoke(app, ["inspect", path], env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert not ANSI.search(plain.stdout)


def test_long_lists_are_capped_in_text_but_complete_in_json(
    runner: CliRunner, tmp_path: Path
) -> None:
    imports = "".join(f'(import "h{i}" "f" (func))' for i in range(150))
    path = write(tmp_path, "many.wasm",
                 wat(f'(module {imports} {_REQ_RESP} (memory (export "memory") 1) {_GUEST_CALL})'))
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 4
    assert "more (--json lists them all)" in result.stdout
    doc = json.loads(runner.invoke(app, ["inspect", str(path), "--json"]).stdout)
    assert len(doc["errors"]) == 150 and len(doc["imports"]) == 152


def test_real_subprocess_piped_output() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "inspect", str(SAMPLES / "build/as_guest.wasm")],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "AssemblyScript" in done.stdout and not ANSI.search(done.stdout)
    assert done.stderr == ""
