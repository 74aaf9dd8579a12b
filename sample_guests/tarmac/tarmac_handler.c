/* Tarmac's own test function, ported to C: the handler that Tarmac's
 * testdata/tarmac.wasm is built from (tarmac-project/tarmac, testdata/main.go,
 * commit fbf8233589e7eb608f64f69178d89704464af623; built there with TinyGo's
 * wasi target and wapc-guest-tinygo). Same operations, same host calls with
 * the same bytes, same JSON answers. See sample_guests/README.md.
 *
 * Build (scripts/build-guests c):
 *   clang --target=wasm32-wasi -O2 -Wl,--strip-debug -o tarmac_handler.wasm tarmac_handler.c
 * A WASI command, as TinyGo's wasi target makes: _start runs main(), which
 * registers the operations (wapc.RegisterFunctions in the Go source). */
#include <stdio.h>

#include "../c/wapc_guest.h"

/* -- growable byte buffer ------------------------------------------------ */
struct buf {
    uint8_t *data;
    size_t len, cap;
    int failed;
};

static void buf_put(struct buf *b, const void *p, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) { b->failed = 1; return; }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void buf_str(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* -- base64 (Go's StdEncoding: padding required, \r and \n skipped) ------- */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static void b64_encode(struct buf *out, const uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], B64[(v >> 6) & 63], B64[v & 63]};
        buf_put(out, q, 4);
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], i + 1 < n ? B64[(v >> 6) & 63] : '=', '='};
        buf_put(out, q, 4);
    }
}

