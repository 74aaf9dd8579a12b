/* wapc_cli.runtime.native_exchange: the waPC imports' common case in C.
 *
 * Why: on wasmtime's C-API path each import the guest calls costs ~0.33 us of
 * crossing (libffi, ctypes' argument conversion, the GIL taken back) before any
 * protocol work, and an exchange with one host call makes five of them. Here the
 * imports are C functions with wasmtime's "unchecked" host-function signature,
 * defined on the linker directly (engines/wasmtime_fast.py, NativeHostFn).
 *
 * What is here and what is not. ExchangeState is the base class of
 * runtime/session.py's WapcSession and holds the exchange's state as C members
 * (operation, payload, response, error, host_body, host_fault, host_calls, ...),
 * so Python code reads and writes the same fields it always did. Each import
 * here does only its common case -- every span inside memory, plain bytes where
 * bytes are expected -- and anything else (a span out of bounds, no memory, a
 * missing host answer, __guest_error, __console_log, a handler that does not
 * answer with plain bytes, a deadline) calls the session's Python method of the
 * same name with the same arguments, so every fault, warning and message is the
 * Python core's own. tests/test_native_exchange.py runs the ABI scenarios on
 * both and compares the outcomes.
 *
 * The GIL. wasmtime_calls.c releases it across the guest's run, so the
 * imports that only copy bytes (__guest_request, __host_response,
 * __host_error and the two _len imports) run without it: they read the
 * buffers of bytes objects this state holds references to, which nothing else
 * changes while the guest runs. The imports that make Python objects take it
 * (PyGILState_Ensure also works when a caller kept it).
 *
 * Exceptions never cross into wasmtime: a Python exception raised on the way
 * (a fault, HostAbort, a KeyboardInterrupt from a signal handler) is handed to
 * the engine's keep() callback (the store's StoreGuard.keep) and the import
 * returns a trap; the engine re-raises the exception once the call is back in
 * Python, as the ctypes trampolines do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

typedef union {
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    unsigned char bytes[16];
} val_raw;

typedef void *(*trap_new_fn)(const char *, size_t);
typedef uint8_t *(*memory_data_fn)(const void *, const void *);
typedef size_t (*memory_size_fn)(const void *, const void *);

#define NAME_CACHE_MAX 64 /* names longer than this are decoded every time */

typedef struct {
    Py_ssize_t length; /* -1: empty */
    char raw[NAME_CACHE_MAX];
    PyObject *text;
} NameSlot;

typedef struct {
    PyObject_HEAD
    /* the exchange, as Python sees it */
    PyObject *operation, *payload, *response, *error, *host_body, *host_fault;
    PyObject *warnings, *fault, *deadline, *handler;
    Py_ssize_t host_calls;
    /* the engine's side */
    PyObject *keep;         /* StoreGuard.keep of the instance being built or run */
    trap_new_fn trap_new;   /* wasmtime_trap_new */
    memory_data_fn memory_data;
    memory_size_fn memory_size;
    void *context;          /* wasmtime_context_t* of the store */
    const void *memory;     /* wasmtime_memory_t* inside memory_owner; NULL: none */
    PyObject *memory_owner; /* keeps that struct and its store alive */
    uint8_t *base;
    uint64_t size;
    NameSlot names[3]; /* the last binding, namespace and operation seen */
} ExchangeState;

static PyObject *request_type; /* runtime.hostcalls.HostCallRequest */
static PyObject *m_guest_request, *m_guest_response, *m_guest_error, *m_host_call;
static PyObject *m_host_response_len, *m_host_response, *m_host_error_len, *m_host_error;
static PyObject *m_console_log, *m_settle_reply, *m_failed_reply, *m_reply_in_time;

static const char TRAP_MESSAGE[] = "host function raised";

/* -- memory ----------------------------------------------------------------- */

/* Whether [.., end) lies inside linear memory; asks wasmtime again only when
 * the cached size falls short (memory only grows, and never moves: the engine
 * is configured with memory_may_move = false). */
