"""Property tests: whatever the user types, the CLI answers the documented way.

Hypothesis generates the user's inputs to ``wapc call`` and ``wapc stubs check``:

* payloads in every form (``-p TEXT``, ``-p @FILE``, ``-p @-``, ``--payload-hex``,
  ``--payload-json`` TEXT or @FILE with ``--encode json|msgpack``), valid and
  broken: lone surrogates, huge and non-finite numbers, deep nesting, devices,
  directories, big files; sent to an echo guest;
* stub tables: YAML built from the keys of docs/stubs.md with random values,
  mutated YAML, and raw text or bytes; checked with ``wapc stubs check`` and used
  by ``wapc call --stubs`` on a guest that makes a host call;
* the values of the limit flags (``--timeout``, ``--max-memory``, ``--fuel``).

Every run must end with an exit code from the README's table (0-5, or 130 for an
interrupt; never 70), at most one ``wapc: error:`` line and no traceback on
stderr (``stubs check`` may list several problems, each such a line), within
:data:`TIME_LIMIT_S`. Where the input is well formed the answer is known too:
the echo guest sends back the payload's bytes, and a table ``stubs check``
accepts is one ``call`` accepts (and the JSON Schema accepts). Suite files
(``wapc test``) are not covered: that command does not exist yet.

The generators live here and are shared with ``benchmarks/fuzz_campaign.py``
(``--kind cli``), which runs many more examples and prints figures.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import msgpack
import pytest
import wasmtime
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stub_guests import ECHO_WAT, FORWARD_WAT
from typer.testing import CliRunner

from wapc_cli.cli.app import app

#: The README's exit codes, plus 130 (interrupted). 70 is an internal error: a bug.
ALLOWED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 130}
#: Per command run: far above what any case needs (even the biggest payloads), so
#: only a hang or a blow-up can exceed it.
TIME_LIMIT_S = 20.0
ERROR_PREFIX = "wapc: error: "

@dataclass(frozen=True)
class CliCase:
    """One command line. ``<dir>`` in ``argv`` stands for the case's scratch folder."""

    argv: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    stdin: bytes | None = None
    expect_stdout: bytes | None = None  # the exact response, when the input is well formed
    expect_exit: int | None = None
    expect_value: tuple[str, object] | None = None  # (encoding, value) the response decodes to

    def command_line(self, directory: str = "DIR") -> str:
        """The reproduction: the shell command, then what the files it names hold."""
        line = " ".join(_shell_word(a.replace("<dir>", directory)) for a in ("wapc", *self.argv))
        for name, data in self.files:
            shown = data if len(data) <= 1000 else data[:120]
            line += f"\n    # {directory}/{name}: {len(data)} bytes {shown!r}"
        if self.stdin is not None:
            line += f"\n    # stdin: {len(self.stdin)} bytes {self.stdin[:120]!r}"
        return line


def _shell_word(arg: str) -> str:
    """``arg`` for a shell; a long one as a command that prints it (or cut, saying so)."""
    if len(arg) <= 120:
        return shlex.quote(arg)
    if len(set(arg)) == 1:
        return f'"$(printf {shlex.quote(arg[0])}%.0s $(seq {len(arg)}))"'
    return shlex.quote(arg[:60]) + f"...[{len(arg)} characters]"


#: Defects this campaign found that are reported and not fixed yet, by the line
#: they print: a run showing one counts as ``known``, not as a new failure. (The
#: two it found first, a float-overflowing --max-memory and a stub msgpack: integer
#: beyond 64 bits, are fixed; ``test_found_defects_stay_fixed`` holds them.)
KNOWN_DEFECTS: dict[str, str] = {}


@dataclass
class Ran:
    exit_code: int
    stdout: bytes
    stderr: str
    seconds: float
    problems: list[str] = field(default_factory=list)
    known: str | None = None  # the KNOWN_DEFECTS entry this run shows


