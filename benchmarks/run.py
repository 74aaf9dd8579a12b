#!/usr/bin/env python3
"""wapc's benchmark harness: every figure is a ratio against a baseline measured in this run.

Scenarios run the AssemblyScript sample guest (built with @wapc/as-guest) through

* ``wapc``         – ``wapc bench`` on the default engine (the C-API hot path),
* ``public-api``   – the same with ``WAPC_WASMTIME_PATH=public`` (wasmtime-py's
                     public ``Func.__call__`` / ``define_func``: the baseline a
                     straightforward Python host gets),
* ``wasmer``       – ``--engine wasmer`` when the Python given has it (3.10),
* ``node``         – the reference JS host @wapc/host on node, when node and
                     ``benchmarks/node/node_modules`` are present (``npm ci`` there),
* ``ceiling``      – the bare host loop (``--bare``) answering host calls with a
                     plain callable: what no host API can beat on this machine.

Host-call scenarios also run through a one-rule stub table (``--stubs``) and the
Tarmac preset (``--preset tarmac``), the paths users of those flags take. The
one-shot part times a cold process for every command against node's one-shot
and a bare wasmtime-py script doing the same call.

Each measurement is a separate process, so one cannot warm or slow another.
Usage::

    python benchmarks/run.py                    # all scenarios, 20000 calls each
    python benchmarks/run.py -n 5000 --only echo-0B,one-host-call
    python benchmarks/run.py --python /tmp/v310/bin/python   # includes wasmer
    python benchmarks/run.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GUEST = ROOT / "sample_guests" / "build" / "as_guest.wasm"
NODE_DIR = HERE / "node"


#: A one-rule stub table answering the guest's kv_get (``--stubs``).
STUB_TABLE = 'calls:\n  - match: "tarmac:kvstore:get"\n    reply: v\n'
#: The Tarmac preset with the key kv_get asks for (``--preset tarmac``).
PRESET_TABLE = "preset: tarmac\nkvstore: {greeting: hi}\n"
PRESET_PAYLOAD = '{"key":"greeting"}'


@dataclass(frozen=True)
class Scenario:
    name: str
    operation: str
    size: int
    count_scale: float = 1.0  # big payloads: fewer calls
    #: How host calls are answered: "reply" (a plain callable), "stubs", "preset".
    host: str = "reply"


SCENARIOS = [
    Scenario("echo-0B", "echo", 0),
    Scenario("echo-1KiB", "echo", 1024),
    Scenario("echo-64KiB", "echo", 64 * 1024, 0.25),
    # 2000 calls (at the default -n): 400 took ~70 ms a contender, short enough for
    # one collection or page-fault burst to move a round's ratio by 0.3x.
    Scenario("echo-1MiB", "echo", 1024 * 1024, 0.1),
    Scenario("one-host-call", "kv_get", 0),
    Scenario("stub-table-host-call", "kv_get", 0, host="stubs"),
    Scenario("preset-host-call", "kv_get", len(PRESET_PAYLOAD), 0.5, host="preset"),
    Scenario("four-host-calls", "multi", 0, 0.5),
    Scenario("guest-error", "fail", 0),
]


def host_args(scenario: Scenario, tables: dict[str, Path]) -> list[str]:
    """What answers the scenario's host calls, as ``wapc bench`` options (and its payload)."""
    if scenario.host == "stubs":
        return ["--size", "0", "--stubs", str(tables["stubs"])]
    if scenario.host == "preset":
        return ["--payload", PRESET_PAYLOAD, "--stubs", str(tables["preset"])]
    return ["--size", str(scenario.size), "--reply", "v"]


def wapc_bench(python: str, scenario: Scenario, count: int, env: dict[str, str],
               extra: list[str], host: list[str]) -> dict[str, object] | None:
    cmd = [python, "-m", "wapc_cli", "bench", str(GUEST), scenario.operation,
           "-n", str(count), *host, "--json", *extra]
    return _run_json(cmd, env)


def node_bench(scenario: Scenario, count: int) -> dict[str, object] | None:
    # node's host answers every host call with "v" from a JS callback, whatever wapc uses.
    cmd = ["node", str(NODE_DIR / "bench.js"), str(GUEST), scenario.operation,
           "--size", str(scenario.size), "-n", str(count)]
    return _run_json(cmd, dict(os.environ))


def _run_json(cmd: list[str], env: dict[str, str]) -> dict[str, object] | None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(f"  ! {' '.join(cmd[:4])}...: {proc.stderr.strip()[:300]}\n")
        return None
    data = json.loads(proc.stdout)
    return data[0] if isinstance(data, list) else data