static inline int
covers(ExchangeState *s, uint64_t end)
{
    if (s->memory == NULL)
        return 0;
    if (end <= s->size)
        return 1;
    s->size = s->memory_size(s->context, s->memory);
    s->base = s->memory_data(s->context, s->memory);
    return end <= s->size;
}

/* A field holding exact bytes (a field Python deleted is NULL: not bytes). */
static inline int
is_bytes(PyObject *field)
{
    return field != NULL && PyBytes_CheckExact(field);
}

/* -- exceptions --------------------------------------------------------------- */

/* With the GIL and an exception set: hand it to keep() and return a trap. */
static void *
keep_and_trap(ExchangeState *s)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL)
        PyException_SetTraceback(value, traceback);
    /* Our own reference while it runs: a member may be replaced meanwhile. */
    PyObject *keep = Py_XNewRef(s->keep);
    if (keep != NULL && keep != Py_None && value != NULL) {
        PyObject *kept = PyObject_CallOneArg(keep, value);
        if (kept == NULL)
            PyErr_WriteUnraisable(keep);
        Py_XDECREF(kept);
        Py_DECREF(keep);
    }
    else {
        Py_XDECREF(keep);
        PyErr_Restore(type, value, traceback);
        PyErr_WriteUnraisable((PyObject *)s);
        type = value = traceback = NULL;
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return s->trap_new(TRAP_MESSAGE, sizeof TRAP_MESSAGE - 1);
}

/* The result of a Python import with an i32 result, written as the unsigned
 * ctypes view of the trampolines would take it (low 32 bits of an int). */
static int
store_result(PyObject *result, val_raw *slot)
{
    if (!PyLong_Check(result)) {
        PyErr_Format(PyExc_TypeError, "an import returned %.100s, expected int",
                     Py_TYPE(result)->tp_name);
        return -1;
    }
    unsigned long value = PyLong_AsUnsignedLongMask(result);
    if (value == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    slot->u32 = (uint32_t)value;
    return 0;
}

/* The session's Python method `name` with the raw arguments (as unsigned ints);
 * its int result into args[0] when `has_result`. Takes the GIL. */
static void *
python_import(ExchangeState *s, PyObject *name, val_raw *args, size_t nargs, int has_result)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *argv[9];
    void *trap = NULL;
    size_t i, made = 0;
    argv[0] = (PyObject *)s;
    for (i = 0; i < nargs && i < 8; i++, made++) {
        argv[i + 1] = PyLong_FromUnsignedLong(args[i].u32);
        if (argv[i + 1] == NULL)
            break;
    }
    PyObject *result = NULL;
    if (made == nargs)
        result = PyObject_VectorcallMethod(name, argv, (nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                           NULL);
    for (i = 0; i < made; i++)
        Py_DECREF(argv[i + 1]);
    if (result != NULL && has_result && store_result(result, &args[0]) < 0)
        Py_CLEAR(result);
    if (result == NULL)
        trap = keep_and_trap(s);
    Py_XDECREF(result);
    PyGILState_Release(gil);
    return trap;
}

/* -- the imports ---------------------------------------------------------------- */

/* An import defined with another signature than the waPC one (the guest check
 * refuses such modules before anything is instantiated; this keeps a mistake
 * from reading or writing past wasmtime's argument array). */
static void *
wrong_shape(ExchangeState *s)
{
    static const char message[] = "a waPC import was defined with the wrong signature";
    return s->trap_new(message, sizeof message - 1);
}

/* __guest_request(op_ptr, ptr) */
static void *
guest_request(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 2)
        return wrong_shape(env);
    ExchangeState *s = env;
    PyObject *operation = s->operation, *payload = s->payload;
    uint32_t op_ptr = args[0].u32, ptr = args[1].u32;
    if (is_bytes(operation) && is_bytes(payload)) {
        Py_ssize_t op_len = PyBytes_GET_SIZE(operation), length = PyBytes_GET_SIZE(payload);
        if (covers(s, (uint64_t)op_ptr + op_len) && covers(s, (uint64_t)ptr + length)) {
            memcpy(s->base + op_ptr, PyBytes_AS_STRING(operation), op_len);
            if (length)
                memcpy(s->base + ptr, PyBytes_AS_STRING(payload), length);
            return NULL;
        }
    }
    return python_import(s, m_guest_request, args, 2, 0);
}