def scratch(directory: Path) -> Path:
    """The fixed furniture of a scratch folder: guests, devices' stand-ins, links."""
    guests = directory / "guests"
    if not guests.exists():
        guests.mkdir()
        (guests / "echo.wasm").write_bytes(wasmtime.wat2wasm(ECHO_WAT))
        (guests / "fwd.wasm").write_bytes(wasmtime.wat2wasm(FORWARD_WAT))
        table = directory / "table"
        (table / "sub").mkdir(parents=True)
        (table / "small.txt").write_text("small reply")
        (table / "big.bin").write_bytes(bytes(range(256)) * 800)  # 200 KiB: past the guest
        (table / "seed.json").write_text('{"greeting": "hi", "n": {"json": [1]}}')
        (table / "bad.json").write_text('{"greeting": ')
        (directory / "outside.txt").write_text("OUTSIDE")
        (table / "link-out").symlink_to(directory / "outside.txt")
        (table / "link-in").symlink_to(table / "small.txt")
        (directory / "zero-link").symlink_to("/dev/zero")
        (directory / "dangling").symlink_to(directory / "nowhere")
        (directory / "adir").mkdir()
    return directory


def run_cli(case: CliCase, directory: Path, *, many_errors: bool = False) -> Ran:
    """Run ``case`` in-process; ``problems`` lists every broken promise."""
    for name, data in case.files:
        (directory / name).write_bytes(data)
    argv = [a.replace("<dir>", str(directory)) for a in case.argv]
    started = time.monotonic()
    result = CliRunner().invoke(app, argv, input=case.stdin)
    ran = Ran(result.exit_code, result.stdout_bytes, result.stderr, time.monotonic() - started)
    problems = ran.problems
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(f"raised {result.exception!r}")
    if ran.exit_code == 70:
        problems.append("exit 70 (internal error)")
    elif ran.exit_code not in ALLOWED_EXIT_CODES:
        problems.append(f"exit {ran.exit_code}: not a documented exit code")
    if "Traceback" in ran.stderr or "internal error" in ran.stderr:
        problems.append("a traceback or internal error on stderr")
    lines = [line for line in ran.stderr.splitlines() if line.startswith(ERROR_PREFIX)]
    if many_errors:
        if any(line.strip() and not line.startswith(ERROR_PREFIX)
               for line in ran.stderr.splitlines()):
            problems.append("a stderr line that is not a 'wapc: error:' line")
    elif len(lines) > 1:
        problems.append(f"{len(lines)} 'wapc: error:' lines")
    if ran.exit_code not in (0, 130) and not lines:
        problems.append(f"exit {ran.exit_code} without a 'wapc: error:' line")
    if ran.exit_code == 70:
        ran.known = next((name for line, name in KNOWN_DEFECTS.items() if line in ran.stderr),
                         None)
    if ran.seconds > TIME_LIMIT_S:
        problems.append(f"took {ran.seconds:.1f}s (limit {TIME_LIMIT_S}s)")
    if case.expect_exit is not None and ran.exit_code != case.expect_exit:
        problems.append(f"exit {ran.exit_code}, expected {case.expect_exit}")
    if case.expect_stdout is not None and (ran.exit_code, ran.stdout) != (0, case.expect_stdout):
        problems.append(f"response {ran.stdout[:80]!r}, expected {case.expect_stdout[:80]!r}")
    if case.expect_value is not None:
        encoding, value = case.expect_value
        try:
            same = ran.exit_code == 0 and _decode_exactly(ran.stdout, encoding) == value
        except Exception:  # any decoding failure means the response is wrong
            same = False
        if not same:
            problems.append(f"response {ran.stdout[:80]!r} does not decode ({encoding}) "
                            f"to {value!r:.80}")
    return ran


def report(case: CliCase, ran: Ran) -> str:
    return (f"{'; '.join(ran.problems)} (exit {ran.exit_code}, stderr {ran.stderr[:300]!r})\n"
            f"    {case.command_line()}")


# -- payloads ---------------------------------------------------------------------------
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
#: Any text, a lone surrogate now and then (what argv bytes decode to in a real process).
ANY_TEXT = st.text(st.one_of(st.characters(), SURROGATES), max_size=80)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)
BROKEN_JSON = [
    "NaN", "-Infinity", "Infinity", "[NaN]", "1e400", "-1e400", "1" + "0" * 30,
    "-" + "9" * 25, "1" * 5000, "[" * 300 + "]" * 300, "[" * 100_000, "{" * 50_000,
    '"\\ud800"', '"\\udfff\\ud800"', '{"\\udc80": 1}', "\ud800", '"\udcff"', "", " ", "01",
    "1 2", "[1,]", "{'a': 1}", "\x00", "\ufeff[]", '{"a":1,"a":2}', "[" + "0," * 200_000 + "0]",
    "1e-400", "-0", "123456789012345678901234567890.5", "true false", '"\\u0000"',
]


