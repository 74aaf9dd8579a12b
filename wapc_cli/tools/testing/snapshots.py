"""``response_file:`` snapshots: compared with the response, rewritten when updating.

A snapshot is read and written only inside its suite's folder, never through
a symbolic link, and never when it names the suite itself, the module or a
stub table (files the user owns for another purpose). A write goes to a
temporary file first and replaces the snapshot in one step. When two engines
run the same case, the first answer is written and the second must agree.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ...runtime.confined_files import ConfinedFileError, read_confined_file
from .diffs import bytes_mismatch, text_mismatch
from .model import ResponseExpect, Suite

FOLDER_IS = "the suite's folder"


class Snapshots:
    """The snapshots of one run: what each holds, and what updating wrote."""

    def __init__(self, update: bool = False) -> None:
        self.update = update
        self.written: dict[Path, bytes] = {}

    def check(self, suite: Suite, expect: ResponseExpect, actual: bytes) -> tuple[str, str | None]:
        """(the mismatch text or "", "created"/"updated" when this wrote the snapshot)."""
        shown = f"response_file '{expect.shown}'"
        try:
            current: bytes | None = read_confined_file(
                suite.path.parent, expect.shown, folder_is=FOLDER_IS
            )
        except ConfinedFileError as exc:
            current = None
            if not str(exc).startswith("no such file") and "does not exist" not in str(exc):
                return f"{shown}: {exc}", None
        path = expect.value
        assert isinstance(path, Path)
        if self.update:
            key = path.resolve()
            if key in self.written:  # another engine ran this case first
                if self.written[key] != actual:
                    return _mismatch(f"{shown} (written by another engine in this run)",
                                     self.written[key], actual), None
                return "", None
            if current == actual:
                return "", None
            problem = self._write(suite, path, actual)
            if problem:
                return f"{shown}: cannot update: {problem}", None
            self.written[key] = actual
            return "", "created" if current is None else "updated"
        if current is None:
            return (f"{shown}: the snapshot does not exist yet (update the snapshots to "
                    "create it)"), None
        if current != actual:
            return _mismatch(shown, current, actual), None
        return "", None

    def _write(self, suite: Suite, path: Path, data: bytes) -> str | None:
        folder = suite.path.parent.resolve()
        target = path.parent.resolve() / path.name
        try:
            target.relative_to(folder)
        except ValueError:
            return f"it is outside {FOLDER_IS}"
        owned = {suite.path.resolve(), suite.module.resolve()}
        owned.update(Path(t.path).resolve() for case in suite.cases for t in case.stubs)
        if target in owned or target.name.endswith((".wasm", ".wapc.yaml")):
            return "it names the suite, its module or a stub table, not a snapshot"
        if target.is_symlink() or (target.exists() and not target.is_file()):
            return "it is not a regular file"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                os.replace(temporary, target)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as exc:
            return exc.strerror or str(exc)
        return None


def _mismatch(what: str, expected: bytes, actual: bytes) -> str:
    try:
        return text_mismatch(what, expected.decode("utf-8"), actual.decode("utf-8"))
    except UnicodeDecodeError:
        return bytes_mismatch(what, expected, actual)
