/* waPC sample guest: C, WASI reactor (exports _initialize, memory, __guest_call).
 * Build: clang --target=wasm32-wasi -O2 -mexec-model=reactor -o c_reactor.wasm c_reactor.c */
#include <stdio.h>
#include "wapc_guest.h"

/* How many times this module's constructors ran. The reactor's _initialize
 * runs __wasm_call_ctors, so after a correct host initialisation this is 1;
 * a host that never calls _initialize leaves it at 0, and one that calls it
 * twice gives 2. */
static volatile int init_count = 0;

__attribute__((constructor)) static void count_init(void) { init_count = init_count + 1; }

static int op_echo(const uint8_t *p, size_t n) { return wapc_respond(p, n); }

static int op_hello(const uint8_t *p, size_t n) {
    (void)p; (void)n;
    printf("hello from C\n");
    fflush(stdout);
    return wapc_respond_str("hello");
}

static int op_reverse(const uint8_t *p, size_t n) {
    uint8_t *out = malloc(n + 1);
    if (!out) return wapc_fail("out of memory");
    for (size_t i = 0; i < n; i++) out[i] = p[n - 1 - i];
    wapc_respond(out, n);
    free(out);
    return 1;
}

static int op_fail(const uint8_t *p, size_t n) {
    (void)p; (void)n;
    return wapc_fail("c failure");
}

static int op_init_count(const uint8_t *p, size_t n) {
    (void)p; (void)n;
    char buf[16];
    int len = snprintf(buf, sizeof buf, "%d", init_count);
    return wapc_respond(buf, (size_t)len);
}

static const struct wapc_op ops[] = {
    {"echo", op_echo},
    {"hello", op_hello},
    {"reverse", op_reverse},
    {"fail", op_fail},
    {"init_count", op_init_count},
};

WAPC_EXPORT("__guest_call") int guest_call(size_t op_len, size_t msg_len) {
    return wapc_dispatch(ops, sizeof ops / sizeof ops[0], op_len, msg_len);
}