def _json_fits(value: object, low: int, high: int) -> bool:
    """Every integer in ``value`` is in [low, high]."""
    if isinstance(value, dict):
        return all(_json_fits(child, low, high) for child in value.values())
    if isinstance(value, list):
        return all(_json_fits(child, low, high) for child in value)
    return not isinstance(value, int) or isinstance(value, bool) or low <= value <= high


def _decode_exactly(raw: bytes, encode: str) -> object:
    return json.loads(raw) if encode == "json" else msgpack.unpackb(raw, strict_map_key=False)


@st.composite
def payload_cases(draw: st.DrawFn) -> CliCase:
    """One ``wapc call echo`` with a payload in some form, maybe broken."""
    form = draw(st.sampled_from(["text", "file", "stdin", "hex", "json", "json-file",
                                 "json-stdin", "none", "two", "special"]))
    args: list[str] = []
    files: list[tuple[str, bytes]] = []
    stdin = expect = exit_code = None
    expect_value: tuple[str, object] | None = None
    if form == "text":
        text = draw(st.one_of(ANY_TEXT, ANY_TEXT.map(lambda t: "@@" + t)))
        args = ["-p", text]
        literal = text[1:] if text.startswith("@@") else text
        try:
            expect = literal.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            exit_code = 2
        if text.startswith("@") and not text.startswith("@@"):
            expect = exit_code = None  # @NAME names a file (hardly ever one that exists)
    elif form in ("file", "stdin"):
        big = st.sampled_from([1 << 20, 4 << 20]).map(lambda n: b"\xa5\0" * (n // 2))
        data = draw(st.one_of(st.binary(max_size=4096), st.just(b""), big))
        if form == "file":
            files, args = [("payload.bin", data)], ["-p", "@<dir>/payload.bin"]
        else:
            stdin, args = data, ["-p", "@-"]
        expect = data
    elif form == "hex":
        data = draw(st.binary(max_size=300))
        text = draw(st.one_of(st.just(data.hex()), st.just("0x" + data.hex().upper()),
                              st.text("0123456789abcdefABCDEFxX \t\n-:g", max_size=40)))
        args = ["--payload-hex", text]
        expect = data if text in (data.hex(), "0x" + data.hex().upper()) else None
    elif form.startswith("json"):
        value = draw(JSON_VALUES)
        text = draw(st.one_of(st.just(json.dumps(value)), st.just(json.dumps(value, indent=1,
                              ensure_ascii=False)), st.sampled_from(BROKEN_JSON), ANY_TEXT))
        encode = draw(st.sampled_from(["json", "msgpack"]))
        data = text.encode("utf-8", "surrogatepass")
        if form == "json":
            args = ["--payload-json", text]
        elif form == "json-file":
            files, args = [("payload.json", data)], ["--payload-json", "@<dir>/payload.json"]
        else:
            stdin, args = data, ["--payload-json", "@-"]
        args += ["--encode", encode]
        if text in (json.dumps(value), json.dumps(value, indent=1, ensure_ascii=False)):
            if encode == "json" or _json_fits(value, -(2**63), 2**64 - 1):
                expect_value = (encode, value)
            else:
                exit_code = 2  # msgpack holds 64-bit integers only
    elif form == "two":
        args = draw(st.permutations([["-p", "x"], ["--payload-hex", "00"],
                                     ["--payload-json", "1"]]).map(lambda p: p[0] + p[1]))
        exit_code = 2
    elif form == "special":
        target = draw(st.sampled_from(["/dev/zero", "/dev/null", "/dev/urandom", "<dir>/adir",
                                       "<dir>/missing", "<dir>/zero-link", "<dir>/dangling",
                                       "", "/proc/self/status", "<dir>/guests"]))
        option = draw(st.sampled_from(["-p", "--payload-json"]))
        args = [option, "@" + target]
        exit_code = 0 if target == "/proc/self/status" and option == "-p" else 2
    decode = draw(st.sampled_from(["raw", "raw", "auto", "text", "hex", "json", "msgpack"]))
    extra = draw(st.sampled_from([[], [], ["--json"], ["-q"]]))
    if decode != "raw" or extra == ["--json"]:
        expect = expect_value = None
    argv = ("call", "<dir>/guests/echo.wasm", "echo", *args, "-d", decode, *extra)
    return CliCase(argv, tuple(files), stdin, expect, exit_code, expect_value)


# -- stub tables ------------------------------------------------------------------------
JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                 st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=6), st.integers(), max_size=2))
WORDS = st.one_of(st.sampled_from(["b", "ns", "fwd", "*", "?", "[f]*", "tarmac", ""]),
                  st.text(max_size=10))