/* Returns -1 on success, else the byte offset Go's CorruptInputError names. */
static long b64_decode(struct buf *out, const uint8_t *src, size_t n) {
    size_t si = 0;
    for (;;) {
        int q[4];
        size_t have = 0;
        while (have < 4) {
            if (si == n) {
                if (have == 0) return -1;
                return (long)(si - have);
            }
            uint8_t c = src[si++];
            int v = b64_value(c);
            if (v >= 0) { q[have++] = v; continue; }
            if (c == '\n' || c == '\r') continue;
            if (c != '=' || have < 2) return (long)(si - 1);
            if (have == 2) {
                while (si < n && (src[si] == '\n' || src[si] == '\r')) si++;
                if (si == n) return (long)n;
                if (src[si] != '=') return (long)(si - 1);
                si++;
            }
            while (si < n && (src[si] == '\n' || src[si] == '\r')) si++;
            uint32_t v32 = 0;
            for (size_t k = 0; k < have; k++) v32 |= (uint32_t)q[k] << (18 - 6 * k);
            uint8_t bytes[3] = {(uint8_t)(v32 >> 16), (uint8_t)(v32 >> 8), (uint8_t)v32};
            buf_put(out, bytes, have - 1);
            return si < n ? (long)si : -1;
        }
        uint32_t v = (uint32_t)q[0] << 18 | (uint32_t)q[1] << 12 | (uint32_t)q[2] << 6 | (uint32_t)q[3];
        uint8_t bytes[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        buf_put(out, bytes, 3);
    }
}

/* -- JSON: validate the whole document (fastjson.ParseBytes), find a key -- */
struct json {
    const uint8_t *p;
    size_t n, i;
    const char *error;
    /* the top-level "payload" string, if any (fastjson: the first such key) */
    size_t payload_at, payload_end;
    int has_payload;
};

#define MAX_DEPTH 300 /* fastjson's MaxDepth */

static void ws(struct json *j) {
    while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r')) j->i++;
}

static int parse_value(struct json *j, int depth, int top_level_key_is_payload);

static int parse_string(struct json *j, size_t *start, size_t *end) {
    j->i++; /* opening quote */
    *start = j->i;
    while (j->i < j->n) {
        uint8_t c = j->p[j->i];
        if (c == '"') { *end = j->i; j->i++; return 1; }
        if (c == '\\') {
            j->i += 2;
            continue;
        }
        j->i++;
    }
    j->error = "missing closing '\"'";
    return 0;
}

static int parse_number(struct json *j) {
    size_t start = j->i;
    if (j->i < j->n && (j->p[j->i] == '-' || j->p[j->i] == '+')) j->i++;
    while (j->i < j->n) {
        uint8_t c = j->p[j->i];
        if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+') j->i++;
        else break;
    }
    if (j->i == start || (j->i == start + 1 && (j->p[start] == '-' || j->p[start] == '+'))) {
        j->error = "unexpected value found";
        return 0;
    }
    return 1;
}

static int literal(struct json *j, const char *word) {
    size_t n = strlen(word);
    if (j->n - j->i >= n && memcmp(j->p + j->i, word, n) == 0) { j->i += n; return 1; }
    j->error = "unexpected value found";
    return 0;
}

static int parse_value(struct json *j, int depth, int is_payload) {
    if (depth > MAX_DEPTH) { j->error = "too big depth for the nested JSON"; return 0; }
    ws(j);
    if (j->i >= j->n) { j->error = "cannot parse empty string"; return 0; }
    uint8_t c = j->p[j->i];
    if (c == '{') {
        j->i++;
        ws(j);
        if (j->i < j->n && j->p[j->i] == '}') { j->i++; return 1; }
        for (;;) {
            ws(j);
            if (j->i >= j->n || j->p[j->i] != '"') { j->error = "cannot find opening '\"\" for object key"; return 0; }
            size_t ks, ke;
            if (!parse_string(j, &ks, &ke)) return 0;
            ws(j);
            if (j->i >= j->n || j->p[j->i] != ':') { j->error = "missing ':' after object key"; return 0; }
            j->i++;
            int key_is_payload = depth == 0 && ke - ks == 7 && memcmp(j->p + ks, "payload", 7) == 0;
            if (!parse_value(j, depth + 1, key_is_payload)) return 0;
            ws(j);
            if (j->i < j->n && j->p[j->i] == ',') { j->i++; continue; }
            if (j->i < j->n && j->p[j->i] == '}') { j->i++; return 1; }
            j->error = "missing ',' after object value";
            return 0;
        }
    }
    if (c == '[') {
        j->i++;
        ws(j);
        if (j->i < j->n && j->p[j->i] == ']') { j->i++; return 1; }
        for (;;) {
            if (!parse_value(j, depth + 1, 0)) return 0;
            ws(j);
            if (j->i < j->n && j->p[j->i] == ',') { j->i++; continue; }
            if (j->i < j->n && j->p[j->i] == ']') { j->i++; return 1; }
            j->error = "missing ',' after array value";
            return 0;
        }
    }
    if (c == '"') {
        size_t s, e;
        if (!parse_string(j, &s, &e)) return 0;
        if (is_payload && !j->has_payload) {
            j->has_payload = 1;
            j->payload_at = s;
            j->payload_end = e;
        }
        return 1;
    }
    if (c == 't') return literal(j, "true");
    if (c == 'f') return literal(j, "false");
    if (c == 'n') return literal(j, "null");
    return parse_number(j);
}

/* The string's bytes with JSON escapes resolved (fastjson's GetStringBytes). */
static void unescape(struct buf *out, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c != '\\' || i + 1 >= n) { buf_put(out, &c, 1); continue; }
        uint8_t e = p[++i];
        uint8_t ch = e;
        switch (e) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': {
                if (i + 4 >= n) { buf_put(out, "\\u", 2); continue; }
                unsigned cp = 0;
                int bad = 0;
                for (int k = 1; k <= 4; k++) {
                    uint8_t h = p[i + k];
                    cp <<= 4;
                    if (h >= '0' && h <= '9') cp |= h - '0';
                    else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
                    else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
                    else bad = 1;
                }
                if (bad) { buf_put(out, "\\u", 2); continue; }
                i += 4;
                uint8_t u[3];
                if (cp < 0x80) { u[0] = (uint8_t)cp; buf_put(out, u, 1); }
                else if (cp < 0x800) { u[0] = 0xC0 | (cp >> 6); u[1] = 0x80 | (cp & 63); buf_put(out, u, 2); }
                else { u[0] = 0xE0 | (cp >> 12); u[1] = 0x80 | ((cp >> 6) & 63); u[2] = 0x80 | (cp & 63); buf_put(out, u, 3); }
                continue;
            }
            default: break; /* \" \\ \/ */
        }
        buf_put(out, &ch, 1);
    }
}

/* -- the handlers ---------------------------------------------------------- */
static int respond_buf(struct buf *b) {
    if (b->failed) return wapc_fail("out of memory");
    wapc_respond(b->data, b->len);
    free(b->data);
    return 1;
}

static int status_500(const char *what, const uint8_t *detail, size_t n) {
    struct buf out = {0};
    buf_str(&out, "{\"status\":{\"code\":500,\"status\":\"");
    buf_str(&out, what);
    buf_put(&out, detail, n);
    buf_str(&out, "\"}}");
    return respond_buf(&out);
}

