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
nothing that starts with ``-`` as a value (but ``-`` itself where an option
says it takes it: ``--stdin -``), no empty value of a repeatable option (one,
such as ``--stubs`` or ``--env``, keeps its values in order, as typer does).
A command may end in a positional taking any number of values (``wapc run
MODULE ARGS...``): there, as click does, ``-`` is one of them, and every token
after the first ``--`` is one. Anything else (``--help``, another option,
``-xVALUE``, a repeated option, ``JSON`` for ``json``, ``1_000``) returns None:
typer's to parse, to coerce or to refuse, so help and usage errors come from
one place. ``tests/test_entry_parity.py`` and
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

    __slots__ = ("choices", "envvar", "kind", "name", "spellings", "takes_dash")

    def __init__(
        self, name: str, spellings: Sequence[str], kind: str, *,
        choices: Iterable[str] = (), envvar: str | None = None, takes_dash: bool = False,
    ) -> None:
        self.name = name
        self.spellings = tuple(spellings)
        # "flag", "text", "int", "choice", or repeatable: "paths" (list[Path]), "texts"
        self.kind = kind
        self.choices = frozenset(choices)
        self.envvar = envvar
        #: ``-`` is a value of it (click takes any next token as an option's value; the
        #: fast parse takes ``-`` only where it means something: ``--stdin -``).
        self.takes_dash = takes_dash

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
            lists = [arg for arg in args if get_origin(arg) is list]
            # repeatable, in order: list[Path] or list[str]
            kind = "paths" if get_args(lists[0]) == (Path,) else "texts"
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
        if self.kind == "texts":
            return text if text else None  # an empty grant: typer's to pass on
        return text

    @property
    def repeatable(self) -> bool:
        return self.kind in ("paths", "texts")


class LightCommand:
    """A command's plain form: its positionals (in order) and the options it takes."""

    __slots__ = ("flags", "name", "positionals", "rest", "values")

    def __init__(self, name: str, positionals: Sequence[str],
                 options: Iterable[LightOption], *, rest: str | None = None) -> None:
        self.name = name
        self.positionals = tuple(positionals)
        #: The positional after those that takes any number of values (click's nargs=-1).
        self.rest = rest
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
        variadic = self.rest is not None
        for token in tokens:
            if variadic and token == "--":
                positionals.extend(tokens)  # click: the first "--" ends the options
                break
            if not token.startswith("-") or (variadic and token == "-"):
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
                if text is None or (text.startswith("-") and not (
                    option.takes_dash and text == "-"
                )):
                    return None
                value = option.value(text)
                if value is None:
                    return None
            else:
                return None  # "-", "--", -h, clustered or attached short options, anything else
            if option.repeatable:
                found.setdefault(option.name, []).append(value)  # typer keeps them in order
                continue
            if option.name in found:
                return None  # repeated: typer decides which wins
            found[option.name] = value
        fixed, extra = positionals[:len(self.positionals)], positionals[len(self.positionals):]
        if len(fixed) != len(self.positionals) or (extra and not variadic):
            return None
        if variadic and any(not text or text.startswith("-") for text in fixed):
            return None  # a module named "", "-" or "-x" (after "--"): typer's to judge
        for option in self.options():
            if option.envvar and option.name not in found and os.environ.get(option.envvar):
                found[option.name] = os.environ[option.envvar]
        found.update(zip(self.positionals, fixed, strict=True))
        if self.rest is not None:
            found[self.rest] = extra
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
STDIN_OPTION = ("--stdin",)

#: The RunOptions options the fast ``call`` parses (the fields marked ``fast``).
CALL_FIELDS = tuple(
    field.name for field in _FIELDS.values() if isinstance(field.spec, Flag) and field.spec.fast
)
