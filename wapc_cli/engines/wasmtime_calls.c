/* wapc_cli.engines.wasmtime_calls: one wasmtime `__guest_call` crossing without ctypes.
 *
 * Why: through ctypes a call to wasmtime_func_call_unchecked costs ~0.45 us
 * (libffi, argument objects, the GIL handed over and back), a quarter of a
 * small exchange. Here it is one METH_FASTCALL method: the two lengths go into a
 * val_raw array kept in the object, the GIL is released across the guest's run
 * (the epoch ticker thread and Engine.interrupt() must be able to run while the
 * guest computes), and the i32 result comes back as an int.
 *
 * It binds nothing itself: the address of wasmtime_func_call_unchecked comes
 * from the library wasmtime-py loaded (engines/wasmtime_fast.py), as do the
 * store context and the wasmtime_func_t, whose owner (the wasmtime.Func) this
 * object keeps alive. A failed call raises CallFailed(error_address,
 * trap_address) -- exactly one of them non-zero -- and the caller turns that
 * into wasmtime's own exception objects, which then own (and free) the pointer.
 *
 * Optional: when this extension is not built, wasmtime_fast.py makes the same
 * call through ctypes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* wasmtime_val_raw_t: a 16-byte union; an i32 sits at offset 0 (checked by the
 * Python side against wasmtime-py's own ctypes definition before use). */
typedef union {
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    unsigned char bytes[16];
} val_raw;

/* wasmtime_error_t *wasmtime_func_call_unchecked(wasmtime_context_t *, const wasmtime_func_t *,
 *     wasmtime_val_raw_t *args_and_results, size_t args_and_results_len, wasm_trap_t **trap) */
typedef void *(*call_unchecked_fn)(void *, const void *, val_raw *, size_t, void **);

static PyObject *CallFailed;

typedef struct {
    PyObject_HEAD
    call_unchecked_fn call;
    void *context;
    const void *func;
    PyObject *owner; /* keeps the wasmtime_func_t (and its store) alive */
    val_raw slots[2];
} GuestCall;

static int
address_of(PyObject *value, void **out, const char *what)
{
    void *address = PyLong_AsVoidPtr(value);
    if (address == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "GuestCall: %s is a null address", what);
        return -1;
    }
    *out = address;
    return 0;
}

static int
GuestCall_init(GuestCall *self, PyObject *args, PyObject *kwargs)
{
    PyObject *call, *context, *func, *owner;
    static char *names[] = {"call", "context", "func", "owner", NULL};
    void *address;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO", names, &call, &context, &func, &owner))
        return -1;
    if (address_of(call, &address, "call") < 0)
        return -1;
    self->call = (call_unchecked_fn)address;
    if (address_of(context, &self->context, "context") < 0)
        return -1;
    if (address_of(func, &address, "func") < 0)
        return -1;
    self->func = address;
    Py_XSETREF(self->owner, Py_NewRef(owner));
    return 0;
}

static int
length_arg(PyObject *value, uint32_t *out)
{
    unsigned long long length = PyLong_AsUnsignedLongLong(value);
    if (length == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (length > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a __guest_call length must fit in 32 bits");
        return -1;
    }
    *out = (uint32_t)length;
    return 0;
}

/* invoke(op_len, msg_len) -> the i32 __guest_call returned. */
static PyObject *
GuestCall_invoke(GuestCall *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint32_t op_len, msg_len;
    void *error, *trap = NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "invoke(op_len, msg_len) takes two arguments");
        return NULL;
    }
    if (self->call == NULL || self->context == NULL || self->func == NULL || self->owner == NULL) {
        PyErr_SetString(PyExc_ValueError, "GuestCall.invoke: the object was never initialised");
        return NULL;
    }
    if (length_arg(args[0], &op_len) < 0 || length_arg(args[1], &msg_len) < 0)
        return NULL;
    memset(self->slots, 0, sizeof self->slots);
    self->slots[0].u32 = op_len;
    self->slots[1].u32 = msg_len;
    Py_BEGIN_ALLOW_THREADS
    error = self->call(self->context, self->func, self->slots, 2, &trap);
    Py_END_ALLOW_THREADS
    if (error != NULL || trap != NULL) {
        PyObject *failure = Py_BuildValue("(KK)", (unsigned long long)(uintptr_t)error,
                                          (unsigned long long)(uintptr_t)trap);
        if (failure != NULL) {
            PyErr_SetObject(CallFailed, failure);
            Py_DECREF(failure);
        }
        return NULL;
    }
    return PyLong_FromLong(self->slots[0].i32);
}

static int
GuestCall_traverse(GuestCall *self, visitproc visit, void *arg)
{
    Py_VISIT(self->owner);
    return 0;
}

static int
GuestCall_clear(GuestCall *self)
{
    Py_CLEAR(self->owner);
    return 0;
}

static void
GuestCall_dealloc(GuestCall *self)
{
    PyObject_GC_UnTrack(self);
    GuestCall_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef GuestCall_methods[] = {
    {"invoke", (PyCFunction)(void (*)(void))GuestCall_invoke, METH_FASTCALL,
     "invoke(op_len, msg_len) -> the i32 result; raises CallFailed(error, trap)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject GuestCallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wapc_cli.engines.wasmtime_calls.GuestCall",
    .tp_basicsize = sizeof(GuestCall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "GuestCall(call, context, func, owner): __guest_call on wasmtime's C API.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)GuestCall_init,
    .tp_traverse = (traverseproc)GuestCall_traverse,
    .tp_clear = (inquiry)GuestCall_clear,
    .tp_dealloc = (destructor)GuestCall_dealloc,
    .tp_methods = GuestCall_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wapc_cli.engines.wasmtime_calls",
    .m_doc = "wasmtime's __guest_call without ctypes (see wasmtime_fast.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit_wasmtime_calls(void)
{
    PyObject *m;
    if (sizeof(val_raw) != 16)
        return NULL;
    if (PyType_Ready(&GuestCallType) < 0)
        return NULL;
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    CallFailed = PyErr_NewException("wapc_cli.engines.wasmtime_calls.CallFailed", NULL, NULL);
    if (CallFailed == NULL || PyModule_AddObjectRef(m, "CallFailed", CallFailed) < 0
        || PyModule_AddObjectRef(m, "GuestCall", (PyObject *)&GuestCallType) < 0
        || PyModule_AddIntConstant(m, "VAL_RAW_SIZE", (long)sizeof(val_raw)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