/* wapc.HostCall: nil error when __host_call returns 1, else the host's error text. */
static int host_call(const char *ns, const char *op, const void *payload, size_t n) {
    static const char binding[] = "tarmac";
    if (wapc_host_call((const uint8_t *)binding, sizeof binding - 1, (const uint8_t *)ns, strlen(ns),
                       (const uint8_t *)op, strlen(op), (const uint8_t *)payload, n))
        return 1;
    size_t len = wapc_host_error_len();
    uint8_t *text = malloc(len + 1);
    if (!text) {
        status_500("Failed to call host callback - ", (const uint8_t *)"out of memory", 13);
        return 0;
    }
    wapc_host_error(text);
    status_500("Failed to call host callback - ", text, len);
    free(text);
    return 0;
}

static const char KV_SET[] = "{\"key\":\"test-data\",\"data\":\"aSBhbSBhIGxpdHRsZSB0ZWFwb3Q=\"}";
static const char KV_GET[] = "{\"key\":\"test-data\"}";
/* base64 of: CREATE TABLE IF NOT EXISTS wasmguest ( id int NOT NULL, name varchar(255), PRIMARY KEY (id) ); */
static const char SQL_QUERY[] =
    "{\"query\":\"Q1JFQVRFIFRBQkxFIElGIE5PVCBFWElTVFMgd2FzbWd1ZXN0ICggaWQgaW50IE5PVCBOVUxMLCBuYW1lIHZh"
    "cmNoYXIoMjU1KSwgUFJJTUFSWSBLRVkgKGlkKSApOw==\"}";

static int handler(const uint8_t *payload, size_t len) {
    struct json j = {payload, len, 0, 0, 0, 0, 0};
    int ok = parse_value(&j, 0, 0);
    if (ok) {
        ws(&j);
        if (j.i < j.n) { j.error = "unexpected tail"; ok = 0; }
    }
    if (!ok) {
        struct buf msg = {0};
        buf_str(&msg, "cannot parse JSON: ");
        buf_str(&msg, j.error ? j.error : "invalid JSON");
        int rc = status_500("Failed to call parse json - ", msg.data, msg.len);
        free(msg.data);
        return rc;
    }
    struct buf encoded = {0}, decoded = {0};
    if (j.has_payload) unescape(&encoded, payload + j.payload_at, j.payload_end - j.payload_at);
    long bad = b64_decode(&decoded, encoded.data ? encoded.data : (const uint8_t *)"", encoded.len);
    free(encoded.data);
    if (bad >= 0) {
        char text[64];
        int n = snprintf(text, sizeof text, "illegal base64 data at input byte %ld", bad);
        free(decoded.data);
        return status_500("Failed to perform base64 decode - ", (const uint8_t *)text, (size_t)n);
    }
    int fine = host_call("logger", "debug", payload, len)
               && host_call("kvstore", "set", KV_SET, sizeof KV_SET - 1)
               && host_call("kvstore", "get", KV_GET, sizeof KV_GET - 1)
               && host_call("sql", "query", SQL_QUERY, sizeof SQL_QUERY - 1);
    if (!fine) {
        free(decoded.data);
        return 1; /* host_call already set the 500 response */
    }
    struct buf out = {0};
    buf_str(&out, "{\"payload\":\"");
    b64_encode(&out, decoded.data ? decoded.data : (const uint8_t *)"", decoded.len);
    buf_str(&out, "\",\"status\":{\"code\":200,\"status\":\"Success\"}}");
    free(decoded.data);
    return respond_buf(&out);
}

static int no_handler(const uint8_t *payload, size_t len) {
    (void)payload; (void)len;
    return wapc_respond_str("{\"status\":{\"code\":503,\"status\":\"Not Implemented\"}}");
}

static const struct wapc_op *registered = NULL;
static size_t registered_count = 0;

static const struct wapc_op ops[] = {
    {"http:GET", no_handler},
    {"http:POST", handler},
    {"http:PUT", handler},
    {"http:DELETE", no_handler},
    {"scheduler:RUN", handler},
};

WAPC_EXPORT("__guest_call") int guest_call(size_t op_len, size_t msg_len) {
    if (!registered) return wapc_fail("no functions registered (main never ran)");
    return wapc_dispatch(registered, registered_count, op_len, msg_len);
}

int main(void) {
    registered = ops; /* wapc.RegisterFunctions */
    registered_count = sizeof ops / sizeof ops[0];
    return 0;
}