MATCHES = st.one_of(
    st.sampled_from(["b:ns:fwd", "*", "b:*:*", "b:ns:fw?", "b:ns:[f]wd", "b:ns:[!x]*",
                     "x:y:z", "b:ns", "", ":::", "b:ns:fwd:extra", "[", "b:ns:[", "**"]),
    st.fixed_dictionaries({}, optional={"binding": WORDS, "namespace": WORDS,
                                        "operation": WORDS, "extra": WORDS}),
    WORDS, JUNK)
REGEXES = st.one_of(st.sampled_from([
    "fwd", "^x$", "(a+)+$", r"(a)\1", "(?=x)", "(?<=y)z", "(?!z)", "a{1001}", "(a{100}){100}",
    "[", "(?i)X", r"\d+", "(?P<n>x)", "\\", "", "\\C", "(?<n>x)", "x**", "\\p{Greek}",
    "\\Q.*\\E", "\ud800"]), st.text(max_size=12))
HEXISH = st.one_of(st.binary(max_size=8).map(bytes.hex),
                   st.text("0123456789abcdefxX g", max_size=10))
BASE64ISH = st.one_of(st.sampled_from(["aGk=", "aGk", "====", "!!", "aGk=\n", ""]),
                      st.text(max_size=10))
FILES = st.sampled_from(["small.txt", "big.bin", "missing.txt", "../outside.txt", "/etc/hostname",
                         "/dev/zero", "sub", "link-out", "link-in", "", ".", "sub/../small.txt",
                         "seed.json", "bad.json", "fifo", "\0"])
NUMBERS = st.one_of(st.sampled_from([0, 1, 2, 5, -1, 86400001, 10**30, 1.5, "1", "x", True,
                                     float("nan"), float("inf"), -0.0, None]),
                    st.integers(-3, 40))
#: Commands an ``exec:`` reply may run: harmless, quick, or refused ones only.
EXECS = st.sampled_from([["cat"], ["true"], ["false"], ["sh", "-c", "echo boom >&2; exit 3"],
                         ["sh", "-c", "sleep 30 & echo hi"], ["sleep", "0.3"],
                         ["no-such-program-wapc"], ["./small.txt"], [], "cat", [1], ["cat", None],
                         ["printf", "%s", "\x00\xff"], {"cmd": "cat"}])
DATA = st.one_of(
    ANY_TEXT,
    st.fixed_dictionaries({}, optional={
        "text": st.one_of(ANY_TEXT, JUNK), "hex": HEXISH, "base64": BASE64ISH, "file": FILES,
        "json": JSON_VALUES, "msgpack": JSON_VALUES}),
    JUNK)
REPLIES = st.one_of(
    DATA,
    st.fixed_dictionaries({}, optional={
        "echo": st.sampled_from([True, False, "yes", 1, None]), "exec": EXECS,
        "timeout_s": NUMBERS, "text": ANY_TEXT, "json": JSON_VALUES}))
ERROR_ANSWERS = st.fixed_dictionaries({"error": st.one_of(ANY_TEXT, JUNK)},
                                      optional={"body": DATA})
RULES = st.one_of(
    st.fixed_dictionaries(
        {"match": MATCHES},
        optional={
            "name": st.one_of(ANY_TEXT, JUNK),
            "when": st.one_of(st.fixed_dictionaries({}, optional={
                "text": st.one_of(ANY_TEXT, JUNK), "regex": REGEXES, "hex": HEXISH,
                "json": JSON_VALUES, "msgpack": JSON_VALUES, "xml": ANY_TEXT}), JUNK),
            "reply": REPLIES,
            "replies": st.one_of(st.lists(st.one_of(REPLIES, ERROR_ANSWERS), max_size=4), JUNK),
            "error": st.one_of(ANY_TEXT, JUNK), "body": DATA,
            "delay_ms": st.sampled_from([0, 1, 20, -1, 86400001, float("nan"), float("inf"), "5",
                                         None, 1e300]),
            "times": NUMBERS, "repy": JUNK,
        }),
    JUNK)