/* __guest_response(ptr, len) */
static void *
guest_response(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 2)
        return wrong_shape(env);
    ExchangeState *s = env;
    uint32_t ptr = args[0].u32, length = args[1].u32;
    if (!covers(s, (uint64_t)ptr + length))
        return python_import(s, m_guest_response, args, 2, 0);
    PyGILState_STATE gil = PyGILState_Ensure();
    void *trap = NULL;
    PyObject *response = PyBytes_FromStringAndSize((const char *)s->base + ptr, length);
    if (response == NULL)
        trap = keep_and_trap(s);
    else
        Py_XSETREF(s->response, response);
    PyGILState_Release(gil);
    return trap;
}

/* __guest_error(ptr, len): not hot. */
static void *
guest_error(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 2)
        return wrong_shape(env);
    return python_import(env, m_guest_error, args, 2, 0);
}

/* __console_log(ptr, len): not hot (and it reaches the session's log sink). */
static void *
console_log(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 2)
        return wrong_shape(env);
    return python_import(env, m_console_log, args, 2, 0);
}

/* A host-call name as str: UTF-8 with replacement, as session.py decodes it,
 * remembered per slot so that a guest calling the same name again gets the same
 * object (whose hash is then cached too). New reference. */
static PyObject *
host_name(NameSlot *slot, const char *raw, Py_ssize_t length)
{
    if (length == slot->length && slot->text != NULL && memcmp(slot->raw, raw, length) == 0)
        return Py_NewRef(slot->text);
    PyObject *text = PyUnicode_DecodeUTF8(raw, length, "replace");
    if (text != NULL && length <= NAME_CACHE_MAX) {
        memcpy(slot->raw, raw, length);
        slot->length = length;
        Py_XSETREF(slot->text, Py_NewRef(text));
    }
    return text;
}

/* __host_call(bind_ptr, bind_len, ns_ptr, ns_len, op_ptr, op_len, ptr, len) -> 1 | 0
 * session.py's host_call, written out: the same steps in the same order. */
static void *
host_call(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 8)
        return wrong_shape(env);
    ExchangeState *s = env;
    uint32_t v[8];
    for (int i = 0; i < 8; i++)
        v[i] = args[i].u32;
    if (request_type == NULL || s->handler == NULL
        || !(covers(s, (uint64_t)v[0] + v[1]) && covers(s, (uint64_t)v[2] + v[3])
          && covers(s, (uint64_t)v[4] + v[5]) && covers(s, (uint64_t)v[6] + v[7])))
        return python_import(s, m_host_call, args, 8, 1);

    PyGILState_STATE gil = PyGILState_Ensure();
    void *trap = NULL;
    PyObject *parts[4] = {NULL, NULL, NULL, NULL};
    PyObject *request = NULL, *reply = NULL, *handler = NULL;
    const char *base = (const char *)s->base;
    for (int i = 0; i < 3; i++) {
        parts[i] = host_name(&s->names[i], base + v[2 * i], v[2 * i + 1]);
        if (parts[i] == NULL)
            goto failed;
    }
    parts[3] = PyBytes_FromStringAndSize(base + v[6], v[7]);
    if (parts[3] == NULL)
        goto failed;
    /* Each host call replaces the previous answer, success or failure. */
    s->host_calls += 1;
    request = PyObject_Vectorcall(request_type, parts, 4, NULL);
    if (request == NULL)
        goto failed;
    if (s->deadline != NULL && s->deadline != Py_None) { /* NULL: deleted, reads as None */
        reply = PyObject_CallMethodOneArg((PyObject *)s, m_reply_in_time, request);
    }
    else {
        /* Our own reference while it runs (as a Python frame has): a handler may replace
         * session.handler, dropping the last other one. A deleted one reads as None. */
        handler = Py_NewRef(s->handler != NULL ? s->handler : Py_None);
        reply = PyObject_CallOneArg(handler, request);
        if (reply == NULL && PyErr_ExceptionMatches(PyExc_Exception)) {
            PyObject *type, *value, *traceback;
            PyErr_Fetch(&type, &value, &traceback);
            PyErr_NormalizeException(&type, &value, &traceback);
            if (traceback != NULL)
                PyException_SetTraceback(value, traceback);
            reply = PyObject_CallMethodOneArg((PyObject *)s, m_failed_reply, value);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(traceback);
        }
    }
    if (reply == NULL)
        goto failed;
    if (PyBytes_CheckExact(reply)) { /* the usual answer, stored as host_call stores it */
        Py_XSETREF(s->host_body, reply);
        reply = NULL;
        Py_XSETREF(s->host_fault, Py_NewRef(Py_None));
        args[0].u32 = 1;
    }
    else {
        PyObject *code = PyObject_CallMethodOneArg((PyObject *)s, m_settle_reply, reply);
        if (code == NULL)
            goto failed;
        int bad = store_result(code, &args[0]);
        Py_DECREF(code);
        if (bad < 0)
            goto failed;
    }
    goto done;
