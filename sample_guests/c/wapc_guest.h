/* Minimal waPC guest glue for C (clang --target=wasm32-wasi).
 * Written for this project's sample guests; the nine waPC imports live in
 * module "wapc". Only the ones a guest uses end up imported. */
#ifndef WAPC_GUEST_H
#define WAPC_GUEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WAPC_IMPORT(name) __attribute__((import_module("wapc"), import_name(name)))
#define WAPC_EXPORT(name) __attribute__((export_name(name)))

WAPC_IMPORT("__guest_request") void wapc_guest_request(uint8_t *op_ptr, uint8_t *ptr);
WAPC_IMPORT("__guest_response") void wapc_guest_response(const uint8_t *ptr, size_t len);
WAPC_IMPORT("__guest_error") void wapc_guest_error(const uint8_t *ptr, size_t len);
WAPC_IMPORT("__host_call") int wapc_host_call(const uint8_t *bind_ptr, size_t bind_len,
                                              const uint8_t *ns_ptr, size_t ns_len,
                                              const uint8_t *op_ptr, size_t op_len,
                                              const uint8_t *ptr, size_t len);
WAPC_IMPORT("__host_response_len") size_t wapc_host_response_len(void);
WAPC_IMPORT("__host_response") void wapc_host_response(uint8_t *ptr);
WAPC_IMPORT("__host_error_len") size_t wapc_host_error_len(void);
WAPC_IMPORT("__host_error") void wapc_host_error(uint8_t *ptr);
WAPC_IMPORT("__console_log") void wapc_console_log(const uint8_t *ptr, size_t len);

/* An operation handler: sets a response or error itself, returns 1 or 0. */
typedef int (*wapc_handler)(const uint8_t *payload, size_t len);

struct wapc_op {
    const char *name;
    wapc_handler fn;
};

static inline int wapc_respond(const void *p, size_t n) {
    wapc_guest_response((const uint8_t *)p, n);
    return 1;
}

static inline int wapc_respond_str(const char *s) { return wapc_respond(s, strlen(s)); }

static inline int wapc_fail(const char *msg) {
    wapc_guest_error((const uint8_t *)msg, strlen(msg));
    return 0;
}

/* Shared body of __guest_call: fetch operation + payload, dispatch by name. */
static inline int wapc_dispatch(const struct wapc_op *ops, size_t n_ops, size_t op_len, size_t msg_len) {
    /* +1 so that a 0-byte request still gets a valid, distinct buffer. */
    uint8_t *op = malloc(op_len + 1);
    uint8_t *msg = malloc(msg_len + 1);
    if (!op || !msg) {
        free(op);
        free(msg);
        return wapc_fail("out of memory");
    }
    wapc_guest_request(op, msg);
    op[op_len] = 0;
    msg[msg_len] = 0; /* convenience: payload is also a C string */
    int rc = -1;
    for (size_t i = 0; i < n_ops; i++) {
        if (strlen(ops[i].name) == op_len && memcmp(ops[i].name, op, op_len) == 0) {
            rc = ops[i].fn(msg, msg_len);
            break;
        }
    }
    if (rc < 0) {
        static const char prefix[] = "unknown operation: ";
        size_t n = sizeof prefix - 1;
        uint8_t *m = malloc(n + op_len);
        if (m) {
            memcpy(m, prefix, n);
            memcpy(m + n, op, op_len);
            wapc_guest_error(m, n + op_len);
            free(m);
        }
        rc = 0;
    }
    free(op);
    free(msg);
    return rc;
}

#endif