TABLES = st.fixed_dictionaries({}, optional={
    "default": st.one_of(st.sampled_from(["error", "empty", "fail", "eror"]), JUNK),
    "preset": st.one_of(st.just("tarmac"), JUNK),
    "kvstore": st.one_of(st.dictionaries(st.text(max_size=8), DATA, max_size=3), FILES, JUNK),
    "calls": st.one_of(st.lists(RULES, max_size=5), JUNK),
    "extra": JUNK,
})
VALID_DATA = st.one_of(
    st.text(max_size=20), st.builds(lambda t: {"text": t}, st.text(max_size=20)),
    st.builds(lambda b: {"hex": b.hex()}, st.binary(max_size=16)),
    st.builds(lambda b: {"base64": base64.b64encode(b).decode()}, st.binary(max_size=16)),
    st.sampled_from([{"file": "small.txt"}, {"file": "big.bin"}, {"file": "link-in"},
                     {"file": "sub/../small.txt"}]),
    st.builds(lambda v: {"json": v}, JSON_VALUES), st.builds(lambda v: {"msgpack": v}, JSON_VALUES))
VALID_REPLIES = st.one_of(
    VALID_DATA, st.just({"echo": True}),
    st.builds(lambda command, timeout: {"exec": command, **timeout},
              st.sampled_from([["cat"], ["true"], ["false"], ["sh", "-c", "echo boom >&2; exit 3"],
                               ["sh", "-c", "sleep 30 & echo hi"], ["sleep", "0.3"]]),
              st.sampled_from([{}, {"timeout_s": 0.1}, {"timeout_s": 5}])))
VALID_ANSWERS = st.one_of(
    st.builds(lambda r: {"reply": r}, VALID_REPLIES),
    st.builds(lambda e, b: {"error": e, **b}, st.text(max_size=20),
              st.one_of(st.just({}), st.builds(lambda d: {"body": d}, VALID_DATA))),
    st.builds(lambda rs: {"replies": rs}, st.lists(st.one_of(
        VALID_REPLIES, st.builds(lambda e: {"error": e}, st.text(max_size=10))), min_size=1,
        max_size=3)))
VALID_RULES = st.builds(
    lambda match, answer, extra: {"match": match, **answer, **extra},
    st.sampled_from(["b:ns:fwd", "*", "b:*:*", "b:ns:fw?", "b:ns:[f]wd", "x:y:z",
                     {"operation": "fwd"}, {"binding": "b", "namespace": "ns"}]),
    VALID_ANSWERS,
    st.fixed_dictionaries({}, optional={
        "name": st.text(max_size=10), "delay_ms": st.sampled_from([0, 1, 20]),
        "times": st.integers(0, 3),
        "when": st.sampled_from([{"text": "x"}, {"regex": "^x$"}, {"regex": "(a+)+$"},
                                 {"regex": "(?i)FWD"}, {"json": {"key": "greeting"}},
                                 {"hex": "78"}, {"text": "x", "regex": "x"}])}))
VALID_TABLES = st.fixed_dictionaries({"calls": st.lists(VALID_RULES, max_size=4)}, optional={
    "default": st.sampled_from(["error", "empty", "fail"]), "preset": st.just("tarmac"),
    "kvstore": st.one_of(st.dictionaries(st.text(max_size=8), VALID_DATA, max_size=3),
                         st.just("seed.json"))})
#: Hand-made YAML that parsers have trouble with.
NASTY_YAML = [
    "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\ne: &e [*d, *d]\n"
    "f: &f [*e, *e]\ng: &g [*f, *f]\nh: &h [*g, *g]\ni: &i [*h, *h]\nj: &j [*i, *i]\n"
    "k: &k [*j, *j]\nl: &l [*k, *k]\nm: &m [*l, *l]\nn: &n [*m, *m]\no: &o [*n, *n]\n"
    "p: &p [*o, *o]\nq: &q [*p, *p]\nr: &r [*q, *q]\ns: &s [*r, *r]\nt: &t [*s, *s]\n",
    "calls: &x [*x]\n", "calls:\n" + "  - " * 150 + "x\n", "[" * 200 + "]" * 200,
    "calls: !!python/object/apply:os.system ['true']\n", "default: !!binary aGk=\n",
    "---\ndefault: empty\n---\ndefault: fail\n", "\ufeffdefault: empty\n", "default: error\0\n",
    "calls:\n\t- match: '*'\n", "default: error\ndefault: empty\n", "? [a]\n: b\n",
    "calls:\n  - match: '*'\n    reply: {text: a, hex: 00}\n", "%YAML 1.1\n---\ndefault: empty\n",
    "calls:\n  - {match: '*', reply: {exec: [cat]}, times: 99999999999999999999}\n",
    "calls: [" + "{match: '*', reply: x}, " * 3000 + "]\n",
    "kvstore: {k: {file: /dev/zero}}\n", "kvstore: /dev/zero\n", "kvstore: fifo\n",
]


