"""Tarmac's service config (``tarmac.json``) and ``NAME=MODULE`` grants -> callable functions.

Tarmac (``pkg/config``, ``pkg/app``) reads ``services`` -> each ``name``,
``functions`` (``NAME: {filepath, pool_size}``) and ``routes`` (``type`` http,
function, scheduled_task or init, with ``function`` and per type ``path``,
``methods``, ``frequency``, ``retries``); it refuses a config where a service
has no name, a function no filepath, a route no type or function, an http
route no path or methods, or a scheduled task no frequency. A route of type
``function`` registers the callback ``tarmac:function:NAME``, which runs the
function's ``handler`` operation; that is all a local run can use. Everything
else (http routes, scheduled tasks, init functions, pool sizes, topics) is
read, checked as Tarmac checks it, and left out with one note each.

Two differences, both for a run on one machine: a ``filepath`` is relative to
the config file (Tarmac: to its working directory), and a function defined
by two services is refused (Tarmac keeps one of them, whichever its map
iteration meets last). Go's JSON decoding matches keys case-insensitively;
so does this reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputFileError, UsageError
from ...runtime.userfiles import read_user_bytes

#: The largest config read (Tarmac's are a few kilobytes).
MAX_CONFIG_BYTES = 4 << 20
ROUTE_TYPES = ("http", "function", "scheduled_task", "init")
#: Go's json.Unmarshal into config.Config: the keys it knows, per object.
_SERVICE_KEYS = ("name", "functions", "routes")
_FUNCTION_KEYS = ("filepath", "pool_size")
_ROUTE_KEYS = ("type", "path", "topic", "methods", "function", "frequency", "retries")


@dataclass(frozen=True)
class TarmacConfig:
    """What a local run takes from a Tarmac config."""

    path: Path
    #: ``function:NAME`` callees (routes of type function) -> their module files.
    functions: dict[str, Path]
    #: One line per thing read but not used here (the CLI shows them as notes).
    notes: tuple[str, ...]


def load_tarmac_config(path: Path) -> TarmacConfig:
    """Read and check ``path``; one :class:`InputFileError` line for any problem."""
    shown = str(path)
    data = read_user_bytes(path, "Tarmac config", MAX_CONFIG_BYTES)
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{shown}: not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{shown}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputFileError(f"{shown}: not valid JSON: nested too deeply") from None
    return _Reader(path).read(document)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.resolve().parent
        self.notes: list[str] = []

    def fail(self, where: str, message: str) -> InputFileError:
        return InputFileError(f"{self.path}: {where}: {message}" if where else
                              f"{self.path}: {message}")

    def obj(self, value: Any, where: str, known: tuple[str, ...]) -> dict[str, Any]:
        """A JSON object with Go's case-insensitive keys folded onto ``known``."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        folded: dict[str, Any] = {}
        for key, item in value.items():
            name = next((k for k in known if k == key), None) or next(
                (k for k in known if k.lower() == str(key).lower()), None)
            if name is None:
                self.notes.append(f"{where + '.' if where else ''}{key}: not a key Tarmac "
                                  "reads; ignored")
                continue
            folded[name] = item
        return folded

    def text(self, value: Any, where: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {_kind(value)}")
        return value

    def integer(self, value: Any, where: str) -> int:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected an integer, got {_kind(value)}")
        return value

    def read(self, document: Any) -> TarmacConfig:
        root = self.obj(document, "", ("services",))
        services = root.get("services")
        if services is None:
            services = {}
        if not isinstance(services, dict):
            raise self.fail("services", f"expected an object, got {_kind(services)}")
        defined: dict[str, tuple[str, Path]] = {}  # function -> (service, file)
        callable_names: list[tuple[str, str]] = []  # (function, where)
        for key, value in services.items():
            where = f"services.{key}"
            service = self.obj(value, where, _SERVICE_KEYS)
            if not self.text(service.get("name"), f"{where}.name"):
                raise self.fail(where, "service missing name (Tarmac refuses this config)")
            self.functions(service.get("functions"), where, key, defined)
            callable_names += self.routes(service.get("routes"), where)
        functions: dict[str, Path] = {}
        for name, where in callable_names:
            if name in defined:
                functions[name] = defined[name][1]
            else:
                self.notes.append(
                    f"{where}: no service defines function '{name}'; Tarmac registers the "
                    "route and each call fails (here: callback not found)")
        unused = sorted(set(defined) - set(functions))
        for name in unused:
            self.notes.append(f"function '{name}' has no route of type function: guests "
                              f"cannot call it (tarmac:function:{name} is not registered)")
        return TarmacConfig(self.path, functions, tuple(self.notes))

    def functions(self, value: Any, where: str, service: str,
                  defined: dict[str, tuple[str, Path]]) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise self.fail(f"{where}.functions", f"expected an object, got {_kind(value)}")
        for name, item in value.items():
            at = f"{where}.functions.{name}"
            function = self.obj(item, at, _FUNCTION_KEYS)
            filepath = self.text(function.get("filepath"), f"{at}.filepath")
            if not filepath:
                raise self.fail(at, "function missing filepath (Tarmac refuses this config)")
            if self.integer(function.get("pool_size"), f"{at}.pool_size"):
                self.notes.append(f"{at}.pool_size: ignored (one instance per call here)")
            if name in defined:
                raise self.fail(at, f"function '{name}' is also defined by service "
                                    f"'{defined[name][0]}' (Tarmac would keep one at random)")
            module = self.base / filepath
            if not module.is_file():
                what = "no such file" if not module.exists() else "not a file"
                raise self.fail(f"{at}.filepath", f"'{filepath}': {what} (looked for {module})")
            defined[name] = (service, module)

    def routes(self, value: Any, where: str) -> list[tuple[str, str]]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{where}.routes", f"expected a list, got {_kind(value)}")
        names = []
        for index, item in enumerate(value):
            at = f"{where}.routes[{index}]"
            route = self.obj(item, at, _ROUTE_KEYS)
            kind = self.text(route.get("type"), f"{at}.type")
            function = self.text(route.get("function"), f"{at}.function")
            methods = route.get("methods")
            if methods is not None and not (
                isinstance(methods, list) and all(isinstance(m, str) for m in methods)
            ):
                raise self.fail(f"{at}.methods", "expected a list of strings")
            self.text(route.get("path"), f"{at}.path")
            self.text(route.get("topic"), f"{at}.topic")
            frequency = self.integer(route.get("frequency"), f"{at}.frequency")
            self.integer(route.get("retries"), f"{at}.retries")
            if not kind or not function:
                raise self.fail(at, "route missing type or function (Tarmac refuses this config)")
            if kind == "http" and (not route.get("path") or not methods):
                raise self.fail(at, "http route missing path or methods "
                                    "(Tarmac refuses this config)")
            if kind == "scheduled_task" and frequency == 0:
                raise self.fail(at, "scheduled_task route missing frequency "
                                    "(Tarmac refuses this config)")
            if kind == "function":
                names.append((function, at))
            elif kind == "http":
                self.notes.append(f"{at}: http route {', '.join(methods or [])} "
                                  f"{route.get('path')} -> {function}: not served here (the "
                                  "module on the command line is the one called)")
            elif kind == "scheduled_task":
                self.notes.append(f"{at}: scheduled task {function} every {frequency}s: "
                                  "not run here")
            elif kind == "init":
                self.notes.append(f"{at}: init function {function}: not run here")
            else:
                self.notes.append(f"{at}: route type '{kind}' is not one Tarmac knows "
                                  f"({', '.join(ROUTE_TYPES)}); ignored, as Tarmac does")
        return names


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def parse_function_grant(text: str, base: Path | None = None) -> tuple[str, Path]:
    """``NAME=MODULE`` (a ``function:NAME`` callee) as (name, module file).

    ``MODULE`` is relative to ``base`` (default: the working directory). Raises
    :class:`UsageError` saying what is wrong (the caller names where it came from).
    """
    name, sep, module = text.partition("=")
    name = name.strip()
    if not sep or not name or not module:
        raise UsageError(f"'{text}': expected NAME=MODULE.wasm (the function NAME that "
                         "guests call as tarmac:function:NAME)")
    path = (base / module) if base is not None else Path(module)
    if not path.is_file():
        what = "no such file" if not path.exists() else "not a file"
        raise UsageError(f"'{text}': module '{module}': {what}")
    return name, path
