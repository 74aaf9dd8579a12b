/* waPC sample guest: a WASI file-system probe (reactor), for the sandbox rules.
 * Build: clang --target=wasm32-wasi -O2 -mexec-model=reactor -o c_fs_probe.wasm c_fs_probe.c
 *
 * Operation `probe`: the payload is one file-system step per line,
 *     OP PATH [PATH2]
 * (fields separated by one space), and the response one line per step:
 *     OP PATH [PATH2]: ok[ DETAIL]        or        OP PATH [PATH2]: <strerror(errno)>
 * Every step is tried, whatever the earlier ones gave; the call itself always
 * succeeds, so the response shows exactly what the host's WASI allowed.
 * Steps (all through wasi-libc, as a C program would do them):
 *   read P      open(O_RDONLY) + read: "ok <up to 64 bytes of the file>"
 *   write P     open(O_WRONLY|O_TRUNC) an existing file + write "probe"
 *   append P    open(O_WRONLY|O_APPEND) + write "probe"
 *   create P    open(O_WRONLY|O_CREAT|O_EXCL) + write "probe"
 *   mkdir P     mkdir(P, 0755)          rmdir P     rmdir(P)
 *   unlink P    unlink(P)               rename A B  rename(A, B)
 *   symlink T L symlink(T, L)           readlink P  "ok <target>"
 *   stat P      stat(P): "ok file N" | "ok dir" | "ok other"
 *   lstat P     lstat(P): as stat, "ok link" for a symbolic link
 *   list P      opendir + readdir: "ok a,b,c" (sorted, without . and ..)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "wapc_guest.h"

#define LINE_MAX_BYTES 512

struct out {
    char *buf;
    size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n) {
    if (!o->buf) return;
    while (o->len + n + 1 > o->cap) {
        o->cap = o->cap ? o->cap * 2 : 1024;
        char *nb = realloc(o->buf, o->cap);
        if (!nb) { free(o->buf); o->buf = NULL; return; }
        o->buf = nb;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

static int write_probe(int fd) {
    static const char text[] = "probe";
    ssize_t n = write(fd, text, sizeof text - 1);
    int err = n < 0 ? errno : 0;
    close(fd);
    if (err) { errno = err; return -1; }
    return 0;
}

static int open_and_write(const char *path, int flags) {
    int fd = open(path, flags, 0644);
    return fd < 0 ? -1 : write_probe(fd);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One step; returns 0 and fills `detail`, or -1 with errno set. */
static int step(const char *op, const char *a, const char *b, char *detail, size_t room) {
    detail[0] = 0;
    if (!strcmp(op, "read")) {
        int fd = open(a, O_RDONLY);
        if (fd < 0) return -1;
        char data[65];
        ssize_t n = read(fd, data, 64);
        int err = n < 0 ? errno : 0;
        close(fd);
        if (err) { errno = err; return -1; }
        data[n] = 0;
        for (ssize_t i = 0; i < n; i++)
            if (data[i] == '\n' || data[i] == '\r') data[i] = ' ';
        snprintf(detail, room, " %s", data);
        return 0;
    }
    if (!strcmp(op, "write")) return open_and_write(a, O_WRONLY | O_TRUNC);
    if (!strcmp(op, "append")) return open_and_write(a, O_WRONLY | O_APPEND);
    if (!strcmp(op, "create")) return open_and_write(a, O_WRONLY | O_CREAT | O_EXCL);
    if (!strcmp(op, "mkdir")) return mkdir(a, 0755);
    if (!strcmp(op, "rmdir")) return rmdir(a);
    if (!strcmp(op, "unlink")) return unlink(a);
    if (!strcmp(op, "rename")) return b ? rename(a, b) : (errno = EINVAL, -1);
    if (!strcmp(op, "symlink")) return b ? symlink(a, b) : (errno = EINVAL, -1);
    if (!strcmp(op, "readlink")) {
        char target[256];
        ssize_t n = readlink(a, target, sizeof target - 1);
        if (n < 0) return -1;
        target[n] = 0;
        snprintf(detail, room, " %s", target);
        return 0;
    }
    if (!strcmp(op, "stat") || !strcmp(op, "lstat")) {
        struct stat st;
        if ((op[0] == 'l' ? lstat(a, &st) : stat(a, &st)) != 0) return -1;
        if (S_ISLNK(st.st_mode)) snprintf(detail, room, " link");
        else if (S_ISREG(st.st_mode)) snprintf(detail, room, " file %lld", (long long)st.st_size);
        else if (S_ISDIR(st.st_mode)) snprintf(detail, room, " dir");
        else snprintf(detail, room, " other");
        return 0;
    }
    if (!strcmp(op, "list")) {
        DIR *d = opendir(a);
        if (!d) return -1;
        char *names[64];
        size_t count = 0;
        struct dirent *e;
        while (count < 64 && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            names[count++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, count, sizeof names[0], cmp_names);
        size_t used = 0;
        for (size_t i = 0; i < count; i++) {
            if (names[i] && used + strlen(names[i]) + 2 < room)
                used += snprintf(detail + used, room - used, "%s%s", i ? "," : " ", names[i]);
            free(names[i]);
        }
        return 0;
    }
    errno = ENOTSUP;
    return -1;
}

static int op_probe(const uint8_t *p, size_t n) {
    struct out o = {malloc(1024), 0, 1024};
    const char *text = (const char *)p, *end = text + n;
    while (text < end) {
        const char *nl = memchr(text, '\n', end - text);
        size_t len = nl ? (size_t)(nl - text) : (size_t)(end - text);
        if (len > 0 && len < LINE_MAX_BYTES) {
            char line[LINE_MAX_BYTES], detail[LINE_MAX_BYTES];
            memcpy(line, text, len);
            line[len] = 0;
            puts_(&o, line);
            char *op = line, *a = strchr(op, ' '), *b = NULL;
            if (a) { *a++ = 0; b = strchr(a, ' '); if (b) *b++ = 0; }
            if (!a) { errno = EINVAL; }
            int rc = a ? step(op, a, b, detail, sizeof detail) : -1;
            if (rc == 0) {
                puts_(&o, ": ok");
                puts_(&o, detail);
            } else {
                puts_(&o, ": ");
                puts_(&o, strerror(errno));
            }
            puts_(&o, "\n");
        }
        text += len + 1;
    }
    if (!o.buf) return wapc_fail("out of memory");
    wapc_respond(o.buf, o.len);
    free(o.buf);
    return 1;
}

static const struct wapc_op ops[] = {
    {"probe", op_probe},
};

WAPC_EXPORT("__guest_call") int guest_call(size_t op_len, size_t msg_len) {
    return wapc_dispatch(ops, sizeof ops / sizeof ops[0], op_len, msg_len);
}