def oneshots(cmds: dict[str, tuple[list[str], dict[str, str]]],
             runs: int) -> dict[str, float | None]:
    """Median wall time (ms) of whole processes doing one call each.

    The commands take turns (round robin), so a machine that speeds up or slows
    down during the measurement moves every figure alike, not the last one alone.
    """
    times: dict[str, list[float]] = {name: [] for name in cmds}
    failed: set[str] = set()
    for _ in range(runs):
        for name, (cmd, env) in cmds.items():
            if name in failed:
                continue
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT)
            elapsed = (time.perf_counter() - start) * 1000
            if proc.returncode != 0:
                sys.stderr.write(f"  ! one-shot {name}: {proc.stderr[:200]!r}\n")
                failed.add(name)
            times[name].append(elapsed)
    return {name: None if name in failed else statistics.median(values)
            for name, values in times.items()}


def _round(python: str, scenario: Scenario, count: int, index: int,
           env_fast: dict[str, str], env_public: dict[str, str], have_node: bool,
           have_wasmer: bool, tables: dict[str, Path]) -> dict[str, dict[str, object] | None]:
    """One round of a scenario: every contender once, in an order that alternates
    between rounds, so that a machine speeding up or slowing down mid-run does
    not favour whoever happens to run first."""
    host = host_args(scenario, tables)
    plain = host_args(Scenario(scenario.name, scenario.operation, scenario.size), tables)
    runs: dict[str, Callable[[], dict[str, object] | None]] = {
        "wapc": lambda: wapc_bench(python, scenario, count, env_fast, ["--bare"], host),
    }
    if scenario.host == "reply":
        runs["public"] = lambda: wapc_bench(python, scenario, max(200, count // 10),
                                            env_public, [], host)
    else:  # the ceiling: the bare loop with a plain callable answering
        runs["ceiling"] = lambda: wapc_bench(python, scenario, count, env_fast, ["--bare"], plain)
    if have_node:
        runs["node"] = lambda: node_bench(scenario, count)
    if have_wasmer:
        runs["wasmer"] = lambda: wapc_bench(python, scenario, count, env_fast,
                                            ["--engine", "wasmer"], host)
    order = list(runs) if index % 2 == 0 else list(runs)[::-1]
    result: dict[str, dict[str, object] | None] = {"node": None, "wasmer": None, "public": None}
    for name in order:
        result[name] = runs[name]()
    # The ceiling of a plain-callable scenario is its own bare loop.
    source = result.get("ceiling") or result["wapc"]
    result["ceiling"] = source.get("bare") if isinstance(source, dict) else None  # type: ignore[assignment]
    return result


def _calls(result: object) -> float | None:
    if not isinstance(result, dict):
        return None
    return float(result["calls_per_s"])


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _ratios(rounds: list[dict[str, dict[str, object] | None]], a: str, b: str) -> list[float]:
    """Per-round ratio of calls/s: each compares two runs made minutes apart at most."""
    pairs = [(_calls(r[a]), _calls(r[b])) for r in rounds]
    return [x / y for x, y in pairs if x and y]


def _shown(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f}x" if ratios else "-"


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f}-{max(ratios):.2f}x" if len(ratios) > 1 else ""


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


#: A WASI command for ``wapc run``'s cold start: writes "hi" and exits 0.
WASI_COMMAND_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""

#: The floor of a one-shot call from Python: wasmtime-py's public API and a
#: minimal waPC host (no checks, no CLI, no cache), echoing the payload once.
BARE_WASMTIME = r"""
import sys, wasmtime
store = wasmtime.Store(); module = wasmtime.Module.from_file(store.engine, sys.argv[1])
op, payload, out, mem = sys.argv[2].encode(), b"hello", [], []
def request(caller, op_ptr, ptr):
    data = mem[0].data_ptr(caller)
    for i, b in enumerate(op): data[op_ptr + i] = b
    for i, b in enumerate(payload): data[ptr + i] = b
def response(caller, ptr, n):
    out.append(bytes(mem[0].data_ptr(caller)[ptr:ptr + n]))
linker = wasmtime.Linker(store.engine)
I = wasmtime.ValType.i32()
def define(name, params, results, fn):
    linker.define_func("wapc", name, wasmtime.FuncType([I] * params, [I] * results), fn,
                       access_caller=True)
define("__guest_request", 2, 0, request)
define("__guest_response", 2, 0, response)
for name, params, results in (("__guest_error", 2, 0), ("__host_call", 8, 1),
        ("__host_response_len", 0, 1), ("__host_response", 1, 0), ("__host_error_len", 0, 1),
        ("__host_error", 1, 0), ("__console_log", 2, 0)):
    define(name, params, results, lambda caller, *a, r=results: 0 if r else None)
instance = linker.instantiate(store, module)
mem.append(instance.exports(store)["memory"])
instance.exports(store)["__guest_call"](store, len(op), len(payload))
sys.stdout.buffer.write(out[0])
"""