failed:
    trap = keep_and_trap(s);
done:
    for (int i = 0; i < 4; i++)
        Py_XDECREF(parts[i]);
    Py_XDECREF(request);
    Py_XDECREF(reply);
    Py_XDECREF(handler);
    PyGILState_Release(gil);
    return trap;
}

/* __host_response_len() -> len(host_body), 0 without one */
static void *
host_response_len(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 1)
        return wrong_shape(env);
    ExchangeState *s = env;
    PyObject *body = s->host_body;
    if (body == Py_None) {
        args[0].u32 = 0;
        return NULL;
    }
    if (is_bytes(body)) {
        args[0].u32 = (uint32_t)PyBytes_GET_SIZE(body);
        return NULL;
    }
    return python_import(s, m_host_response_len, args, 0, 1);
}

/* __host_response(ptr) */
static void *
host_response(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 1)
        return wrong_shape(env);
    ExchangeState *s = env;
    PyObject *body = s->host_body;
    uint32_t ptr = args[0].u32;
    if (is_bytes(body) && covers(s, (uint64_t)ptr + PyBytes_GET_SIZE(body))) {
        memcpy(s->base + ptr, PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body));
        return NULL;
    }
    return python_import(s, m_host_response, args, 1, 0);
}

/* __host_error_len() -> len(host_fault), 0 without one (UTF-8 bytes) */
static void *
host_error_len(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 1)
        return wrong_shape(env);
    ExchangeState *s = env;
    PyObject *fault = s->host_fault;
    if (fault == Py_None) {
        args[0].u32 = 0;
        return NULL;
    }
    if (is_bytes(fault)) {
        args[0].u32 = (uint32_t)PyBytes_GET_SIZE(fault);
        return NULL;
    }
    return python_import(s, m_host_error_len, args, 0, 1);
}

/* __host_error(ptr) */
static void *
host_error(void *env, void *caller, val_raw *args, size_t nargs)
{
    if (nargs != 1)
        return wrong_shape(env);
    ExchangeState *s = env;
    PyObject *fault = s->host_fault;
    uint32_t ptr = args[0].u32;
    if (is_bytes(fault) && covers(s, (uint64_t)ptr + PyBytes_GET_SIZE(fault))) {
        memcpy(s->base + ptr, PyBytes_AS_STRING(fault), PyBytes_GET_SIZE(fault));
        return NULL;
    }
    return python_import(s, m_host_error, args, 1, 0);
}

/* -- the type ------------------------------------------------------------------- */

static PyObject *
ExchangeState_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    ExchangeState *s = (ExchangeState *)type->tp_alloc(type, 0);
    if (s == NULL)
        return NULL;
    PyObject **fields[] = {&s->operation, &s->payload, &s->response, &s->error, &s->host_body,
                           &s->host_fault, &s->fault, &s->deadline, &s->handler};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        *fields[i] = Py_NewRef(Py_None);
    s->warnings = PyTuple_New(0);
    for (int i = 0; i < 3; i++)
        s->names[i].length = -1;
    if (s->warnings == NULL) {
        Py_DECREF(s);
        return NULL;
    }
    return (PyObject *)s;
}

