// waPC sample guest built WITHOUT `--use abort=...`: AssemblyScript's own
// abort is then the import env.abort(message, fileName, line, column), whose
// string arguments are AssemblyScript (UTF-16LE) string pointers, with the
// byte length stored as a u32 at ptr-4.
import { register, handleCall, Result } from "@wapc/as-guest";

register("echo", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  return Result.ok<ArrayBuffer>(payload);
});

// abort: assert(false, "boom") -> env.abort("boom", "as_abort.ts", line, col),
// followed by `unreachable` if the host's env.abort returns.
register("abort", function (payload: ArrayBuffer): Result<ArrayBuffer> {
  assert(payload.byteLength < 0, "boom");
  return Result.ok<ArrayBuffer>(new ArrayBuffer(0));
});

export function __guest_call(operation_size: usize, payload_size: usize): bool {
  return handleCall(operation_size, payload_size);
}
