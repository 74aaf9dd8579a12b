"""The typer-free parse of the common commands' plain forms (the fast entry's options).

Importing typer (and, once a command runs, pydantic through typer's coercion)
and rich costs more than a whole one-shot ``wapc call``, ``wapc inspect`` or
``wapc trace``. Each :class:`LightCommand` here names its positionals and the
options it takes, in the spellings typer declares for them (RunOptions fields
take theirs from :mod:`.run_options`; a command's own options from the
constants below, which its typer command uses too), and
:meth:`LightCommand.parse` accepts only what typer would take *unchanged*:
each option once, long options as ``--name value`` or ``--name=value``, short
ones as ``-x value``, integers as plain digits, choices exactly as listed,
nothing that starts with ``-`` as a value (``--stubs`` may be repeated: its
files are kept in order, as typer keeps them). Anything else (``--help``,
another option, ``-xVALUE``, a repeated option, ``JSON`` for ``json``,
``1_000``) returns None: typer's to parse, to coerce or to refuse, so help and
usage errors come from one place. ``tests/test_entry_parity.py`` and
``tests/test_fast_commands.py`` run the same command lines through both and
compare stdout, stderr and exit code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from .run_options import Described, Flag, described

_FIELDS = {field.name: field for field in described()}


class LightOption:
    """One option a light command takes: the value it fills, and how it is spelt."""

    __slots__ = ("choices", "envvar", "kind", "name", "spellings")

    def __init__(
        self, name: str, spellings: Sequence[str], kind: str, *,
        choices: Iterable[str] = (), envvar: str | None = None,
    ) -> None:
        self.name = name
        self.spellings = tuple(spellings)
        self.kind = kind  # "flag", "text", "int", "choice" or "paths" (repeatable)
        self.choices = frozenset(choices)
        self.envvar = envvar

    @classmethod
    def field(cls, name: str) -> LightOption:
        """A RunOptions field's option, as :mod:`.run_options` describes it."""
        described_field: Described = _FIELDS[name]
        spec = described_field.spec
        assert isinstance(spec, Flag), name
        args = get_args(described_field.type)
        if described_field.type is bool:
            kind = "flag"
        elif spec.choices is not None:
            kind = "choice"
        elif int in args:
            kind = "int"
        elif any(get_origin(arg) is list for arg in args):
            kind = "paths"  # repeatable, in order: list[Path]
        else:
            kind = "text"
        choices = [c.value for c in spec.choices] if spec.choices is not None else []
        return cls(name, spec.spellings, kind, choices=choices, envvar=spec.envvar)

    @classmethod
    def choice(cls, name: str, spellings: Sequence[str], values: type[Enum]) -> LightOption:
        return cls(name, spellings, "choice", choices=[v.value for v in values])

    def value(self, text: str) -> Any:
        """``text`` as typer would take it unchanged, or None when typer might coerce or
        reject it (other case, ``1_000``, `` 5`` and the like are typer's to decide)."""
        if self.kind == "choice":
            return text if text in self.choices else None
        if self.kind == "int":
            plain = text == "0" or (text.isascii() and text.isdigit() and text[0] != "0")
            return int(text) if plain else None
        if self.kind == "paths":
            return Path(text) if text else None  # Path("") is "."; typer's to judge
        return text


class LightCommand:
    """A command's plain form: its positionals (in order) and the options it takes."""

    __slots__ = ("flags", "name", "positionals", "values")

    def __init__(self, name: str, positionals: Sequence[str],
                 options: Iterable[LightOption]) -> None:
        self.name = name
        self.positionals = tuple(positionals)
        options = list(options)
        #: Switches and value options, by spelling.
        self.flags = {s: o for o in options if o.kind == "flag" for s in o.spellings}
        self.values = {s: o for o in options if o.kind != "flag" for s in o.spellings}

    def options(self) -> list[LightOption]:
        return list({id(o): o for o in (*self.flags.values(), *self.values.values())}.values())

    def parse(self, args: Sequence[str]) -> dict[str, Any] | None:
        """The values of ``args`` (the command line after the command's name), by name;
        None to leave the command line to typer."""
        positionals: list[str] = []
        found: dict[str, Any] = {}
        tokens = iter(args)
        for token in tokens:
            if not token.startswith("-"):
                positionals.append(token)
                continue
            name, eq, attached = token.partition("=")
            option: LightOption | None = None
            value: Any
            if name in self.flags and not eq:
                option, value = self.flags[name], True
            elif name in self.values and (not eq or name.startswith("--")):
                option = self.values[name]
                text = attached if eq else next(tokens, None)
                # A value that looks like an option (or is missing) is typer's to interpret.
                if text is None or text.startswith("-"):
                    return None
                value = option.value(text)
                if value is None:
                    return None
            else:
                return None  # "-", "--", -h, clustered or attached short options, anything else
            if option.kind == "paths":
                found.setdefault(option.name, []).append(value)  # typer keeps them in order
                continue
            if option.name in found:
                return None  # repeated: typer decides which wins
            found[option.name] = value
        if len(positionals) != len(self.positionals):
            return None
        for option in self.options():
            if option.envvar and option.name not in found and os.environ.get(option.envvar):
                found[option.name] = os.environ[option.envvar]
        found.update(zip(self.positionals, positionals, strict=True))
        if "module" in found:
            found["module"] = Path(found["module"])
        return found


def run_fields(*names: str) -> list[LightOption]:
    return [LightOption.field(name) for name in names]


# Spellings of the commands' own options, here so that the typer commands and the
# fast parse read them from one place.
STRICT_FLAG = ("--strict",)
RUN_FLAG = ("--run",)
FORMAT_OPTION = ("--format", "-f")
TRACE_FORMATS = ("rich", "jsonl")
COUNT_OPTION = ("-n", "--count")
WARMUP_OPTION = ("--warmup",)
SIZE_OPTION = ("--size",)
REPLY_OPTION = ("--reply",)
BARE_FLAG = ("--bare",)

#: The RunOptions options the fast ``call`` parses (the fields marked ``fast``).
CALL_FIELDS = tuple(
    field.name for field in _FIELDS.values() if isinstance(field.spec, Flag) and field.spec.fast
)
