"""Typer commands made from the one description of the options (:mod:`.run_options`).

:func:`run_command` builds a typer command whose parameters are fields of
:class:`~.run_options.RunOptions` plus the command's own, and hands the command
body one ``RunOptions``; :func:`command` does the same for a command that takes
a few of the fields (``inspect``) as plain keyword arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Annotated, Any

import typer

from .run_options import Arg, Described, RunOptions, described

_FIELDS = {field.name: field for field in described()}

#: A command's own parameter (not a RunOptions field): its ``Annotated`` type and default.
Extra = tuple[Any, Any]


def _annotated(field: Described, help: str | None) -> Any:
    spec = field.spec
    if isinstance(spec, Arg):
        info: Any = typer.Argument(help=spec.help, show_default=spec.show_default)
        return Annotated[field.type, info]
    extra: dict[str, Any] = {}
    if spec.choices is not None:
        extra["case_sensitive"] = False
    if spec.envvar is not None:
        extra["envvar"] = spec.envvar
    info = typer.Option(*spec.spellings, help=help or spec.help, **extra)
    return Annotated[spec.choices or field.type, info]


def _default(field: Described) -> Any:
    if isinstance(field.spec, Arg):
        return inspect.Parameter.empty
    choices = getattr(field.spec, "choices", None)
    return choices(field.default) if choices is not None else field.default


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def run_command(
    body: Callable[..., None],
    parameters: Sequence[str],
    extras: Mapping[str, Extra] | None = None,
    *,
    helps: Mapping[str, str] | None = None,
) -> Callable[..., None]:
    """A typer command with ``parameters`` (in that order), calling ``body(options, **extras)``.

    ``parameters`` names RunOptions fields and keys of ``extras``; ``helps``
    replaces a field's help text for this command.
    """
    own = tuple(extras or ())

    def run(**values: Any) -> None:
        mine = {name: values.pop(name) for name in own}
        body(RunOptions(**values), **mine)

    return command(run, parameters, extras, helps=helps, like=body)


def command(
    body: Callable[..., None],
    parameters: Sequence[str],
    extras: Mapping[str, Extra] | None = None,
    *,
    helps: Mapping[str, str] | None = None,
    like: Callable[..., None] | None = None,
) -> Callable[..., None]:
    """A typer command with ``parameters``, calling ``body(**values)``.

    Values of RunOptions fields come as RunOptions holds them (a choice as its
    string, not typer's enum); the command takes its name and help from
    ``like`` (default: ``body``).
    """
    extras = extras or {}
    helps = helps or {}
    signature = []
    for name in parameters:
        if name in extras:
            annotation, default = extras[name]
        else:
            field = _FIELDS[name]
            annotation, default = _annotated(field, helps.get(name)), _default(field)
        signature.append(inspect.Parameter(
            name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default,
        ))

    def typer_command(**values: Any) -> None:
        body(**{name: value if name in extras else _plain(value)
                for name, value in values.items()})

    shown = like or body
    typer_command.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    typer_command.__doc__ = shown.__doc__
    typer_command.__name__ = shown.__name__
    return typer_command