def oneshot_commands(python: str, env_fast: dict[str, str], base_env: dict[str, str],
                     tables: dict[str, Path], work: Path,
                     have_node: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Every command's plain cold start, the baselines, and what they need on disk."""
    wapc = [python, "-m", "wapc_cli"]
    command = work / "hi-command.wasm"
    subprocess.run([python, "-c", "import sys, wasmtime; open(sys.argv[1], 'wb')"
                    ".write(wasmtime.wat2wasm(sys.argv[2]))", str(command), WASI_COMMAND_WAT],
                   check=True)
    dwarf = ROOT / "sample_guests" / "build" / "dwarf_trap.wasm"
    suite = ROOT / "sample_guests" / "suites" / "as_guest.wapc.yaml"
    call = [*wapc, "call", str(GUEST), "echo", "-p", "hello"]
    script = Path(python).parent / "wapc"
    cmds: dict[str, tuple[list[str], dict[str, str]]] = {
        "call": (call, env_fast),
        # the console script, as a user runs it (when --python is a venv's)
        "call (console script)": ([str(script), *call[3:]], env_fast),
        "call --no-cache": ([*call, "--no-cache"], env_fast),
        "call --stubs": ([*wapc, "call", str(GUEST), "kv_get", "--stubs", str(tables["stubs"])],
                         env_fast),
        # --force (meaningless without --record) is outside the fast entry's options:
        # the same call through the full typer CLI
        "call (typer)": ([*call, "--force"], env_fast),
        "inspect": ([*wapc, "inspect", str(GUEST)], env_fast),
        "inspect --json": ([*wapc, "inspect", str(GUEST), "--json"], env_fast),
        "trace": ([*wapc, "trace", str(GUEST), "echo", "-p", "hello"], env_fast),
        "trace -f jsonl": ([*wapc, "trace", str(GUEST), "echo", "-p", "hello", "-f", "jsonl"],
                           env_fast),
        "bench -n 1": ([*wapc, "bench", str(GUEST), "echo", "-n", "1", "--warmup", "0"],
                       env_fast),
        "stubs check": ([*wapc, "stubs", "check", str(tables["stubs"])], env_fast),
        "test": ([*wapc, "test", str(suite)], env_fast),
        "run": ([*wapc, "run", str(command)], env_fast),
        "addr2line": ([*wapc, "addr2line", str(dwarf), "0x100"], env_fast),
        "--help": ([*wapc, "--help"], env_fast),
        "library (no CLI)": ([python, "-c",
                              "import sys; from wapc_cli.runtime.guest import load_module; "
                              "from wapc_cli.runtime.cache import ModuleCache; "
                              "sys.stdout.buffer.write(load_module(sys.argv[1], "
                              "cache=ModuleCache()).instantiate().call('echo', b'hello'))",
                              str(GUEST)], env_fast),
        "bare wasmtime-py": ([python, "-c", BARE_WASMTIME, str(GUEST), "echo"], base_env),
        "node": (["node", str(NODE_DIR / "bench.js"), str(GUEST), "echo", "--oneshot",
                  "--size", "5"], base_env),
    }
    if not script.exists():
        del cmds["call (console script)"]
    if not dwarf.exists():
        del cmds["addr2line"]
    if not suite.exists():
        del cmds["test"]
    if not have_node:
        del cmds["node"]
    return cmds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=20000)
    parser.add_argument("--python", default=sys.executable,
                        help="Python with wapc installed (wasmer needs 3.10)")
    parser.add_argument("--only", help="comma-separated scenario names ('none': one-shots only)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds per scenario (figures are medians)")
    parser.add_argument("--oneshot-runs", type=int, default=15,
                        help="processes per one-shot command (0: skip the one-shots)")
    parser.add_argument("--json", type=Path, help="also write all raw results here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")

    if not GUEST.exists():
        sys.stderr.write(f"missing {GUEST}: build the sample guests first\n")
        return 2
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    have_node = shutil.which("node") is not None and (NODE_DIR / "node_modules").is_dir()
    if not have_node:
        sys.stderr.write("node baseline skipped: install node and run `npm ci` in "
                         "benchmarks/node\n")
    work = Path(tempfile.mkdtemp(prefix="wapc-bench-"))
    cache_dir = work / "cache"
    tables = {"stubs": work / "one-rule.yaml", "preset": work / "preset.yaml"}
    tables["stubs"].write_text(STUB_TABLE, encoding="utf-8")
    tables["preset"].write_text(PRESET_TABLE, encoding="utf-8")
    base_env = dict(os.environ, WAPC_CACHE_DIR=str(cache_dir))
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)  # a cold start should not recompile sources
    env_fast = dict(base_env)
    env_public = dict(base_env, WAPC_WASMTIME_PATH="public")
    probe = subprocess.run([args.python, "-c", "import wasmer"], capture_output=True)
    have_wasmer = probe.returncode == 0

    raw: dict[str, dict[str, object]] = {}
    print(f"guest: {GUEST.relative_to(ROOT)}   calls per scenario: {args.count}   "
          f"python: {args.python}")
    header = (f"{'scenario':21} {'wapc/s':>10} {'bare/s':>10} {'public/s':>10} "
              f"{'node/s':>10} {'vs node':>8} {'vs public':>9} {'vs ceiling':>10} "
              f"{'API cost':>8} {'vs node range':>13}")
    if have_wasmer:
        header += f" {'wasmer/s':>10} {'wasmer/node':>11}"
    if chosen:
        print(header)
    for scenario in chosen:
        count = max(200, int(args.count * scenario.count_scale))
        rounds = [_round(args.python, scenario, count, index, env_fast, env_public,
                         have_node, have_wasmer, tables) for index in range(args.rounds)]
        raw[scenario.name] = {"rounds": rounds}
        f = _median([_calls(r["wapc"]) for r in rounds])
        b = _median([_calls(r["wapc"].get("bare") if r["wapc"] else None) for r in rounds])
        p = _median([_calls(r["public"]) for r in rounds])
        n = _median([_calls(r["node"]) for r in rounds])
        cost = _median([_number(r["wapc"].get("api_overhead_pct")) if r["wapc"] else None
                        for r in rounds])
        vs_node = _ratios(rounds, "wapc", "node")
        vs_public = _ratios(rounds, "wapc", "public")
        vs_ceiling = _ratios(rounds, "wapc", "ceiling")
        line = (f"{scenario.name:21} {f or 0:>10,.0f} {b or 0:>10,.0f} {p or 0:>10,.0f} "
                f"{n or 0:>10,.0f} {_shown(vs_node):>8} {_shown(vs_public):>9} "
                f"{_shown(vs_ceiling):>10} "
                f"{'' if cost is None else f'{cost:+.1f}%':>8} {_spread(vs_node):>13}")
        if have_wasmer:
            w = _median([_calls(r["wasmer"]) for r in rounds])
            line += f" {w or 0:>10,.0f} {_shown(_ratios(rounds, 'wasmer', 'node')):>11}"
        raw[scenario.name]["summary"] = {
            "wapc_calls_per_s": f, "bare_calls_per_s": b, "public_calls_per_s": p,
            "node_calls_per_s": n, "api_overhead_pct": cost,
            "vs_node": _median(vs_node), "vs_node_rounds": vs_node,
            "vs_ceiling": _median(vs_ceiling),
        }
        print(line, flush=True)

    if args.oneshot_runs > 0:
        cmds = oneshot_commands(args.python, env_fast, base_env, tables, work, have_node)
        oneshots(cmds, 2)  # fill the compiled-module cache and the .pyc files
        ms = oneshots(cmds, args.oneshot_runs)
        node_ms, bare_ms = ms.get("node"), ms.get("bare wasmtime-py")
        raw["oneshot"] = {"ms": ms, "runs": args.oneshot_runs}
        print()
        print(f"one-shot process, median wall time of {args.oneshot_runs} (x node: its time "
              "over node's, <= 1.00x is as fast as node; x bare: over a bare wasmtime-py "
              "script's):")
        for name, value in ms.items():
            if value is None:
                print(f"  {name:22} failed")
                continue
            print(f"  {name:22} {value:7.1f} ms   x node {ratio(value, node_ms):>6}   "
                  f"x bare {ratio(value, bare_ms):>6}")
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
