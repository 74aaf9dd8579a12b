// waPC sample guest written against the real AssemblyScript SDK
// (@wapc/as-guest 0.3.1). Operations are registered from top-level code,
// which AssemblyScript compiles into the module's start section: there is no
// _start / _initialize / wapc_init export.
import {
  register,
  handleCall,
  hostCall,
  handleAbort,
  consoleLog,
  Result,
} from "@wapc/as-guest";

// echo: payload unchanged (any size, including 0 bytes).
register("echo", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  return Result.ok<ArrayBuffer>(payload);
});

// uppercase: payload decoded as UTF-8, upper-cased, re-encoded.
register("uppercase", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  const text = String.UTF8.decode(payload);
  return Result.ok<ArrayBuffer>(String.UTF8.encode(text.toUpperCase()));
});

// kv_get: one host call tarmac:kvstore:get with the payload as-is.
register("kv_get", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  const r = hostCall("tarmac", "kvstore", "get", payload);
  if (r.isOk) {
    return Result.ok<ArrayBuffer>(r.get());
  }
  return Result.error<ArrayBuffer>(new Error("host error: " + r.error()!.message));
});

// fail: a guest error, no response.
register("fail", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  return Result.error<ArrayBuffer>(new Error("requested failure"));
});

// log: one __console_log line.
register("log", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  consoleLog("hello from as_guest");
  return Result.ok<ArrayBuffer>(String.UTF8.encode("logged"));
});

// trap: executes `unreachable`.
register("trap", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  unreachable();
  return Result.ok<ArrayBuffer>(new ArrayBuffer(0));
});

// multi: four host calls in a fixed order, for tracing demos.
//   1. tarmac:kvstore:get    {"key":"greeting"}
//   2. tarmac:kvstore:set    {"key":"greeting","data":"aGk="}   (base64 of "hi")
//   3. tarmac:logger:info    multi ran
//   4. tarmac:kvstore:delete {"key":"missing"}                  (failure tolerated)
// Returns {"get_ok":B,"set_ok":B,"log_ok":B,"delete_ok":B}.
register("multi", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  const getOk = hostCall("tarmac", "kvstore", "get",
    String.UTF8.encode('{"key":"greeting"}')).isOk;
  const setOk = hostCall("tarmac", "kvstore", "set",
    String.UTF8.encode('{"key":"greeting","data":"aGk="}')).isOk;
  const logOk = hostCall("tarmac", "logger", "info",
    String.UTF8.encode("multi ran")).isOk;
  const deleteOk = hostCall("tarmac", "kvstore", "delete",
    String.UTF8.encode('{"key":"missing"}')).isOk;
  const out = '{"get_ok":' + (getOk ? "true" : "false") +
    ',"set_ok":' + (setOk ? "true" : "false") +
    ',"log_ok":' + (logOk ? "true" : "false") +
    ',"delete_ok":' + (deleteOk ? "true" : "false") + "}";
  return Result.ok<ArrayBuffer>(String.UTF8.encode(out));
});

// This must be present in the entry file.
export function __guest_call(operation_size: usize, payload_size: usize): bool {
  return handleCall(operation_size, payload_size);
}

// Target of `--use abort=as_guest/abort`: the SDK turns an abort into a guest
// error (the compiler still emits `unreachable` after it, so it also traps).
function abort(message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32): void {
  handleAbort(message, fileName, lineNumber, columnNumber);
}
