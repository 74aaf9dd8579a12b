"""Stub tables against hostile input: tables, the files they name, guest payloads, --record.

Each test is a regression test for one finding of the hardening issue: every
case ends in one clear line on stderr with the documented exit code, without a
traceback, in bounded time.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stub_guests import FORWARD_WAT, build
from typer.testing import CliRunner

from wapc_cli.cli.app import app
from wapc_cli.errors import UsageError
from wapc_cli.runtime.hostcalls import HostCallRequest, HostReply
from wapc_cli.tools.stubs import StubHandler, StubTableError, check_stub_file, load_stub_file
from wapc_cli.tools.stubs.exec_reply import run_exec
from wapc_cli.tools.stubs.record_file import RecordFile
from wapc_cli.tools.stubs.recorder import Recorder


@pytest.fixture(scope="module")
def forward(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("guests") / "forward.wasm", FORWARD_WAT)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(folder: Path, text: str, name: str = "stubs.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    _, source = check_stub_file(path)
    return [str(p) for p in source.problems]


def one_clean_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- (2) regular expressions: linear time on the guest's payload ----------------------------
CATASTROPHIC = "calls:\n  - match: 'b:ns:*'\n    when: {regex: '^(a+)+$'}\n    reply: matched\n"


def test_catastrophic_pattern_matches_in_linear_time(tmp_path: Path) -> None:
    table = load_stub_file(write(tmp_path, CATASTROPHIC))
    rule = table.rules[0]
    started = time.monotonic()
    assert not rule.matches(HostCallRequest("b", "ns", "op", b"a" * 40 + b"b"))
    assert not rule.matches(HostCallRequest("b", "ns", "op", b"a" * 100_000 + b"b"))
    assert rule.matches(HostCallRequest("b", "ns", "op", b"a" * 40))
    assert time.monotonic() - started < 1.0


def test_catastrophic_pattern_through_the_cli(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, CATASTROPHIC)
    started = time.monotonic()
    code, _, err = run("call", str(forward), "op", "-q", "-p", "a" * 40 + "b",
                       "--stubs", str(stubs))
    assert time.monotonic() - started < 5.0  # Python's re would not finish at all
    assert code == 1 and "no stub answers b:ns:op" in one_clean_line(err)
    code, out, _ = run("call", str(forward), "op", "-p", "a" * 40, "--stubs", str(stubs))
    assert (code, out) == (0, "matched")


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", "(?=a)b", "(?<!a)b", "(?P<x>a)(?P=x)", "(a{500}){500}"])
def test_backtracking_only_patterns_are_refused_at_load(tmp_path: Path, pattern: str) -> None:
    path = write(tmp_path, f"calls:\n  - match: 'a:b:c'\n    when: {{regex: '{pattern}'}}\n"
                           "    reply: x\n")
    (found,) = problems(path)
    assert found.startswith(
        f"{path}:3:19: calls[0].when.regex: not supported by linear-time matching (RE2: ")
    assert "no backreferences or lookaround" in found


def test_regex_errors_are_one_line_without_re2_logging(tmp_path: Path) -> None:
    path = write(tmp_path, "calls:\n  - match: 'a:b:c'\n    when: {regex: '(?=x'}\n    reply: x\n")
    result = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "stubs", "check", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    line = one_clean_line(result.stderr)  # RE2's own logging would add lines here
    assert "calls[0].when.regex: not a valid regular expression" in line


# -- (5) (8) (9) --record: claimed before the run, exclusively, never through a link ---------
def test_record_refuses_a_dangling_symlink(forward: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "created.yaml"
    target.parent.mkdir()
    link = tmp_path / "rec.yaml"
    link.symlink_to(target)
    for extra in ((), ("--force",)):
        code, _, err = run("call", str(forward), "op", "--record", str(link), *extra)
        assert code == 2 and "is a symbolic link" in one_clean_line(err)
        assert not target.exists()


def test_record_refuses_a_symlink_to_a_file_even_with_force(forward: Path, tmp_path: Path) -> None:
    target = write(tmp_path, "keep me\n", "target.yaml")
    link = tmp_path / "rec.yaml"
    link.symlink_to(target)
    code, _, err = run("call", str(forward), "op", "--record", str(link), "--force")
    assert code == 2 and "is a symbolic link" in one_clean_line(err)
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize(
    ("name", "words"),
    [("nodir/r.yaml", "no folder"), ("afile/r.yaml", "is not a folder"),
     ("adir", "is a directory")],
)
def test_bad_record_path_fails_before_the_guest_runs(
    forward: Path, tmp_path: Path, name: str, words: str
) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    marker = tmp_path / "the-guest-ran"
    stubs = write(tmp_path, f"calls:\n  - match: '*'\n    reply: {{exec: [touch, '{marker}']}}\n")
    code, _, err = run("call", str(forward), "op", "--stubs", str(stubs),
                       "--record", str(tmp_path / name))
    assert code == 2 and words in one_clean_line(err)
    assert not marker.exists()


def test_record_file_is_created_exclusively(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    claimed = RecordFile(path, overwrite=False)
    assert path.exists()
    with pytest.raises(UsageError, match="exists"):
        RecordFile(path, overwrite=False)
    # Another file put in its place during the run is not overwritten.
    path.unlink()
    path.write_text("someone else's\n")
    claimed.write(b"recording\n")
    assert path.read_text() == "someone else's\n"


def test_record_file_left_unwritten_is_removed(forward: Path, tmp_path: Path) -> None:
    not_wasm = tmp_path / "not.wasm"
    not_wasm.write_bytes(b"not a module")
    record = tmp_path / "rec.yaml"
    code = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(not_wasm), "op", "--record", str(record)],
        capture_output=True, timeout=60,
    ).returncode
    assert code == 2 and not record.exists()
    kept = write(tmp_path, "old recording\n", "kept.yaml")  # --force keeps it until the end
    subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(not_wasm), "op", "--record", str(kept),
         "--force"], capture_output=True, timeout=60,
    )
    assert kept.read_text() == "old recording\n"


def test_record_force_overwrites_a_file_and_refuses_a_fifo(forward: Path, tmp_path: Path) -> None:
    old = write(tmp_path, "old\n", "rec.yaml")
    code, _, _ = run("call", str(forward), "op", "--preset", "tarmac", "--record", str(old),
                     "--force")
    assert code == 1 and old.read_text().startswith("# Recorded by wapc")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = run("call", str(forward), "op", "--record", str(fifo), "--force")
    assert code == 2 and "not a regular file" in one_clean_line(err)


# -- (23) a recording loads back byte for byte ------------------------------------------------
def test_recorded_nel_payload_replays(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, "calls:\n  - {match: 'b:ns:*', reply: {echo: true}}\n")
    record = tmp_path / "rec.yaml"
    payload = "line\u0085next\u2028and\u2029more\ufeff"
    first = run("call", str(forward), "op", "-p", payload, "--stubs", str(stubs),
                "--record", str(record))
    replay = run("call", str(forward), "op", "-p", payload, "--stubs", str(record))
    assert first[0] == replay[0] == 0
    assert first[1] == replay[1] == payload


NAMES = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
ANSWERS = st.tuples(st.binary(max_size=64), st.one_of(st.none(), NAMES))
CALLS = st.lists(st.tuples(NAMES, NAMES, NAMES, st.binary(max_size=64), ANSWERS),
                 min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CALLS)
def test_any_recording_replays_identically(calls: list[tuple[str, str, str, bytes,
                                                             tuple[bytes, str | None]]]) -> None:
    script = {}
    for binding, namespace, operation, payload, (body, error) in calls:
        request = HostCallRequest(binding, namespace, operation, payload)
        script.setdefault(request, []).append(HostReply(body, error))
    served: dict[HostCallRequest, int] = {}

    def inner(request: HostCallRequest) -> HostReply:
        index = served.get(request, 0)
        served[request] = index + 1
        return script[request][index]

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rec.yaml"
        recorder = Recorder(inner, path, force=False)
        requests = [HostCallRequest(b, n, o, p) for b, n, o, p, _ in calls]
        expected = [recorder(request) for request in requests]
        recorder.write()
        replay = StubHandler([load_stub_file(path)])
        for request, want in zip(requests, expected, strict=True):
            got = replay(request)
            assert (got.body, got.error) == (want.body, want.error)  # type: ignore[union-attr]
        assert replay.unmet() == []


# -- (6) (13) files a table names: inside its folder, regular, bounded ---------------------
def reply_file(folder: Path, name: str) -> list[str]:
    return problems(write(folder, f"calls:\n  - match: 'a:b:c'\n    reply: {{file: '{name}'}}\n"))


def test_file_reply_inside_the_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "r.bin").write_bytes(b"\x00\x01")
    (tmp_path / "link.bin").symlink_to(tmp_path / "sub" / "r.bin")  # a link that stays inside
    for name in ("sub/r.bin", "link.bin", "sub/../sub/r.bin"):
        table = load_stub_file(
            write(tmp_path, f"calls:\n  - match: 'a:b:c'\n    reply: {{file: '{name}'}}\n"))
        assert table.rules[0].answers[0].body.data == b"\x00\x01"


@pytest.mark.parametrize("name", ["../secret.txt", "{outside}/secret.txt", "out.txt"])
def test_file_reply_outside_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    table_dir, outside = tmp_path / "table", tmp_path / "outside"
    table_dir.mkdir()
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("TOP-SECRET")
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    (table_dir / "out.txt").symlink_to(secret)
    (found,) = reply_file(table_dir, name.format(outside=outside))
    assert ":3:19: calls[0].reply.file: " in found
    assert "leads outside the stub table's folder" in found and "TOP-SECRET" not in found
    if name == "out.txt":
        assert "through a symbolic link" in found


def test_kvstore_seed_outside_the_folder_is_refused(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, "kvstore: /etc/passwd\n")
    code, _, err = run("stubs", "check", str(stubs))
    line = one_clean_line(err)
    assert code == 2 and "kvstore: '/etc/passwd' leads outside the stub table's folder" in line
    assert "root:" not in line  # nothing of the file's content


def test_kvstore_seed_problems_do_not_quote_the_file(tmp_path: Path) -> None:
    write(tmp_path, "SECRET-LINE-1\nSECRET-LINE-2: [\n", "seed.yaml")
    write(tmp_path, "- SECRET-LIST-ITEM\n", "list.yaml")
    write(tmp_path, "SECRET-KEY: {SECRET-FORM: 1}\nk2: !SECRET-TAG x\n", "forms.yaml")
    for seed in ("seed.yaml", "list.yaml", "forms.yaml"):
        found = problems(write(tmp_path, f"kvstore: {seed}\n"))
        assert found, seed
        assert not any("SECRET" in p for p in found), found


def test_fifo_file_reply_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    started = time.monotonic()
    (found,) = reply_file(tmp_path, "pipe")
    assert "'pipe' is a FIFO (named pipe); only regular files can be read" in found
    assert time.monotonic() - started < 1.0


def test_devices_are_refused(tmp_path: Path) -> None:
    (tmp_path / "zero").symlink_to("/dev/zero")
    for name in ("/dev/zero", "zero"):
        (found,) = reply_file(tmp_path, name)
        assert "leads outside the stub table's folder" in found
    try:
        os.mknod(tmp_path / "zero-here", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except (PermissionError, OSError):
        return  # only root can make a device node; the check above still holds
    (found,) = reply_file(tmp_path, "zero-here")
    assert "is a character device; only regular files can be read" in found


def test_file_reply_size_is_bounded(tmp_path: Path) -> None:
    with open(tmp_path / "huge.bin", "wb") as huge:
        huge.truncate((64 << 20) + 1)  # sparse: costs no disk
    (found,) = reply_file(tmp_path, "huge.bin")
    assert "'huge.bin' is larger than 64 MiB" in found


# -- (12) tables too deep or too large -------------------------------------------------------
def test_deeply_nested_table_is_a_clear_error(forward: Path, tmp_path: Path) -> None:
    deep = "calls:\n  - match: 'a:b:c'\n    reply: {json: " + "[" * 300 + "]" * 300 + "}\n"
    stubs = write(tmp_path, deep)
    for args in (("stubs", "check", str(stubs)), ("call", str(forward), "op", "--stubs",
                                                  str(stubs))):
        code, _, err = run(*args)
        assert code == 2 and "nested deeper than 100 levels" in one_clean_line(err)
    block = "calls:\n" + "".join("  " * i + "- \n" for i in range(1, 400))
    assert any("nested deeper than" in p for p in problems(write(tmp_path, block, "b.yaml")))


def test_billion_laughs_is_refused_quickly(forward: Path, tmp_path: Path) -> None:
    lol = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        name, inner = chr(ord("a") + level), chr(ord("a") + level - 1)
        lol.append(f"{name}: &{name} [" + ", ".join([f"*{inner}"] * 10) + "]")
    table = ("calls:\n  - match: 'a:b:c'\n    reply:\n      json:\n"
             + "".join(f"        {line}\n" for line in lol))
    started = time.monotonic()
    code, _, err = run("call", str(forward), "op", "--stubs", str(write(tmp_path, table)))
    assert time.monotonic() - started < 10.0
    assert code == 2 and "once every alias (*name) is expanded" in one_clean_line(err)


def test_table_size_is_bounded(forward: Path, tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as table:
        table.truncate((64 << 20) + 1)
    code, _, err = run("call", str(forward), "op", "--stubs", str(huge))
    assert code == 2 and "is larger than 64 MiB" in one_clean_line(err)


def test_alias_inside_its_own_value_is_refused(tmp_path: Path) -> None:
    table = "calls:\n  - match: 'a:b:c'\n    when: {json: &x [*x]}\n    reply: x\n"
    (found,) = problems(write(tmp_path, table))
    assert "the alias *x is inside the value it names" in found


def test_modest_aliases_still_work(tmp_path: Path) -> None:
    table = "calls:\n  - match: 'a:b:c'\n    reply: {json: {a: &v [1, 2], b: *v}}\n"
    assert load_stub_file(write(tmp_path, table)).rules[0].answers[0].body.data == (
        b'{"a":[1,2],"b":[1,2]}')


# -- (21) numbers: finite and in range ---------------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "words"),
    [("delay_ms: .inf", "delay_ms: expected a finite number, got .inf"),
     ("delay_ms: .nan", "delay_ms: expected a finite number, got .nan"),
     ("delay_ms: -.inf", "delay_ms: expected a finite number"),
     ("delay_ms: 1.0e+12", "delay_ms: expected a number <= 8.64e+07"),
     ("reply: {exec: [cat], timeout_s: .nan}", "timeout_s: expected a finite number, got .nan"),
     ("reply: {exec: [cat], timeout_s: .inf}", "timeout_s: expected a finite number, got .inf"),
     ("reply: {exec: [cat], timeout_s: 1.0e+300}", "timeout_s: expected a number <= 86400")],
)
def test_non_finite_and_out_of_range_numbers_are_refused(
    tmp_path: Path, setting: str, words: str
) -> None:
    reply = "" if "reply" in setting else "    reply: x\n"
    stubs = write(tmp_path, f"calls:\n  - match: 'a:b:c'\n{reply}    {setting}\n")
    code, _, err = run("stubs", "check", str(stubs))
    assert code == 2 and words in one_clean_line(err)


# -- (24) exec: a background child does not hold the reply hostage -----------------------------
def test_exec_reply_does_not_wait_for_a_background_child() -> None:
    started = time.monotonic()
    out = run_exec(("sh", "-c", "sleep 100 & echo hi"), HostCallRequest("b", "n", "o", b""),
                   timeout_s=10.0, cwd=None)
    assert out == b"hi\n"
    assert time.monotonic() - started < 2.0


def test_exec_feeds_a_large_payload_and_reads_it_back() -> None:
    payload = os.urandom(3 << 20)
    out = run_exec(("cat",), HostCallRequest("b", "n", "o", payload), timeout_s=30.0, cwd=None)
    assert out == payload


def test_exec_still_times_out(forward: Path, tmp_path: Path) -> None:
    stubs = write(tmp_path, "calls:\n  - match: '*'\n    reply: {exec: [sleep, '30'], "
                            "timeout_s: 0.3}\n")
    started = time.monotonic()
    code, _, err = run("call", str(forward), "op", "-q", "--stubs", str(stubs))
    assert code == 1 and "exec sleep: no answer within 0.3s" in one_clean_line(err)
    assert time.monotonic() - started < 5.0


# -- cosmetic: PyYAML's three-line tag error becomes one line -----------------------------------
def test_unknown_tag_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "calls:\n  - match: 'a:b:c'\n    reply: {json: !nope x}\n")
    with pytest.raises(StubTableError) as info:
        load_stub_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message == (f"{path}:3:19: cannot read this value: could not determine a "
                       "constructor for the tag '!nope'")
