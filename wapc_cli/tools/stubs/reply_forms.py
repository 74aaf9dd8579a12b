"""The reply forms made afresh for each call: ``exec:`` (a command) and ``guest:`` (a module).

Read from a stub table's marked nodes, checked at load (the program exists,
the module is a file), every problem at ``file:line:column``.
"""

from __future__ import annotations

import os
import shlex
import shutil

import yaml

from .model import Body, GuestTarget
from .source import Node, Source

EXEC_TIMEOUT_S = 10.0
#: The longest a command may run (a day): larger figures are typos.
MAX_EXEC_TIMEOUT_S = 86_400.0


def exec_body(
    source: Source, node: Node, timeout: tuple[Node, Node] | None, where: str
) -> Body | None:
    argv: list[str] = []
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            text = source.string(item, where)
            if text is None:
                return None
            argv.append(text)
    else:
        text = source.string(node, where)
        if text is None:
            return None
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            source.problem(node, f"{where}: cannot split the command: {exc}")
            return None
    if not argv:
        source.problem(node, f"{where}: expected a command (a list: [program, args...])")
        return None
    timeout_s = EXEC_TIMEOUT_S
    if timeout is not None:
        value = source.number(timeout[1], f"{where}.timeout_s", maximum=MAX_EXEC_TIMEOUT_S)
        if value is None:
            return None
        if value <= 0:
            source.problem(timeout[1], f"{where}.timeout_s: must be greater than zero")
            return None
        timeout_s = value
    program = argv[0]
    # Commands run in the table's folder, so a relative program path is relative to it.
    if os.sep in program or "/" in program:
        if not (source.base_dir / program).exists():
            source.problem(node, f"{where}: no such program '{source.base_dir / program}'")
            return None
    elif shutil.which(program) is None:
        source.problem(node, f"{where}: command '{program}' not found on PATH")
        return None
    return Body(argv=tuple(argv), timeout_s=timeout_s, cwd=str(source.base_dir))


def guest_body(source: Source, node: Node, operation: tuple[Node, Node] | None,
           where: str) -> Body | None:
    """``{guest: MODULE, operation: OP}``: MODULE relative to the table's folder."""
    name = source.string(node, where)
    if operation is None:
        source.problem(node, f"{where}: needs 'operation' (the callee's operation to run)")
        return None
    op = source.string(operation[1], f"{where[:-len('.guest')]}.operation")
    if name is None or op is None:
        return None
    if not op:
        source.problem(operation[1], f"{where}: 'operation' must not be empty")
        return None
    path = source.base_dir / name
    if not path.is_file():
        what = "not a file" if path.exists() else "no such module"
        source.problem(node, f"{where}: {what} '{path}'")
        return None
    return Body(guest=GuestTarget(path, op))
