"""Crash bundles (``--core DIR``): a wasm coredump and the exchange as JSON, written on a trap.

:mod:`.recorder` keeps the exchange's events while it runs; :mod:`.bundle`
writes ``DIR/<module>.<operation>.core.wasm`` (tool-conventions coredump, see
:mod:`wapc_cli.wasm.coredump`) and ``DIR/<module>.<operation>.json`` once it
trapped; :mod:`.show` reads a coredump back for ``wapc core show``. The test
runner calls :func:`write_crash_bundle` the same way ``call`` and ``trace`` do.
"""

from .bundle import CrashBundle, bundle_paths, memory_of, write_crash_bundle
from .recorder import ExchangeRecorder
from .show import CoreReport, show_core

__all__ = [
    "CoreReport", "CrashBundle", "ExchangeRecorder", "bundle_paths", "memory_of", "show_core",
    "write_crash_bundle",
]
