// Run waPC exchanges under the reference JS host @wapc/host and print what it
// answered, for tests/test_reference_host.py to compare with wapc.
//
// stdin: {"module": PATH, "cases": [{"operation", "payload_hex",
//          "host_calls": {"b:ns:op": {"response_hex": H} | {"error": TEXT}}}]}
// stdout: one JSON array, per case {"response_hex": H} | {"error": TEXT},
//         plus "host_calls": ["b:ns:op", ...] in the order the guest made them
//         and "logs": the guest's console log lines (init and call).
// Each case gets a fresh instance: @wapc/host keeps state between calls.
"use strict";
const fs = require("fs");
const { instantiate } = require("@wapc/host");

// @wapc/host prints the guest's __console_log lines with console.log: collect them.
let logs = [];
console.log = (...parts) => logs.push(parts.join(" "));

async function runCase(bytes, testCase) {
  const seen = [];
  logs = [];
  const hostCall = (binding, namespace, operation) => {
    const key = `${binding}:${namespace}:${operation}`;
    seen.push(key);
    const answer = (testCase.host_calls || {})[key];
    if (!answer) throw `no host call handler for ${key}`;
    if (answer.error !== undefined) throw answer.error; // a string: the host error as given
    return Uint8Array.from(Buffer.from(answer.response_hex, "hex"));
  };
  const host = await instantiate(bytes, hostCall);
  const payload = Uint8Array.from(Buffer.from(testCase.payload_hex, "hex"));
  try {
    const out = await host.invoke(testCase.operation, payload);
    return { response_hex: Buffer.from(out).toString("hex"), host_calls: seen, logs };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e), host_calls: seen, logs };
  }
}

async function main() {
  const request = JSON.parse(fs.readFileSync(0, "utf8"));
  const bytes = fs.readFileSync(request.module);
  const results = [];
  for (const testCase of request.cases) results.push(await runCase(bytes, testCase));
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((e) => {
  process.stderr.write(`run.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
