/* waPC sample guest: C, WASI command module (exports _start, memory, __guest_call).
 * Build: clang --target=wasm32-wasi -O2 -o c_command.wasm c_command.c
 * _start runs the constructors, main(), then the destructors; main returns 0,
 * so _start returns normally (wasi-libc only calls proc_exit for a non-zero
 * status). The host then makes guest calls on the same instance.
 *
 * Built a second time with -DEXPLICIT_EXIT (c_command_exit.wasm): main then
 * calls exit(0), so _start ends in the WASI import proc_exit(0), which a host
 * must treat as a successful initialisation, not a failure. */
#include <stdio.h>
#include "wapc_guest.h"

static int started = 0;

static int op_echo(const uint8_t *p, size_t n) { return wapc_respond(p, n); }

static int op_hello(const uint8_t *p, size_t n) {
    (void)p; (void)n;
    printf("hello from C\n");
    fflush(stdout);
    return wapc_respond_str(started ? "hello" : "hello (main never ran)");
}

static const struct wapc_op ops[] = {
    {"echo", op_echo},
    {"hello", op_hello},
};

WAPC_EXPORT("__guest_call") int guest_call(size_t op_len, size_t msg_len) {
    return wapc_dispatch(ops, sizeof ops / sizeof ops[0], op_len, msg_len);
}

int main(void) {
    started = 1;
#ifdef EXPLICIT_EXIT
    exit(0); /* -> wasi_snapshot_preview1.proc_exit(0) */
#endif
    return 0;
}
