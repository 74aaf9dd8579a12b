"""``*.wapc.yaml`` test suites -> :class:`Suite`, with every problem at ``file:line:column``.

The YAML is read as marked nodes by the stub tables' reader
(:class:`~wapc_cli.tools.stubs.source.Source`, bounded by
:mod:`~wapc_cli.tools.stubs.bounded_yaml`), and an inline ``stubs:`` table is
loaded by the stub loader itself, so a suite's problems -- a typo'd key
included -- are listed all at once, each where it is. The format is described
by ``wapc_cli/schemas/suite.schema.json``; tests keep the two in step.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ...engines import ENGINE_NAMES
from ...errors import InputFileError
from ...runtime.payload import read_user_file
from ...runtime.wasi_options import WasiOptions
from ..stubs.loader import check_stub_file, parse_table_node
from ..stubs.model import PRESETS, StubTable
from ..stubs.source import Node, Problem, Source
from .expect_loader import parse_expect, payload_bytes
from .model import Case, Expect, Suite
from .settings import SETTING_KEYS, Settings, parse_settings

SUITE_KEYS = ("name", "module", "engines", "stubs", "preset", *SETTING_KEYS, "cases")
PAYLOAD_KEYS = ("payload", "payload_hex", "payload_file", "payload_json")
CASE_KEYS = ("name", "operation", *PAYLOAD_KEYS, "encode", "stubs", "preset", *SETTING_KEYS,
             "expect")
#: The engine each case runs on when a suite names none: the default engine.
DEFAULT_ENGINE = next(name for name in ENGINE_NAMES if name != "auto")
#: The largest suite file read (PyYAML composes in pure Python).
MAX_SUITE_BYTES = 16 << 20
SUITE_SUFFIX = ".wapc.yaml"


class SuiteError(InputFileError):
    """A suite file is not valid; ``problems`` lists every finding (exit 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        text = "\n".join(str(p) for p in problems)
        super().__init__(text)
        self.problems = problems


def find_suites(paths: list[Path]) -> list[Path]:
    """The suite files named: files as given, directories as every ``*.wapc.yaml`` below."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            below = sorted(p for p in path.rglob(f"*{SUITE_SUFFIX}") if p.is_file())
            if not below:
                raise InputFileError(f"{path}: no *{SUITE_SUFFIX} suite files below this folder")
            found.extend(below)
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path, None)
    return list(unique)


def load_suite(path: Path) -> Suite:
    """Load and check one suite; raises :class:`SuiteError` listing every problem."""
    suite, problems = check_suite(path)
    if problems:
        raise SuiteError(problems)
    assert suite is not None
    return suite


def check_suite(path: Path) -> tuple[Suite | None, list[Problem]]:
    """Like :func:`load_suite`, but hands back the problems instead of raising."""
    source = Source(path)
    data = read_user_file(str(path), "test suite", max_bytes=MAX_SUITE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}: test suite is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    root = source.compose(text)
    suite = None
    if root is None:
        if not source.problems:
            source.problem(None, "empty test suite; expected a mapping with 'module:' and 'cases:'")
    else:
        suite = _suite(source, root)
    problems = sorted(source.problems, key=lambda p: (p.file, p.line, p.column))
    return (suite if not problems else None), problems


def _suite(source: Source, root: Node) -> Suite | None:
    entries = source.mapping(root, "test suite")
    if entries is None:
        return None
    source.only_keys(entries, SUITE_KEYS, "test suite")
    module = None
    if "module" not in entries:
        source.problem(root, "test suite: missing 'module' (the .wasm file, relative to the suite)")
    else:
        module = _module(source, entries["module"][1])
    engines = _engines(source, entries["engines"][1]) if "engines" in entries else (DEFAULT_ENGINE,)
    tables = _stubs(source, entries["stubs"][1], "stubs") if "stubs" in entries else ()
    preset = _preset(source, entries["preset"][1], "preset") if "preset" in entries else None
    defaults = parse_settings(source, entries, Settings(), "test suite")
    cases: list[Case] = []
    if "cases" not in entries:
        source.problem(root, "test suite: missing 'cases' (a list of cases)")
    else:
        node = entries["cases"][1]
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            source.problem(node, f"cases: expected a non-empty list of cases, got "
                                 f"{source.kind_of(node)}")
        else:
            names: dict[str, int] = {}
            for index, item in enumerate(node.value):
                case = _case(source, item, index, tables, preset, defaults)
                if case is None:
                    continue
                if case.name in names:
                    source.problem(item, f"cases[{index}]: the name '{case.name}' is already "
                                         f"used by the case at line {names[case.name]}")
                names.setdefault(case.name, case.line)
                cases.append(case)
    if module is None or source.problems:
        return None
    return Suite(source.path, source.display, module, engines, tuple(cases))


def _module(source: Source, node: Node) -> Path | None:
    name = source.string(node, "module")
    if name is None:
        return None
    path = source.base_dir / name
    if not path.is_file():
        source.problem(node, f"module: no such file '{path}'")
        return None
    return path


def _engines(source: Source, node: Node) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        source.problem(node, f"engines: expected a non-empty list of engine names, got "
                             f"{source.kind_of(node)}")
        return ()
    names: list[str] = []
    for item in node.value:
        name = source.string(item, "engines")
        if name is None:
            continue
        if name not in ENGINE_NAMES or name == "auto":
            choices = ", ".join(n for n in ENGINE_NAMES if n != "auto")
            source.problem(item, f"engines: unknown engine '{name}' (choose from: {choices})")
        elif name in names:
            source.problem(item, f"engines: '{name}' is listed twice")
        else:
            names.append(name)
    return tuple(names)


def _preset(source: Source, node: Node, what: str) -> str | None:
    name = source.string(node, what)
    if name is not None and name not in PRESETS:
        source.problem(node, f"{what}: unknown preset '{name}' (choose from: {', '.join(PRESETS)})")
        return None
    return name


def _stubs(source: Source, node: Node, what: str) -> tuple[StubTable, ...]:
    """``stubs:`` is a table file (relative to the suite), an inline table, or a list of them."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    tables: list[StubTable] = []
    for index, item in enumerate(items):
        where = f"{what}[{index}]" if isinstance(node, yaml.SequenceNode) else what
        if isinstance(item, yaml.MappingNode):
            table = parse_table_node(source, item)
        elif isinstance(item, yaml.ScalarNode) and item.tag.endswith(":str"):
            table = _stub_file(source, item, str(item.value), where)
        else:
            source.problem(item, f"{where}: expected a stub table file name or an inline table "
                                 f"(a mapping with 'calls:'), got {source.kind_of(item)}")
            table = None
        if table is not None:
            tables.append(table)
    return tuple(tables)


def _stub_file(source: Source, node: Node, name: str, what: str) -> StubTable | None:
    path = source.base_dir / name
    if not path.is_file():
        source.problem(node, f"{what}: no such stub table '{path}'")
        return None
    try:
        table, checked = check_stub_file(path)
    except InputFileError as exc:
        source.problem(node, f"{what}: {exc}")
        return None
    source.problems.extend(checked.problems)  # at the table file's own line and column
    return table


def _case(
    source: Source, node: Node, index: int, suite_tables: tuple[StubTable, ...],
    suite_preset: str | None, defaults: Settings,
) -> Case | None:
    what = f"cases[{index}]"
    entries = source.mapping(node, what)
    if entries is None:
        return None
    before = len(source.problems)
    source.only_keys(entries, CASE_KEYS, what)
    name = None
    if "name" not in entries:
        source.problem(node, f"{what}: missing 'name'")
    else:
        name = source.string(entries["name"][1], f"{what}.name")
    operation = None
    if "operation" not in entries:
        source.problem(node, f"{what}: missing 'operation'")
    else:
        operation = source.string(entries["operation"][1], f"{what}.operation")
    payload = _payload(source, node, entries, what)
    tables = suite_tables
    if "stubs" in entries:
        tables = suite_tables + _stubs(source, entries["stubs"][1], f"{what}.stubs")
    preset = suite_preset
    if "preset" in entries:
        preset = _preset(source, entries["preset"][1], f"{what}.preset")
    settings = parse_settings(source, entries, defaults, what)
    expect = Expect()
    if "expect" in entries:
        parsed = parse_expect(source, entries["expect"][1], f"{what}.expect")
        expect = parsed if parsed is not None else expect
    if len(source.problems) > before or name is None or operation is None or payload is None:
        return None
    limits = settings.limits()
    # The program name (argv[0] when arguments are granted) is the module's: the runner's.
    wasi = WasiOptions(args=settings.args, env=dict(settings.env), dirs=settings.dirs)
    return Case(name, index, node.start_mark.line + 1, operation, payload, tables, preset,
                limits, wasi, expect, host=settings.host)


def _payload(
    source: Source, node: Node, entries: dict[str, tuple[Node, Node]], what: str
) -> bytes | None:
    given = [key for key in PAYLOAD_KEYS if key in entries]
    if len(given) > 1:
        source.problem(entries[given[1]][0], f"{what}: has both '{given[0]}' and '{given[1]}'; "
                                             f"give one of {', '.join(PAYLOAD_KEYS)}")
        return None
    encode = "json"
    if "encode" in entries:
        encode_node = entries["encode"][1]
        value = source.string(encode_node, f"{what}.encode")
        if value not in ("json", "msgpack"):
            if value is not None:
                source.problem(encode_node, f"{what}.encode: expected json or msgpack, "
                                            f"got '{value}'")
            return None
        if given != ["payload_json"]:
            source.problem(entries["encode"][0], f"{what}: 'encode' goes with 'payload_json' only")
            return None
        encode = value
    if not given:
        return b""
    key = given[0]
    return payload_bytes(source, entries[key][1], key, f"{what}.{key}", encode,
                         folder_is="the suite's folder")
