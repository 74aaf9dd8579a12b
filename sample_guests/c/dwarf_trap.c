/* waPC sample guest with DWARF debug info (built with clang -g, NOT stripped).
 * Build: clang --target=wasm32 -nostdlib -O0 -g -Wl,--no-entry -o dwarf_trap.wasm dwarf_trap.c
 * Freestanding (no libc, no WASI): its traps come from this file alone.
 *   check  payload = digits: responds with their sum; an empty payload traps
 *          in check_input, a non-digit traps in digit_value (inlined into it).
 *   lookup makes three host calls (kv:store:get for "a", "b", "c") and
 *          responds with their answers joined by ",". */
#include <stddef.h>
#include <stdint.h>

#define WAPC_IMPORT(name) __attribute__((import_module("wapc"), import_name(name)))

WAPC_IMPORT("__guest_request") void guest_request(uint8_t *op, uint8_t *payload);
WAPC_IMPORT("__guest_response") void guest_response(const uint8_t *ptr, size_t len);
WAPC_IMPORT("__guest_error") void guest_error(const uint8_t *ptr, size_t len);
WAPC_IMPORT("__host_call") int host_call(const uint8_t *bd, size_t bd_len, const uint8_t *ns,
                                         size_t ns_len, const uint8_t *op, size_t op_len,
                                         const uint8_t *ptr, size_t len);
WAPC_IMPORT("__host_response_len") size_t host_response_len(void);
WAPC_IMPORT("__host_response") void host_response(uint8_t *ptr);

static uint8_t op_buf[64];
static uint8_t payload_buf[4096];
static uint8_t reply[4096];
static char digits_text[12];

static int same(const uint8_t *a, size_t n, const char *b) {
    size_t i = 0;
    for (; i < n && b[i]; i++) if (a[i] != (uint8_t)b[i]) return 0;
    return i == n && b[i] == 0;
}

static inline __attribute__((always_inline)) int digit_value(uint8_t c) {
    if (c < '0' || c > '9') __builtin_trap(); /* TRAP: not a digit */
    return c - '0';
}

__attribute__((noinline)) static int check_input(const uint8_t *payload, size_t len) {
    if (len == 0) __builtin_trap(); /* TRAP: empty input */
    int sum = 0;
    for (size_t i = 0; i < len; i++) sum += digit_value(payload[i]);
    return sum;
}

static size_t format_number(int value) {
    char tmp[12];
    size_t n = 0;
    do { tmp[n++] = (char)('0' + value % 10); value /= 10; } while (value > 0 && n < sizeof tmp);
    for (size_t i = 0; i < n; i++) digits_text[i] = tmp[n - 1 - i];
    return n;
}

__attribute__((noinline)) static int lookup(void) {
    static const char keys[3] = {'a', 'b', 'c'};
    size_t used = 0;
    for (int i = 0; i < 3; i++) {
        if (!host_call((const uint8_t *)"kv", 2, (const uint8_t *)"store", 5,
                       (const uint8_t *)"get", 3, (const uint8_t *)&keys[i], 1)) {
            guest_error((const uint8_t *)"host call failed", 16);
            return 0;
        }
        size_t n = host_response_len();
        if (n > sizeof reply - used - 1) {
            guest_error((const uint8_t *)"answer too long", 15);
            return 0;
        }
        host_response(reply + used);
        used += n;
        if (i < 2) reply[used++] = ',';
    }
    guest_response(reply, used);
    return 1;
}

/* Nothing to set up: exported so hosts that look for an init export find one. */
__attribute__((export_name("wapc_init"))) void wapc_init(void) {}

__attribute__((export_name("__guest_call"))) int guest_call(size_t op_len, size_t payload_len) {
    if (op_len > sizeof op_buf || payload_len > sizeof payload_buf) {
        guest_error((const uint8_t *)"request too large", 17);
        return 0;
    }
    guest_request(op_buf, payload_buf);
    if (same(op_buf, op_len, "check")) {
        int sum = check_input(payload_buf, payload_len); /* CALL: check_input */
        guest_response((const uint8_t *)digits_text, format_number(sum));
        return 1;
    }
    if (same(op_buf, op_len, "lookup")) return lookup();
    guest_error((const uint8_t *)"unknown operation", 17);
    return 0;
}