static int
ExchangeState_traverse(ExchangeState *s, visitproc visit, void *arg)
{
    Py_VISIT(s->operation);
    Py_VISIT(s->payload);
    Py_VISIT(s->response);
    Py_VISIT(s->error);
    Py_VISIT(s->host_body);
    Py_VISIT(s->host_fault);
    Py_VISIT(s->warnings);
    Py_VISIT(s->fault);
    Py_VISIT(s->deadline);
    Py_VISIT(s->handler);
    Py_VISIT(s->keep);
    Py_VISIT(s->memory_owner);
    for (int i = 0; i < 3; i++)
        Py_VISIT(s->names[i].text);
    /* A Python subclass's instances refer to their (heap) type: subtype_traverse
     * visits it before calling this, as subtype_dealloc drops it after. */
    return 0;
}

static int
ExchangeState_clear(ExchangeState *s)
{
    Py_CLEAR(s->operation);
    Py_CLEAR(s->payload);
    Py_CLEAR(s->response);
    Py_CLEAR(s->error);
    Py_CLEAR(s->host_body);
    Py_CLEAR(s->host_fault);
    Py_CLEAR(s->warnings);
    Py_CLEAR(s->fault);
    Py_CLEAR(s->deadline);
    Py_CLEAR(s->handler);
    Py_CLEAR(s->keep);
    s->memory = NULL;
    Py_CLEAR(s->memory_owner);
    for (int i = 0; i < 3; i++) {
        Py_CLEAR(s->names[i].text);
        s->names[i].length = -1;
    }
    return 0;
}

static void
ExchangeState_dealloc(ExchangeState *s)
{
    PyObject_GC_UnTrack(s);
    ExchangeState_clear(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static void *
address(PyObject *value)
{
    return PyLong_AsVoidPtr(value);
}

/* native_prepare(trap_new, keep): before an instance using these imports is made. */
static PyObject *
ExchangeState_native_prepare(ExchangeState *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "native_prepare(trap_new, keep)");
        return NULL;
    }
    void *trap_new = address(args[0]);
    if (trap_new == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "native_prepare: trap_new is a null address");
        return NULL;
    }
    s->trap_new = (trap_new_fn)trap_new;
    Py_XSETREF(s->keep, Py_NewRef(args[1]));
    Py_RETURN_NONE;
}

/* native_memory(handle): handle is None (no memory), or (memory_data, memory_size,
 * context, memory, owner): addresses of the two wasmtime functions, the store
 * context and the wasmtime_memory_t, and the object that keeps them valid. */
static PyObject *
ExchangeState_native_memory(ExchangeState *s, PyObject *handle)
{
    s->memory = NULL;
    s->base = NULL;
    s->size = 0;
    if (handle == Py_None) {
        Py_CLEAR(s->memory_owner);
        Py_RETURN_NONE;
    }
    void *data, *size, *context, *memory;
    PyObject *data_o, *size_o, *context_o, *memory_o, *owner;
    if (!PyArg_ParseTuple(handle, "OOOOO;native_memory((data, size, context, memory, owner))",
                          &data_o, &size_o, &context_o, &memory_o, &owner))
        return NULL;
    if ((data = address(data_o)) == NULL || (size = address(size_o)) == NULL
        || (context = address(context_o)) == NULL || (memory = address(memory_o)) == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "native_memory: a null address");
        return NULL;
    }
    s->memory_data = (memory_data_fn)data;
    s->memory_size = (memory_size_fn)size;
    s->context = context;
    Py_XSETREF(s->memory_owner, Py_NewRef(owner));
    s->memory = memory;
    s->size = s->memory_size(s->context, s->memory); /* so that base is never NULL in use */
    s->base = s->memory_data(s->context, s->memory);
    Py_RETURN_NONE;
}

