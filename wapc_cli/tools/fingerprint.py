"""Which guest SDK / toolchain built a module, from what it leaves in the binary.

Each clue adds weight to one toolchain and is kept as evidence, so the report
can say *why* it guessed. The clues were read off real guests:

- Rust (wapc-guest): ``wapc_init`` plus the ``__data_end``/``__heap_base``
  globals rustc's cdylibs export; ``producers`` language Rust / rustc;
  ``wapc_guest`` and mangled ``_ZN`` names; std panic locations in data.
- TinyGo: ``wasi_unstable`` (old builds), ``malloc``/``free``/``calloc``/
  ``realloc`` and ``asyncify_*`` exports, ``runtime.`` names, producers TinyGo.
- AssemblyScript: a start section with no init export, ``env.abort``, the
  runtime's ``__new``/``__pin``/``__collect`` exports, ``~lib/`` strings
  (UTF-16 in data, plain in the name section).
- Zig: ``__console_log`` imported from ``env`` (the Zig SDK), ``std.`` names.
- C/clang: producers language C / processed-by clang, ``__wasm_call_ctors``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .. import abi
from ..wasm.parse import Module, display_name

LABELS = {
    "rust": "Rust (wapc-guest)",
    "tinygo": "TinyGo (wapc-guest-tinygo)",
    "assemblyscript": "AssemblyScript (@wapc/as-guest)",
    "zig": "Zig (wapc-guest-zig)",
    "c": "C/C++ (clang, wasi-libc)",
    "unknown": "unknown toolchain",
}
HIGH, MEDIUM = 5.0, 3.0
MIN_SCORE = 2.0
#: Name-section entries looked at: enough to see a toolchain's runtime, bounded.
MAX_NAMES = 20000

_AS_RUNTIME = ("__new", "__pin", "__unpin", "__collect", "__rtti_base", "__setArgumentsLength")
_GO_ALLOC = ("malloc", "free", "calloc", "realloc")
_RUST_DATA = (b"library/core/src/", b"library/std/src/", b"library/alloc/src/", b"src/libcore/")


@dataclass(frozen=True, slots=True)
class SdkGuess:
    id: str  # "rust" | "tinygo" | "assemblyscript" | "zig" | "c" | "unknown"
    label: str
    confidence: str  # "high" | "medium" | "low"
    evidence: tuple[str, ...]
    needs: tuple[str, ...]  # what this module needs from a host

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "label": self.label, "confidence": self.confidence,
            "evidence": list(self.evidence), "needs": list(self.needs),
        }


class _Clues:
    def __init__(self) -> None:
        self.score: dict[str, float] = defaultdict(float)
        self.evidence: dict[str, list[str]] = defaultdict(list)

    def add(self, sdk: str, weight: float, text: str) -> None:
        self.score[sdk] += weight
        self.evidence[sdk].append(text)


def guess_sdk(
    module: Module, data: bytes, init_exports: tuple[str, ...], wasi_modules: tuple[str, ...]
) -> SdkGuess:
    clues = _Clues()
    _producers(module, clues)
    _names(module, clues)
    _imports(module, clues)
    _exports(module, init_exports, clues)
    _data(module, data, clues)
    ranked = sorted(clues.score.items(), key=lambda kv: -kv[1])
    sdk, best = ranked[0] if ranked else ("unknown", 0.0)
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if best < MIN_SCORE or best == runner_up:
        everything = (text for texts in clues.evidence.values() for text in texts)
        evidence = tuple(dict.fromkeys(everything))
        sdk, confidence = "unknown", "low"
    else:
        evidence = tuple(clues.evidence[sdk])
        confidence = "high" if best >= HIGH else "medium" if best >= MEDIUM else "low"
    return SdkGuess(
        sdk, LABELS[sdk], confidence, evidence, _needs(module, sdk, init_exports, wasi_modules)
    )


def _producers(module: Module, clues: _Clues) -> None:
    for name, version in module.producers.get("language", ()):
        low = name.lower()
        text = display_name(f"producers: language {name} {version}".rstrip())
        if low == "rust":
            clues.add("rust", 4, text)
        elif low in ("c", "c89", "c99", "c11", "c17", "c23") or low.startswith("c++"):
            clues.add("c", 3, text)
        elif low == "go":
            clues.add("tinygo", 3, text)
        elif low == "assemblyscript":
            clues.add("assemblyscript", 4, text)
        elif low == "zig":
            clues.add("zig", 4, text)
    for field in ("processed-by", "sdk"):
        for name, version in module.producers.get(field, ()):
            low = name.lower()
            text = display_name(f"producers: {field} {name} {version}".rstrip())
            if "tinygo" in low:
                clues.add("tinygo", 4, text)
            elif low == "rustc":
                clues.add("rust", 3, text)
            elif "zig" in low:
                clues.add("zig", 4, text)
            elif "assemblyscript" in low:
                clues.add("assemblyscript", 4, text)
            elif "clang" in low:
                clues.add("c", 1, text)  # rustc and TinyGo use LLVM too: a weak clue


def _names(module: Module, clues: _Clues) -> None:
    seen: set[str] = set()
    for i, name in enumerate(module.function_names.values()):
        if i >= MAX_NAMES:
            break
        if "wapc_guest" in name and "wapc_guest" not in seen:
            seen.add("wapc_guest")
            clues.add("rust", 4, "name section: wapc_guest functions (the Rust wapc-guest crate)")
        elif name.startswith("_ZN") and "mangled" not in seen:
            seen.add("mangled")
            clues.add("rust", 2, "name section: Rust-mangled names (_ZN...)")
        elif name.startswith("runtime.") and "runtime." not in seen:
            seen.add("runtime.")
            clues.add("tinygo", 3, f"name section: Go runtime functions ({display_name(name, 60)})")
        elif "~lib/" in name and "~lib/" not in seen:
            seen.add("~lib/")
            shown = display_name(name, 60)
            clues.add("assemblyscript", 4, f"name section: AssemblyScript library ({shown})")
        elif name.startswith("std.") and "std." not in seen:
            seen.add("std.")
            clues.add("zig", 3, f"name section: Zig standard library ({display_name(name, 60)})")
        elif name == "__wasm_call_ctors" and "ctors" not in seen:
            seen.add("ctors")
            clues.add("c", 1, "name section: __wasm_call_ctors (wasm-ld)")


def _imports(module: Module, clues: _Clues) -> None:
    names = {(i.module, i.name) for i in module.imports}
    if abi.ENV_ABORT in names:
        clues.add("assemblyscript", 3, "imports env.abort (AssemblyScript's abort)")
    if abi.ENV_CONSOLE_LOG in names:
        clues.add("zig", 4, "imports __console_log from env (the Zig SDK's choice)")
    if any(m == "wasi_unstable" for m, _ in names):
        clues.add("tinygo", 2, "imports wasi_unstable (older TinyGo builds)")


def _exports(module: Module, init_exports: tuple[str, ...], clues: _Clues) -> None:
    exports = {e.name: e.kind for e in module.exports}
    if "wapc_init" in init_exports:
        text = "exports wapc_init (Rust and Zig SDKs register handlers there)"
        clues.add("rust", 1.5, text)
        clues.add("zig", 1, text)
    if exports.get("__data_end") == "global" or exports.get("__heap_base") == "global":
        clues.add("rust", 2, "exports __data_end/__heap_base globals (rustc cdylib)")
    asyncify = sorted(n for n in exports if n.startswith("asyncify_"))
    if asyncify:
        clues.add("tinygo", 3, f"exports {asyncify[0]} and more (TinyGo's asyncify scheduler)")
    alloc = [n for n in _GO_ALLOC if exports.get(n) == "func"]
    if len(alloc) >= 2:
        clues.add("tinygo", 2, f"exports {', '.join(alloc)} (TinyGo exports its allocator)")
    runtime = [n for n in _AS_RUNTIME if n in exports]
    if runtime:
        clues.add("assemblyscript", 3, f"exports {', '.join(runtime)} (AssemblyScript runtime)")
    for name in ("_initialize", "_start"):
        if name in init_exports:
            text = f"exports {name} (wasi-libc, TinyGo)"
            clues.add("c", 1, text)
            clues.add("tinygo", 1, text)
    if module.start is not None and not init_exports:
        clues.add(
            "assemblyscript", 2,
            "a start section and no init export (how AssemblyScript runs top-level code)",
        )


def _data(module: Module, data: bytes, clues: _Clues) -> None:
    section = module.section(11)
    if section is None:
        return
    body = data[section.offset : section.offset + section.size]
    if "~lib/".encode("utf-16-le") in body:
        clues.add("assemblyscript", 4, "data: AssemblyScript library paths in UTF-16 (~lib/...)")
    if any(marker in body for marker in _RUST_DATA):
        clues.add("rust", 2, "data: Rust standard-library panic locations (library/core/src)")


def _needs(
    module: Module, sdk: str, init_exports: tuple[str, ...], wasi_modules: tuple[str, ...]
) -> tuple[str, ...]:
    needs = []
    if module.start is not None:
        needs.append(
            "start section: the engine runs it while instantiating"
            + (" (AssemblyScript registers handlers there)" if sdk == "assemblyscript" else "")
        )
    if "_start" in init_exports:
        needs.append(
            "command: `_start` called once before the first call (runs main and "
            "constructors); proc_exit(0) from it is a normal end"
        )
    if "_initialize" in init_exports:
        needs.append(
            "reactor: `_initialize` called once before the first call (runtime and "
            "constructors); hosts that call only `_start`/`wapc_init` skip it"
        )
    if "wapc_init" in init_exports:
        needs.append(
            "`wapc_init` called once before the first call: handlers are registered there"
        )
    for name in wasi_modules:
        count = sum(1 for i in module.imports if i.module == name)
        needs.append(f"WASI: {count} function(s) from `{name}`")
    imported = {(i.module, i.name) for i in module.imports}
    if abi.ENV_ABORT in imported:
        needs.append("`env.abort(msg, file, line, col)` with AssemblyScript UTF-16 strings")
    if abi.ENV_CONSOLE_LOG in imported:
        needs.append("`env.__console_log(ptr, len)` (Zig SDK: module env, not wapc)")
    if (abi.WAPC_MODULE, "__host_call") in imported:
        if sdk == "rust":
            needs.append("`__host_call` must return exactly 1 for success (0 = failure)")
        elif sdk in ("tinygo", "assemblyscript", "zig"):
            needs.append("`__host_call`: any non-zero result is read as success")
    return tuple(needs)