def _dump(table: object, sort_keys: bool, flow: bool | None) -> str:
    return yaml.safe_dump(table, sort_keys=sort_keys, default_flow_style=flow, allow_unicode=True)


def _mutate_text(text: str, edits: list[tuple[int, str]]) -> str:
    for position, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + 1 :]
    return text


@st.composite
def stub_files(draw: st.DrawFn) -> bytes:
    """A stub table file: valid, of valid keys with any values, mutated, nasty, or anything."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "mixed", "mixed", "mutated",
                                 "nasty", "text", "bytes"]))
    if kind == "nasty":
        return draw(st.sampled_from(NASTY_YAML)).encode("utf-8", "surrogatepass")
    if kind == "text":
        return draw(ANY_TEXT).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    try:
        table = draw(TABLES if kind == "mixed" else VALID_TABLES)
        text = _dump(table, draw(st.booleans()), draw(st.sampled_from([None, True, False])))
    except yaml.YAMLError:  # a lone surrogate PyYAML will not write: write it raw instead
        text = "default: \ud800\n"
    if kind == "mutated":
        edits = draw(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
            ["", " ", "\t", "\n", ":", "-", "&a", "*a", "{", "[", "'", '"', "!!str", "#", "\0",
             "\x85", "\ud800", "%"])), min_size=1, max_size=4))
        text = _mutate_text(text, edits)
    return text.encode("utf-8", "surrogatepass")


STUB_PAYLOADS = st.sampled_from(["x", '{"key": "greeting"}', "", "fwd", "aaaaaaaaaaaaaaaaaaaaaaaab",
                                 "\x00\xff"])


def stub_cases(table: bytes, payload: str) -> tuple[CliCase, CliCase]:
    """``stubs check`` and ``call --stubs`` on the same table file."""
    files = (("table/stubs.yaml", table),)
    check = CliCase(("stubs", "check", "<dir>/table/stubs.yaml"), files)
    call = CliCase(("call", "<dir>/guests/fwd.wasm", "fwd", "-p", payload, "-q", "--timeout", "10",
                    "--stubs", "<dir>/table/stubs.yaml", "-d", "hex"), files)
    return check, call


@functools.cache
def stub_schema() -> dict[str, object]:
    path = Path(__file__).resolve().parent.parent / "wapc_cli/schemas/stubs.schema.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def run_stub_table(table: bytes, payload: str, directory: Path,
                   engine: str | None = None) -> list[tuple[CliCase, Ran]]:
    """Check and use one table; the answers must agree with each other and the schema."""
    fifo = directory / "table" / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    check, call = stub_cases(table, payload)
    if engine is not None:
        call = with_engine(call, engine)
    checked = run_cli(check, directory, many_errors=True)
    called = run_cli(call, directory)
    if checked.exit_code not in (0, 2):
        checked.problems.append(f"stubs check exit {checked.exit_code}: only 0 or 2 documented")
    if (checked.exit_code == 2) != (called.exit_code == 2):
        called.problems.append(
            f"stubs check said exit {checked.exit_code}, call {called.exit_code}")
    if checked.exit_code == 0:
        try:
            loaded = yaml.safe_load(table)
        except yaml.YAMLError as exc:  # pragma: no cover - the loader accepted it
            checked.problems.append(f"accepted, but PyYAML cannot load it: {exc}")
        else:
            try:
                jsonschema.validate(loaded if loaded is not None else {}, stub_schema())
            except jsonschema.ValidationError as exc:
                checked.problems.append(f"accepted, but the JSON Schema refuses it: {exc.message}")
    return [(check, checked), (call, called)]


# -- limit flags ------------------------------------------------------------------------
FLAG_VALUES = st.one_of(
    st.sampled_from(["0", "none", "1", "0.5", "-1", "nan", "inf", "-inf", "1e400", "1e-400",
                     "99999999999999999999999", "", " ", "1_000", "0x10", "1MiB", "64KiB", "1e3",
                     "16 MiB", "1GB", "-0", "4GiB", "9" * 5000, "\ud800", "١٢"]),
    st.text(max_size=12))


@st.composite
def flag_cases(draw: st.DrawFn) -> CliCase:
    flag = draw(st.sampled_from(["--timeout", "--max-memory", "--fuel"]))
    value = draw(FLAG_VALUES)
    if flag == "--timeout" and value in ("0", "none"):
        value = "1"  # no limit at all is fine, but this guest needs one to be bounded here
    return CliCase(("call", "<dir>/guests/echo.wasm", "echo", "-p", "hi", "-d", "raw",
                    flag, value))


# -- the tests ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def furnished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scratch(tmp_path_factory.mktemp("fuzz-cli"))


def assert_clean(outcomes: list[tuple[CliCase, Ran]]) -> None:
    broken = [report(case, ran) for case, ran in outcomes if ran.problems and not ran.known]
    assert not broken, "\n".join(broken)


def with_engine(case: CliCase, engine: str) -> CliCase:
    return CliCase((*case.argv, "-e", engine), case.files, case.stdin, case.expect_stdout,
                   case.expect_exit, case.expect_value)


FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


@fuzz(250)
@given(case=payload_cases())
def test_payload_forms(furnished: Path, case: CliCase) -> None:
    assert_clean([(case, run_cli(case, furnished))])


@pytest.mark.wasmer
@fuzz(25)
@given(case=payload_cases())
def test_payload_forms_on_wasmer(furnished: Path, case: CliCase) -> None:
    """The supervised child gets the payload through a pipe: same answers."""
    case = with_engine(case, "wasmer")
    assert_clean([(case, run_cli(case, furnished))])


@fuzz(150)
@given(table=stub_files(), payload=STUB_PAYLOADS)
def test_stub_tables(furnished: Path, table: bytes, payload: str) -> None:
    assert_clean(run_stub_table(table, payload, furnished))


@fuzz(60)
@given(case=flag_cases())
def test_limit_flag_values(furnished: Path, case: CliCase) -> None:
    assert_clean([(case, run_cli(case, furnished))])


@pytest.mark.slow
@pytest.mark.parametrize("size", [16 << 20, 64 << 20])
def test_big_payload_files_echo(furnished: Path, size: int) -> None:
    """Big files take the same path as small ones, in bounded time."""
    data = os.urandom(1024) * (size // 1024)
    case = CliCase(("call", "<dir>/guests/echo.wasm", "echo", "-p", "@<dir>/big-payload.bin",
                    "-d", "raw"), (("big-payload.bin", data),), expect_stdout=data)
    assert_clean([(case, run_cli(case, furnished))])


@pytest.mark.parametrize(("argv", "table"), [
    (["call", "<dir>/guests/echo.wasm", "echo", "-p", "hi", "--max-memory", "9" * 309], b""),
    (["stubs", "check", "<dir>/table/known.yaml"],
     b"calls:\n- match: '*'\n  reply: {msgpack: 18446744073709551616}\n"),
    (["call", "<dir>/guests/fwd.wasm", "fwd", "--stubs", "<dir>/table/known.yaml"],
     b"kvstore:\n  k: {msgpack: -9223372036854775809}\n"),
], ids=["max-memory-overflow", "stub-msgpack-int-check", "stub-msgpack-int-call"])
def test_found_defects_stay_fixed(furnished: Path, argv: list[str], table: bytes) -> None:
    case = CliCase(tuple(argv), (("table/known.yaml", table),))
    ran = run_cli(case, furnished)
    assert ran.exit_code == 2 and not ran.problems, report(case, ran)


def test_reproductions_read_like_command_lines() -> None:
    case = CliCase(("call", "<dir>/guests/echo.wasm", "echo", "-p", "a b"), (("f", b"\0"),))
    assert case.command_line("/tmp/x") == (
        "wapc call /tmp/x/guests/echo.wasm echo -p 'a b'\n    # /tmp/x/f: 1 bytes b'\\x00'")
    assert not math.isnan(TIME_LIMIT_S)
