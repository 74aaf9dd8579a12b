#!/usr/bin/env python3
"""wapc's benchmark harness: every figure is a ratio against a baseline measured in this run.

Scenarios run the AssemblyScript sample guest (built with @wapc/as-guest) through

* ``wapc``         – ``wapc bench`` on the default engine (the C-API hot path),
* ``public-api``   – the same with ``WAPC_WASMTIME_PATH=public`` (wasmtime-py's
                     public ``Func.__call__`` / ``define_func``: the baseline a
                     straightforward Python host gets),
* ``wasmer``       – ``--engine wasmer`` when the Python given has it (3.10),
* ``node``         – the reference JS host @wapc/host on node, when node and
                     ``benchmarks/node/node_modules`` are present (``npm ci`` there).

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


@dataclass(frozen=True)
class Scenario:
    name: str
    operation: str
    size: int
    count_scale: float = 1.0  # big payloads: fewer calls


SCENARIOS = [
    Scenario("echo-0B", "echo", 0),
    Scenario("echo-1KiB", "echo", 1024),
    Scenario("echo-64KiB", "echo", 64 * 1024, 0.25),
    Scenario("echo-1MiB", "echo", 1024 * 1024, 0.02),
    Scenario("one-host-call", "kv_get", 0),
    Scenario("four-host-calls", "multi", 0, 0.5),
    Scenario("guest-error", "fail", 0),
]


def wapc_bench(python: str, scenario: Scenario, count: int, env: dict[str, str],
               extra: list[str]) -> dict[str, object] | None:
    cmd = [python, "-m", "wapc_cli", "bench", str(GUEST), scenario.operation,
           "--size", str(scenario.size), "-n", str(count), "--reply", "v", "--json", *extra]
    return _run_json(cmd, env)


def node_bench(scenario: Scenario, count: int) -> dict[str, object] | None:
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
           have_wasmer: bool) -> dict[str, dict[str, object] | None]:
    """One round of a scenario: every contender once, in an order that alternates
    between rounds, so that a machine speeding up or slowing down mid-run does
    not favour whoever happens to run first."""
    runs: dict[str, Callable[[], dict[str, object] | None]] = {
        "wapc": lambda: wapc_bench(python, scenario, count, env_fast, ["--bare"]),
        "public": lambda: wapc_bench(python, scenario, max(200, count // 10), env_public, []),
    }
    if have_node:
        runs["node"] = lambda: node_bench(scenario, count)
    if have_wasmer:
        runs["wasmer"] = lambda: wapc_bench(python, scenario, count, env_fast,
                                            ["--engine", "wasmer"])
    order = list(runs) if index % 2 == 0 else list(runs)[::-1]
    result: dict[str, dict[str, object] | None] = {"node": None, "wasmer": None}
    for name in order:
        result[name] = runs[name]()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=20000)
    parser.add_argument("--python", default=sys.executable,
                        help="Python with wapc installed (wasmer needs 3.10)")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds per scenario (figures are medians)")
    parser.add_argument("--oneshot-runs", type=int, default=15)
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
    cache_dir = tempfile.mkdtemp(prefix="wapc-bench-cache-")
    base_env = dict(os.environ, WAPC_CACHE_DIR=cache_dir)
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)  # a cold start should not recompile sources
    env_fast = dict(base_env)
    env_public = dict(base_env, WAPC_WASMTIME_PATH="public")
    probe = subprocess.run([args.python, "-c", "import wasmer"], capture_output=True)
    have_wasmer = probe.returncode == 0

    raw: dict[str, dict[str, object]] = {}
    print(f"guest: {GUEST.relative_to(ROOT)}   calls per scenario: {args.count}   "
          f"python: {args.python}")
    header = (f"{'scenario':16} {'wapc/s':>10} {'bare/s':>10} {'public/s':>10} "
              f"{'node/s':>10} {'vs node':>8} {'vs public':>9} {'API cost':>8} "
              f"{'vs node range':>13}")
    if have_wasmer:
        header += f" {'wasmer/s':>10} {'wasmer/node':>11}"
    print(header)
    for scenario in chosen:
        count = max(200, int(args.count * scenario.count_scale))
        rounds = [_round(args.python, scenario, count, index, env_fast, env_public,
                         have_node, have_wasmer) for index in range(args.rounds)]
        raw[scenario.name] = {"rounds": rounds}
        f = _median([_calls(r["wapc"]) for r in rounds])
        b = _median([_calls(r["wapc"].get("bare") if r["wapc"] else None) for r in rounds])
        p = _median([_calls(r["public"]) for r in rounds])
        n = _median([_calls(r["node"]) for r in rounds])
        cost = _median([_number(r["wapc"].get("api_overhead_pct")) if r["wapc"] else None
                        for r in rounds])
        vs_node = _ratios(rounds, "wapc", "node")
        vs_public = _ratios(rounds, "wapc", "public")
        line = (f"{scenario.name:16} {f or 0:>10,.0f} {b or 0:>10,.0f} {p or 0:>10,.0f} "
                f"{n or 0:>10,.0f} {_shown(vs_node):>8} {_shown(vs_public):>9} "
                f"{'' if cost is None else f'{cost:+.1f}%':>8} {_spread(vs_node):>13}")
        if have_wasmer:
            w = _median([_calls(r["wasmer"]) for r in rounds])
            line += f" {w or 0:>10,.0f} {_shown(_ratios(rounds, 'wasmer', 'node')):>11}"
        raw[scenario.name]["summary"] = {
            "wapc_calls_per_s": f, "bare_calls_per_s": b, "public_calls_per_s": p,
            "node_calls_per_s": n, "api_overhead_pct": cost,
            "vs_node": _median(vs_node), "vs_node_rounds": vs_node,
        }
        print(line, flush=True)

    # One-shot: a cold process loading the guest and making one call.
    call = [args.python, "-m", "wapc_cli", "call", str(GUEST), "echo", "-p", "hello"]
    lib = [args.python, "-c",
           "import sys; from wapc_cli.runtime.guest import load_module; "
           "from wapc_cli.runtime.cache import ModuleCache; "
           "sys.stdout.buffer.write(load_module(sys.argv[1], cache=ModuleCache())"
           ".instantiate().call('echo', b'hello'))", str(GUEST)]
    script = Path(args.python).parent / "wapc"
    cmds = {
        "call": (call, env_fast),
        # the console script, as a user runs it (when --python is a venv's)
        "script": ([str(script), *call[3:]], env_fast),
        "no-cache": ([*call, "--no-cache"], env_fast),
        # --force (meaningless without --record) is outside the fast entry's options:
        # the same call through the full typer CLI
        "typer": ([*call, "--force"], env_fast),
        "library": (lib, env_fast),
        "node": (["node", str(NODE_DIR / "bench.js"), str(GUEST), "echo", "--oneshot",
                  "--size", "5"], base_env),
    }
    if not script.exists():
        del cmds["script"]
    if not have_node:
        del cmds["node"]
    oneshots(cmds, 2)  # fill the compiled-module cache and the .pyc files
    ms = oneshots(cmds, args.oneshot_runs)
    wapc_ms, script_ms, nocache_ms = ms["call"], ms.get("script"), ms["no-cache"]
    typer_ms, lib_ms, node_ms = ms["typer"], ms["library"], ms.get("node")
    raw["oneshot"] = {"wapc_call_ms": wapc_ms, "wapc_call_no_cache_ms": nocache_ms,
                      "wapc_script_ms": script_ms, "full_cli_ms": typer_ms,
                      "library_ms": lib_ms, "node_ms": node_ms}
    print()
    print("one-shot process, median wall time:")
    print(f"  wapc call (cache)     {wapc_ms or 0:7.1f} ms   vs node {ratio(node_ms, wapc_ms)}"
          " (node time / wapc time; >= 1.00x means wapc is as fast)")
    if script_ms:
        print(f"  wapc (console script) {script_ms:7.1f} ms   vs node {ratio(node_ms, script_ms)}")
    print(f"  wapc call --no-cache  {nocache_ms or 0:7.1f} ms")
    print(f"  full CLI (typer)      {typer_ms or 0:7.1f} ms   vs node {ratio(node_ms, typer_ms)}")
    print(f"  library (no CLI)      {lib_ms or 0:7.1f} ms   vs node {ratio(node_ms, lib_ms)}")
    if node_ms:
        print(f"  node @wapc/host       {node_ms:7.1f} ms")
    shutil.rmtree(cache_dir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
