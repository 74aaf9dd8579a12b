/* waPC sample guest: a WASI sandbox probe (reactor).
 * Build: clang --target=wasm32-wasi -O2 -mexec-model=reactor -o c_sandbox.wasm c_sandbox.c
 * Shows what the host's WASI configuration lets a guest see: files
 * (preopened directories), environment variables and argv. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <wasi/api.h>
#include "wapc_guest.h"

/* read_file: payload = path. Returns the file's bytes, or a guest error
 * "<path>: <strerror(errno)>". */
static int op_read_file(const uint8_t *p, size_t n) {
    (void)n;
    const char *path = (const char *)p;
    FILE *f = fopen(path, "rb");
    if (!f) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
        return wapc_fail(msg);
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) { fclose(f); return wapc_fail("out of memory"); }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
        if (len == cap) {
            cap *= 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err) {
        free(buf);
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(err));
        return wapc_fail(msg);
    }
    wapc_respond(buf, len);
    free(buf);
    return 1;
}

/* getenv: payload = variable name. Returns its value, or guest error "unset". */
static int op_getenv(const uint8_t *p, size_t n) {
    (void)n;
    const char *v = getenv((const char *)p);
    if (!v) return wapc_fail("unset");
    return wapc_respond_str(v);
}

/* args: the WASI argv (args_sizes_get/args_get), joined by "\n". */
static int op_args(const uint8_t *p, size_t n) {
    (void)p; (void)n;
    __wasi_size_t argc = 0, size = 0;
    if (__wasi_args_sizes_get(&argc, &size) != 0) return wapc_fail("args_sizes_get failed");
    char **argv = malloc((argc + 1) * sizeof(char *));
    char *buf = malloc(size + 1);
    if (!argv || !buf) { free(argv); free(buf); return wapc_fail("out of memory"); }
    if (__wasi_args_get((uint8_t **)argv, (uint8_t *)buf) != 0) {
        free(argv); free(buf);
        return wapc_fail("args_get failed");
    }
    size_t total = 0;
    for (size_t i = 0; i < argc; i++) total += strlen(argv[i]) + 1;
    char *out = malloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < argc; i++) {
        size_t l = strlen(argv[i]);
        memcpy(out + o, argv[i], l);
        o += l;
        if (i + 1 < argc) out[o++] = '\n';
    }
    if (out) wapc_respond(out, o);
    free(out); free(argv); free(buf);
    return out ? 1 : wapc_fail("out of memory");
}

/* list_dir: payload = path. Entry names (without "." and ".."), in the order
 * readdir gives them, joined by "\n"; or guest error "<path>: <strerror>". */
static int op_list_dir(const uint8_t *p, size_t n) {
    (void)n;
    const char *path = (const char *)p;
    DIR *d = opendir(path);
    if (!d) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
        return wapc_fail(msg);
    }
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    struct dirent *e;
    while (out && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t l = strlen(e->d_name);
        while (len + l + 2 > cap) {
            cap *= 2;
            char *no = realloc(out, cap);
            if (!no) free(out);
            out = no;
            if (!out) break;
        }
        if (!out) break;
        if (len) out[len++] = '\n';
        memcpy(out + len, e->d_name, l);
        len += l;
    }
    closedir(d);
    if (!out) return wapc_fail("out of memory");
    wapc_respond(out, len);
    free(out);
    return 1;
}

static const struct wapc_op ops[] = {
    {"read_file", op_read_file},
    {"getenv", op_getenv},
    {"args", op_args},
    {"list_dir", op_list_dir},
};

WAPC_EXPORT("__guest_call") int guest_call(size_t op_len, size_t msg_len) {
    return wapc_dispatch(ops, sizeof ops / sizeof ops[0], op_len, msg_len);
}
