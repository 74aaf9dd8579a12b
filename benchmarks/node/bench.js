// Baseline for wapc's benchmarks: the same guest and the same exchanges through
// the reference JS host @wapc/host on node. Prints one JSON object per run so
// benchmarks/run.py can compute ratios measured in the same session.
//
//   node bench.js MODULE OPERATION --size N [-n COUNT | --duration S] [--warmup N]
//   node bench.js MODULE OPERATION --size N --oneshot   (load, call once, exit)
"use strict";
const fs = require("fs");
const { performance } = require("perf_hooks");
const { instantiate } = require("@wapc/host");

function parseArgs(argv) {
  const opts = { size: 0, count: 0, duration: 0, warmup: 1000, oneshot: false, reply: "v" };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--size") opts.size = Number(argv[++i]);
    else if (a === "-n") opts.count = Number(argv[++i]);
    else if (a === "--duration") opts.duration = Number(argv[++i]);
    else if (a === "--warmup") opts.warmup = Number(argv[++i]);
    else if (a === "--reply") opts.reply = argv[++i];
    else if (a === "--oneshot") opts.oneshot = true;
    else positional.push(a);
  }
  if (positional.length !== 2) {
    process.stderr.write("usage: node bench.js MODULE OPERATION [--size N] [-n N|--duration S]\n");
    process.exit(2);
  }
  [opts.module, opts.operation] = positional;
  if (!opts.count && !opts.duration) opts.count = 20000;
  return opts;
}

function percentile(sorted, q) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const payload = new Uint8Array(opts.size);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  const reply = new TextEncoder().encode(opts.reply);
  let hostCalls = 0;
  const hostCall = () => { hostCalls++; return reply; };

  const t0 = performance.now();
  const bytes = fs.readFileSync(opts.module);
  const host = await instantiate(bytes, hostCall);
  const tInit = performance.now();
  if (opts.oneshot) {
    const out = await host.invoke(opts.operation, payload);
    process.stdout.write(JSON.stringify({ response_len: out.length, load_ms: tInit - t0 }) + "\n");
    return;
  }
  // A failing operation (guest error) is measured too: the error is the outcome.
  let errors = 0;
  const invoke = async () => {
    try {
      await host.invoke(opts.operation, payload);
    } catch (e) {
      errors++;
    }
  };
  for (let i = 0; i < opts.warmup; i++) await invoke();
  hostCalls = 0;
  errors = 0;
  const lat = [];
  const start = performance.now();
  const deadline = start + opts.duration * 1000;
  let calls = 0;
  for (;;) {
    const s = performance.now();
    await invoke();
    const e = performance.now();
    lat.push((e - s) * 1000);
    calls++;
    if (opts.count ? calls >= opts.count : e >= deadline) break;
  }
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({
    engine: "node @wapc/host " + require("@wapc/host/package.json").version,
    node: process.version,
    calls: calls,
    errors: errors,
    calls_per_s: calls / elapsed,
    p50_us: percentile(lat, 0.5),
    p90_us: percentile(lat, 0.9),
    p99_us: percentile(lat, 0.99),
    max_us: lat[lat.length - 1],
    host_calls_per_call: hostCalls / calls,
    load_ms: tInit - t0,
  }) + "\n");
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(1); });