static PyMethodDef ExchangeState_methods[] = {
    {"native_prepare", (PyCFunction)(void (*)(void))ExchangeState_native_prepare, METH_FASTCALL,
     "native_prepare(trap_new, keep): the engine's trap constructor and exception keeper."},
    {"native_memory", (PyCFunction)ExchangeState_native_memory, METH_O,
     "native_memory(handle | None): the linear memory the native imports use."},
    {NULL, NULL, 0, NULL},
};

#define MEMBER(name) {#name, T_OBJECT, offsetof(ExchangeState, name), 0, NULL}
static PyMemberDef ExchangeState_members[] = {
    MEMBER(operation), MEMBER(payload), MEMBER(response), MEMBER(error), MEMBER(host_body),
    MEMBER(host_fault), MEMBER(warnings), MEMBER(fault), MEMBER(deadline), MEMBER(handler),
    {"host_calls", T_PYSSIZET, offsetof(ExchangeState, host_calls), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject ExchangeStateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wapc_cli.runtime.native_exchange.ExchangeState",
    .tp_basicsize = sizeof(ExchangeState),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The waPC exchange's state, read and written by the native imports.",
    .tp_new = ExchangeState_new,
    .tp_traverse = (traverseproc)ExchangeState_traverse,
    .tp_clear = (inquiry)ExchangeState_clear,
    .tp_dealloc = (destructor)ExchangeState_dealloc,
    .tp_methods = ExchangeState_methods,
    .tp_members = ExchangeState_members,
};

/* callbacks() -> {name: address} of the wapc imports implemented here. */
static PyObject *
callbacks(PyObject *module, PyObject *unused)
{
    struct {
        const char *name;
        void *function;
    } table[] = {
        {"__guest_request", (void *)guest_request},
        {"__guest_response", (void *)guest_response},
        {"__guest_error", (void *)guest_error},
        {"__host_call", (void *)host_call},
        {"__host_response_len", (void *)host_response_len},
        {"__host_response", (void *)host_response},
        {"__host_error_len", (void *)host_error_len},
        {"__host_error", (void *)host_error},
        {"__console_log", (void *)console_log},
    };
    PyObject *result = PyDict_New();
    if (result == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        PyObject *where = PyLong_FromVoidPtr(table[i].function);
        if (where == NULL || PyDict_SetItemString(result, table[i].name, where) < 0) {
            Py_XDECREF(where);
            Py_DECREF(result);
            return NULL;
        }
        Py_DECREF(where);
    }
    return result;
}

/* set_request_type(HostCallRequest): what a host call hands the handler. */
static PyObject *
set_request_type(PyObject *module, PyObject *type)
{
    if (!PyCallable_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "set_request_type expects a class");
        return NULL;
    }
    Py_XSETREF(request_type, Py_NewRef(type));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"callbacks", callbacks, METH_NOARGS, "callbacks() -> {import name: C function address}"},
    {"set_request_type", set_request_type, METH_O, "set_request_type(HostCallRequest)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wapc_cli.runtime.native_exchange",
    .m_doc = "The waPC imports' common case in C (see runtime/session.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

static int
intern(PyObject **slot, const char *name)
{
    *slot = PyUnicode_InternFromString(name);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit_native_exchange(void)
{
    if (intern(&m_guest_request, "guest_request") < 0 || intern(&m_guest_response, "guest_response") < 0
        || intern(&m_guest_error, "guest_error") < 0 || intern(&m_host_call, "host_call") < 0
        || intern(&m_host_response_len, "host_response_len") < 0
        || intern(&m_host_response, "host_response") < 0
        || intern(&m_host_error_len, "host_error_len") < 0 || intern(&m_host_error, "host_error") < 0
        || intern(&m_console_log, "console_log") < 0 || intern(&m_settle_reply, "settle_reply") < 0
        || intern(&m_failed_reply, "failed_reply") < 0
        || intern(&m_reply_in_time, "reply_in_time") < 0)
        return NULL;
    if (PyType_Ready(&ExchangeStateType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "ExchangeState", (PyObject *)&ExchangeStateType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
