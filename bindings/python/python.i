/*
 * python.i - the Python section of bindings/uvstreams.i.
 *
 * Design: the extension (_uvstreams_c, built with -builtin -threads) is a
 * thin, fast layer under the pure-Python package `uvstreams`:
 * - handles are plain Python ints (the C API validates every handle, so a
 *   stale one gives UVS_EBADHANDLE, never a crash) and None is NULL;
 * - byte inputs take any contiguous bytes-like object through the buffer
 *   protocol, kept until the call returns (the library copies before
 *   returning); byte outputs become bytes (library memory is uvs_free'd);
 *   strings from the library become str;
 * - functions return their int status first, followed by out-values;
 * - the GIL stays held (%nothread) except around the calls that can block
 *   (UVS_BLOCKING_CALLS) and the writes (their send); the Python layer
 *   waits in short slices so that Ctrl-C gets through;
 * - a handful of uvs_py_* helpers fuse the hot paths of the asyncio layer
 *   into one call each: start a read and return its bytes when it completed
 *   at once, or else the future (registered for the dispatcher) that the
 *   coroutine awaits directly; fetch a completed op's result; run the engine
 *   and resolve the futures waiting for what completed (uvs_py_dispatch);
 *   write; drain (the same: done at once, or a registered future). The
 *   four called on every echo (uvs_py_start_read, uvs_py_dispatch,
 *   uvs_py_write, uvs_py_drain) are METH_FASTCALL functions added to the
 *   module at init, not SWIG wrappers (no argument tuple per call).
 *   Calls made from the host thread wake the engine themselves (its
 *   descriptor turns readable), so only the dispatcher tells the "kicker"
 *   the Hub registered when libuv wants to run again (its next timer).
 *   Errors they meet are turned into exceptions by one Python function
 *   registered with uvs_py_set_error_factory: codes become exceptions in
 *   one place; for a completed op the detail is the op's own message
 *   (uvs_op_error: asyncio's limit-overrun messages, TLS reasons).
 */

%begin %{
#define PY_SSIZE_T_CLEAN
%}

%{
#include <errno.h>
#include <pthread.h>
#include <time.h>
%}

/* ---- GIL policy ---------------------------------------------------------- */

%nothread;
UVS_BLOCKING_CALLS(%thread)
/* A write does not wait, but its direct send runs the socket's send path
 * (on loopback, the receiver's too): like socket.send, without the GIL, so
 * that uvstreams.sync's other threads run meanwhile. */
%thread uvs_stream_write;
%thread uvs_stream_writev;

/* ---- handles: Python ints --------------------------------------------------- */

%define UVS_PY_HANDLE(TYPE)
%typemap(in) TYPE *, const TYPE * {
  if ($input == Py_None) {
    $1 = NULL;
  } else {
    $1 = ($1_ltype)PyLong_AsVoidPtr($input);
    if (!$1 && PyErr_Occurred())
      SWIG_fail;
  }
}
%typemap(in, numinputs=0) TYPE ** (TYPE *handle_out = NULL) {
  $1 = &handle_out;
}
%typemap(argout) TYPE ** {
  $result = SWIG_Python_AppendOutput($result, uvs_py_handle(*$1));
}
%enddef

%{
static PyObject *uvs_py_handle(const void *h) {
  if (!h)
    Py_RETURN_NONE;
  return PyLong_FromVoidPtr((void *)h);
}
%}

UVS_PY_HANDLE(uvs_options)
UVS_PY_HANDLE(uvs_engine)
UVS_PY_HANDLE(uvs_cq)
UVS_PY_HANDLE(uvs_op)
UVS_PY_HANDLE(uvs_stream)
UVS_PY_HANDLE(uvs_server)
UVS_PY_HANDLE(uvs_tls_config)

/* ---- byte input: any bytes-like object ------------------------------------ */

%{
/* A contiguous view of a bytes-like object, with asyncio's TypeError. */
static int uvs_py_get_view(PyObject *obj, Py_buffer *view) {
  if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) == 0)
    return 0;
  if (PyErr_ExceptionMatches(PyExc_TypeError)) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError,
                 "data argument must be a bytes-like object, not '%.100s'",
                 Py_TYPE(obj)->tp_name);
  }
  return -1;
}
%}

%typemap(in) (const void *data, size_t len) (Py_buffer view, Py_buffer *held = NULL) {
  if (uvs_py_get_view($input, &view) < 0)
    SWIG_fail;
  held = &view;
  $1 = view.buf;
  $2 = (size_t)view.len;
}
%typemap(freearg) (const void *data, size_t len) {
  if (held$argnum)
    PyBuffer_Release(held$argnum);
}
%apply (const void *data, size_t len) { (const void *sep, size_t len),
                                         (const void *sep, size_t seplen),
                                         (const void *pem, size_t len),
                                         (const void *cert, size_t cert_len),
                                         (const void *key, size_t key_len) };

/* ---- arrays of buffers: a sequence of bytes-like objects ------------------- */

%{
typedef struct uvs_py_bufs {
  size_t n;
  uvs_buf *bufs;
  Py_buffer *views;
} uvs_py_bufs;

static void uvs_py_bufs_free(uvs_py_bufs *b) {
  if (!b)
    return;
  for (size_t i = 0; i < b->n; ++i)
    PyBuffer_Release(&b->views[i]);
  PyMem_Free(b->bufs);
  PyMem_Free(b->views);
  PyMem_Free(b);
}

/* Views of every element of a sequence (NULL with an exception set). */
static uvs_py_bufs *uvs_py_bufs_get(PyObject *seq) {
  PyObject *fast = PySequence_Fast(seq, "expected a sequence of bytes-like objects");
  if (!fast)
    return NULL;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
  uvs_py_bufs *b = (uvs_py_bufs *)PyMem_Calloc(1, sizeof *b);
  if (b) {
    b->bufs = (uvs_buf *)PyMem_Calloc(count ? count : 1, sizeof *b->bufs);
    b->views = (Py_buffer *)PyMem_Calloc(count ? count : 1, sizeof *b->views);
  }
  if (!b || !b->bufs || !b->views) {
    uvs_py_bufs_free(b);
    Py_DECREF(fast);
    PyErr_NoMemory();
    return NULL;
  }
  for (Py_ssize_t i = 0; i < count; ++i) {
    if (uvs_py_get_view(PySequence_Fast_GET_ITEM(fast, i), &b->views[i]) < 0) {
      uvs_py_bufs_free(b);
      Py_DECREF(fast);
      return NULL;
    }
    b->n = (size_t)i + 1;
    b->bufs[i].base = b->views[i].buf;
    b->bufs[i].len = (size_t)b->views[i].len;
  }
  Py_DECREF(fast);
  return b;
}
%}

%typemap(in) (const uvs_buf *bufs, size_t n) (uvs_py_bufs *held = NULL) {
  held = uvs_py_bufs_get($input);
  if (!held)
    SWIG_fail;
  $1 = held->bufs;
  $2 = held->n;
}
%typemap(freearg) (const uvs_buf *bufs, size_t n) {
  uvs_py_bufs_free(held$argnum);
}
%apply (const uvs_buf *bufs, size_t n) { (const uvs_buf *seps, size_t nseps) };

/* ---- byte output ------------------------------------------------------------ */

/* Library-allocated bytes (blocking reads): bytes, or None when none. */
%typemap(in, numinputs=0) (void **data, size_t *len) (void *out_data = NULL, size_t out_len = 0) {
  $1 = &out_data;
  $2 = &out_len;
}
%typemap(argout) (void **data, size_t *len) {
  PyObject *o;
  if (out_data$argnum) {
    o = PyBytes_FromStringAndSize((const char *)out_data$argnum, (Py_ssize_t)out_len$argnum);
  } else {
    o = Py_None;
    Py_INCREF(o);
  }
  uvs_free(out_data$argnum);
  out_data$argnum = NULL;
  if (!o)
    SWIG_fail;
  $result = SWIG_Python_AppendOutput($result, o);
}
%typemap(freearg) (void **data, size_t *len) {
  uvs_free(out_data$argnum);
}

/* Borrowed op data: copied into bytes. */
%typemap(in, numinputs=0) (const void **data, size_t *len) (const void *out_data = NULL, size_t out_len = 0) {
  $1 = ($1_ltype)&out_data;
  $2 = &out_len;
}
%typemap(argout) (const void **data, size_t *len) {
  PyObject *o = PyBytes_FromStringAndSize(out_data$argnum ? (const char *)out_data$argnum : "",
                                          (Py_ssize_t)out_len$argnum);
  if (!o)
    SWIG_fail;
  $result = SWIG_Python_AppendOutput($result, o);
}

/* Library-allocated strings: str (None when not set). */
%typemap(in, numinputs=0) char **out (char *out_str = NULL) {
  $1 = &out_str;
}
%typemap(argout) char **out {
  PyObject *o;
  if (out_str$argnum) {
    o = PyUnicode_DecodeUTF8(out_str$argnum, (Py_ssize_t)strlen(out_str$argnum), "surrogateescape");
  } else {
    o = Py_None;
    Py_INCREF(o);
  }
  uvs_free(out_str$argnum);
  out_str$argnum = NULL;
  if (!o)
    SWIG_fail;
  $result = SWIG_Python_AppendOutput($result, o);
}
%typemap(freearg) char **out {
  uvs_free(out_str$argnum);
}
%apply char **out { char **host };

/* Integer out-parameters. */
%typemap(in, numinputs=0) int64_t *out (int64_t out_int = -1) {
  $1 = &out_int;
}
%typemap(argout) int64_t *out {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromLongLong(out_int$argnum));
}
%apply int64_t *out { int64_t *consumed };
%typemap(in, numinputs=0) int *port (int out_port = -1) {
  $1 = &out_port;
}
%typemap(argout) int *port {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromLong(out_port$argnum));
}

/* Completion arrays: the argument is the maximum, the result the handles. */
%typemap(in) (uvs_op **ops, int max) (uvs_op **out_ops = NULL) {
  long max_ops = PyLong_AsLong($input);
  if (max_ops == -1 && PyErr_Occurred())
    SWIG_fail;
  if (max_ops <= 0 || max_ops > 65536) {
    PyErr_SetString(PyExc_ValueError, "max must be in 1..65536");
    SWIG_fail;
  }
  out_ops = (uvs_op **)PyMem_Calloc((size_t)max_ops, sizeof *out_ops);
  if (!out_ops) {
    PyErr_NoMemory();
    SWIG_fail;
  }
  $1 = out_ops;
  $2 = (int)max_ops;
}
%typemap(argout) (uvs_op **ops, int max) {
  int count = result > 0 ? result : 0;
  PyObject *list = PyList_New(count);
  if (!list)
    SWIG_fail;
  for (int i = 0; i < count; ++i) {
    PyObject *h = uvs_py_handle(out_ops$argnum[i]);
    if (!h) {
      Py_DECREF(list);
      SWIG_fail;
    }
    PyList_SET_ITEM(list, i, h);
  }
  $result = SWIG_Python_AppendOutput($result, list);
}
%typemap(freearg) (uvs_op **ops, int max) {
  PyMem_Free(out_ops$argnum);
}

/* ---- hot-path helpers of the asyncio layer -------------------------------------- */

%{
static PyObject *uvs_py_error_factory = NULL;
static PyObject *uvs_py_kickers = NULL; /* {engine: callable} */

/* Raises factory(code, op, kind, detail): the package's single mapping of
 * codes to exceptions. op is None when the call failed before starting;
 * for a completed op with no detail given the op's own message is used. */
static PyObject *uvs_py_raise(int code, uvs_op *op, int kind, const char *detail) {
  if (op && (!detail || !*detail))
    detail = uvs_op_error(op);
  if (!uvs_py_error_factory) {
    PyErr_Format(PyExc_OSError, "%s: %s", uvs_err_name(code), uvs_strerror(code));
    return NULL;
  }
  PyObject *opobj = uvs_py_handle(op);
  if (!opobj)
    return NULL;
  PyObject *exc = PyObject_CallFunction(uvs_py_error_factory, "iOis", code, opobj,
                                        kind, detail ? detail : "");
  Py_DECREF(opobj);
  if (!exc)
    return NULL;
  PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
  Py_DECREF(exc);
  return NULL;
}

static int uvs_py_is_read(int kind) {
  return kind == UVS_OP_READ || kind == UVS_OP_READEXACTLY ||
         kind == UVS_OP_READUNTIL || kind == UVS_OP_READLINE;
}

/* Tells the kicker registered for a host-driven engine when its libuv loop
 * wants to run again: kicker(ms), ms = uvs_engine_timeout(e) when it is
 * >= 0. 0, or -1 with an exception. */
static int uvs_py_kick(uvs_engine *e) {
  int ms = uvs_engine_timeout(e);
  if (!uvs_py_kickers || ms < 0)
    return 0;
  PyObject *key = uvs_py_handle(e);
  if (!key)
    return -1;
  PyObject *kick = PyDict_GetItemWithError(uvs_py_kickers, key);
  Py_DECREF(key);
  if (!kick)
    return PyErr_Occurred() ? -1 : 0;
  PyObject *arg = PyLong_FromLong(ms);
  PyObject *r = arg ? PyObject_CallOneArg(kick, arg) : NULL;
  Py_XDECREF(arg);
  Py_XDECREF(r);
  return r ? 0 : -1;
}

/* readuntil with a bytes-like separator or a tuple of them. */
static int uvs_py_readuntil_start(uvs_stream *s, PyObject *sep, uvs_op *op,
                                  int *pyerr) {
  int rc;
  if (PyTuple_Check(sep)) {
    uvs_py_bufs *b = uvs_py_bufs_get(sep);
    if (!b) {
      *pyerr = 1;
      return -1;
    }
    rc = uvs_stream_readuntil_any_start(s, b->bufs, b->n, op);
    uvs_py_bufs_free(b);
    return rc;
  }
  Py_buffer view;
  if (uvs_py_get_view(sep, &view) < 0) {
    *pyerr = 1;
    return -1;
  }
  rc = uvs_stream_readuntil_start(s, view.buf, (size_t)view.len, op);
  PyBuffer_Release(&view);
  return rc;
}

PyObject *uvs_py_result(uvs_op *op);

/* The bytes of a completed read of a known kind, or its exception. */
static PyObject *uvs_py_read_result(uvs_op *op, int kind) {
  const void *data = NULL;
  size_t len = 0;
  int rc = uvs_op_read_result(op, &data, &len);
  if (rc == UVS_EBADHANDLE || rc == UVS_EOPBUSY)
    return uvs_py_raise(rc, NULL, kind, uvs_last_error());
  if (rc < 0)
    return uvs_py_raise(rc, op, kind, "");
  return PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
}

static PyObject *uvs_py_str_done, *uvs_py_str_set_result, *uvs_py_str_set_exception;

/* After set_result/set_exception failed: 0, the error cleared, when fut
 * was already done (its task cancelled it: the outcome is dropped, the
 * bytes stay in the op for uvs_op_unread), else -1 with the error. */
static int uvs_py_unless_done(PyObject *fut) {
  PyObject *type, *exc, *tb;
  PyErr_Fetch(&type, &exc, &tb);
  PyObject *done = PyObject_CallMethodNoArgs(fut, uvs_py_str_done);
  int is_done = done ? PyObject_IsTrue(done) : -1;
  Py_XDECREF(done);
  if (is_done == 1) {
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    return 0;
  }
  if (is_done < 0)
    PyErr_Clear();
  PyErr_Restore(type, exc, tb);
  return -1;
}

/* A completed read's bytes, or its exception (the kind, which picks
 * asyncio's exception, is asked for only then). */
static PyObject *uvs_py_completed_read(uvs_op *op) {
  const void *data = NULL;
  size_t len = 0;
  int rc = uvs_op_read_result(op, &data, &len);
  if (rc >= 0)
    return PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
  return uvs_py_read_result(op, uvs_op_kind(op));
}

/* Resolves a waiting future with a completed op: a read's bytes (or its
 * exception), None for other kinds (their owner fetches the result, so a
 * connection is never taken for a task that is gone). A future already
 * done is left alone. */
static int uvs_py_resolve(PyObject *fut, uvs_op *op, int is_read) {
  PyObject *value, *r;
  if (is_read) {
    value = uvs_py_completed_read(op);
  } else {
    value = Py_None;
    Py_INCREF(value);
  }
  if (value) {
    r = PyObject_CallMethodOneArg(fut, uvs_py_str_set_result, value);
  } else {
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    r = exc ? PyObject_CallMethodOneArg(fut, uvs_py_str_set_exception, exc) : NULL;
    Py_XDECREF(type);
    Py_XDECREF(tb);
    value = exc;
  }
  Py_XDECREF(value);
  if (r) {
    Py_DECREF(r);
    return 0;
  }
  return uvs_py_unless_done(fut);
}

/* Pops the future waiting[key] and resolves it with op: 1 when there was
 * one, 0 when not, -1 on error. */
static int uvs_py_resolve_waiting(PyObject *waiting, PyObject *key,
                                  uvs_op *op, int is_read) {
  PyObject *fut = PyDict_GetItemWithError(waiting, key);
  if (!fut)
    return PyErr_Occurred() ? -1 : 0;
  Py_INCREF(fut);
  int rc = PyDict_DelItem(waiting, key);
  if (rc == 0)
    rc = uvs_py_resolve(fut, op, is_read);
  Py_DECREF(fut);
  return rc < 0 ? -1 : 1;
}

/* Calls callbacks[key]() if there is one: 0, or -1 on error. */
static int uvs_py_callback(PyObject *callbacks, PyObject *key) {
  PyObject *cb = PyDict_GetItemWithError(callbacks, key);
  if (!cb)
    return PyErr_Occurred() ? -1 : 0;
  PyObject *r = PyObject_CallNoArgs(cb);
  Py_XDECREF(r);
  return r ? 0 : -1;
}

/* One completion: the future waiting for op (popped from reads, else from
 * futures), else the callback registered for op. */
static int uvs_py_deliver(uvs_op *op, PyObject *reads, PyObject *futures,
                          PyObject *callbacks) {
  PyObject *key = uvs_py_handle(op);
  if (!key)
    return -1;
  int rc = uvs_py_resolve_waiting(reads, key, op, 1);
  if (rc == 0)
    rc = uvs_py_resolve_waiting(futures, key, op, 0);
  if (rc == 0)
    rc = uvs_py_callback(callbacks, key);
  Py_DECREF(key);
  return rc < 0 ? -1 : 0;
}
%}

%init %{
  uvs_py_str_done = PyUnicode_InternFromString("done");
  uvs_py_str_set_result = PyUnicode_InternFromString("set_result");
  uvs_py_str_set_exception = PyUnicode_InternFromString("set_exception");
  uvs_py_kickers = PyDict_New();
%}

%{
/* Python objects the engine released (uvs_tls_config_adopt's callback, on
 * any thread, with or without the GIL, possibly under engine locks): their
 * references are dropped later by a pending call in the interpreter, never
 * from inside the engine. If the pending-call queue is full, the next
 * adoption or release retries. */
static pthread_mutex_t uvs_py_release_mu = PTHREAD_MUTEX_INITIALIZER;
static void **uvs_py_released;
static size_t uvs_py_released_n, uvs_py_released_cap;
static int uvs_py_release_scheduled;

static int uvs_py_release_pending(void *unused) {
  (void)unused;
  pthread_mutex_lock(&uvs_py_release_mu);
  void **objs = uvs_py_released;
  size_t n = uvs_py_released_n;
  uvs_py_released = NULL;
  uvs_py_released_n = uvs_py_released_cap = 0;
  uvs_py_release_scheduled = 0;
  pthread_mutex_unlock(&uvs_py_release_mu);
  for (size_t i = 0; i < n; ++i)
    Py_DECREF((PyObject *)objs[i]);
  free(objs);
  return 0;
}

static void uvs_py_release_context(void *obj) {
  if (!Py_IsInitialized())
    return; /* the interpreter is gone, and its objects with it */
  pthread_mutex_lock(&uvs_py_release_mu);
  if (uvs_py_released_n == uvs_py_released_cap) {
    size_t cap = uvs_py_released_cap ? 2 * uvs_py_released_cap : 8;
    void **grown = (void **)realloc(uvs_py_released, cap * sizeof *grown);
    if (!grown) { /* out of memory: the object leaks */
      pthread_mutex_unlock(&uvs_py_release_mu);
      return;
    }
    uvs_py_released = grown;
    uvs_py_released_cap = cap;
  }
  uvs_py_released[uvs_py_released_n++] = obj;
  int schedule = !uvs_py_release_scheduled;
  uvs_py_release_scheduled = 1;
  pthread_mutex_unlock(&uvs_py_release_mu);
  if (schedule && Py_AddPendingCall(uvs_py_release_pending, NULL) < 0) {
    pthread_mutex_lock(&uvs_py_release_mu);
    uvs_py_release_scheduled = 0;
    pthread_mutex_unlock(&uvs_py_release_mu);
  }
}
%}

%inline %{
/* Drops the references the engine released so far (see above). */
PyObject *uvs_py_release_now(void) {
  uvs_py_release_pending(NULL);
  Py_RETURN_NONE;
}

/* Registers the callable that turns (code, op, kind, detail) into an
 * exception instance. */
PyObject *uvs_py_set_error_factory(PyObject *factory) {
  Py_XINCREF(factory);
  Py_XSETREF(uvs_py_error_factory, factory);
  Py_RETURN_NONE;
}

/* Registers (or with None removes) the callable that schedules a run of a
 * host-driven engine when a call leaves it with work to do. */
PyObject *uvs_py_set_kicker(uvs_engine *e, PyObject *kick) {
  PyObject *key = uvs_py_handle(e);
  if (!key)
    return NULL;
  int rc = kick == Py_None ? PyDict_DelItem(uvs_py_kickers, key)
                           : PyDict_SetItem(uvs_py_kickers, key, kick);
  Py_DECREF(key);
  if (rc < 0 && kick == Py_None && PyErr_ExceptionMatches(PyExc_KeyError)) {
    PyErr_Clear();
    rc = 0;
  }
  if (rc < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* A uvs_tls_config sharing the SSL_CTX of `context`, an instance of the
 * ssl module's context type `base` (_ssl._SSLContext), as (status, handle).
 * The caller (uvstreams.tls) has checked that _ssl and the engine run on
 * the same libssl. The SSL_CTX pointer is the first field after the object
 * header in CPython's context object (unchanged from 2.7 to 3.13; checked
 * at run time by uvstreams.tls against SSL_CTX_get_options). The engine
 * holds a reference to `context` until it no longer uses the SSL_CTX, since
 * the callbacks CPython sets on it (the ALPN selection of a server) read the
 * context object's memory. */
PyObject *uvs_py_adopt_ssl_context(int side, PyObject *context,
                                   PyObject *base) {
  uvs_py_release_pending(NULL);
  if (!PyType_Check(base) || !PyObject_TypeCheck(context, (PyTypeObject *)base))
    return PyErr_Format(PyExc_TypeError, "expected an ssl.SSLContext");
  if (((PyTypeObject *)base)->tp_basicsize <
      (Py_ssize_t)(sizeof(PyObject) + sizeof(void *)))
    return PyErr_Format(PyExc_RuntimeError,
                        "unexpected layout of the ssl module's context");
  void *ssl_ctx = *(void **)((char *)context + sizeof(PyObject));
  uvs_tls_config *config = NULL;
  Py_INCREF(context);
  int rc = uvs_tls_config_adopt(side, ssl_ctx, uvs_py_release_context, context,
                                &config);
  if (rc < 0)
    Py_DECREF(context);
  return Py_BuildValue("(iN)", rc, uvs_py_handle(config));
}

/* The result of a completed op: bytes for a read, the new stream handle for
 * connect/accept, None otherwise; raises for a failed one. */
PyObject *uvs_py_result(uvs_op *op) {
  int kind = uvs_op_kind(op);
  int rc = uvs_op_result(op);
  if (kind < 0)
    return uvs_py_raise(kind, NULL, 0, uvs_last_error());
  if (rc < 0)
    return uvs_py_raise(rc, op, kind, "");
  if (uvs_py_is_read(kind))
    return uvs_py_read_result(op, kind);
  if (kind == UVS_OP_CONNECT || kind == UVS_OP_ACCEPT) {
    uvs_stream *s = NULL;
    rc = uvs_op_take_stream(op, &s);
    if (rc < 0)
      return uvs_py_raise(rc, NULL, kind, uvs_last_error());
    return uvs_py_handle(s);
  }
  Py_RETURN_NONE;
}

/* Starts a read of kind UVS_OP_READ/READEXACTLY/READUNTIL/READLINE on op:
 * its bytes when it completed at once (no future, no yield), None while it
 * is pending; raises on failure. n is the size, sep the separator(s). */
PyObject *uvs_py_read(uvs_stream *s, uvs_op *op, int kind, int64_t n,
                      PyObject *sep) {
  int rc, pyerr = 0;
  switch (kind) {
  case UVS_OP_READ:
    rc = uvs_stream_read_start(s, n, op);
    break;
  case UVS_OP_READEXACTLY:
    rc = uvs_stream_readexactly_start(s, n, op);
    break;
  case UVS_OP_READLINE:
    rc = uvs_stream_readline_start(s, op);
    break;
  case UVS_OP_READUNTIL:
    rc = uvs_py_readuntil_start(s, sep, op, &pyerr);
    if (pyerr)
      return NULL;
    break;
  default:
    PyErr_SetString(PyExc_ValueError, "not a read kind");
    return NULL;
  }
  if (rc == UVS_PENDING)
    Py_RETURN_NONE;
  if (rc < 0)
    return uvs_py_raise(rc, NULL, kind, uvs_last_error());
  return uvs_py_read_result(op, kind);
}

%}

%{
/* fut = create_future(), registered as waiting[key] for the dispatcher;
 * key is the op's handle as the caller passed it (an int equal to the one
 * the dispatcher makes from the completed op). */
static PyObject *uvs_py_register(PyObject *key, PyObject *create_future,
                                 PyObject *waiting) {
  if (!PyDict_Check(waiting))
    return PyErr_Format(PyExc_TypeError, "expected a dict of futures");
  PyObject *fut = PyObject_CallNoArgs(create_future);
  if (fut && PyDict_SetItem(waiting, key, fut) < 0)
    Py_CLEAR(fut);
  return fut;
}

/* uvs_py_read for the asyncio layer (key: op's handle object): while the
 * read is pending, a future from create_future() registered as reads[op]
 * (resolved with the bytes by the dispatcher) instead of None, so the
 * coroutine awaits it directly; None still when reads is None (a reader
 * fed from Python). */
static PyObject *uvs_py_start_read(uvs_stream *s, uvs_op *op, PyObject *key,
                                   int kind, int64_t n, PyObject *sep,
                                   PyObject *create_future,
                                   PyObject *reads) {
  PyObject *data = uvs_py_read(s, op, kind, n, sep);
  if (data != Py_None || reads == Py_None)
    return data;
  Py_DECREF(data);
  return uvs_py_register(key, create_future, reads);
}

/* Runs a host-driven engine, delivers every completion (reads[op] is
 * resolved with the read's outcome and removed, else futures[op] with None,
 * else callbacks[op]() is called), then tells the
 * kicker when the engine wants to run again. The asyncio loop calls it
 * directly as the completion queue's reader callback. An exception from a
 * callback is raised after every completion was delivered. */
static PyObject *uvs_py_dispatch(uvs_engine *e, uvs_cq *cq, PyObject *reads,
                                 PyObject *futures, PyObject *callbacks) {
  uvs_op *ops[256];
  PyObject *type = NULL, *exc = NULL, *tb = NULL;
  int n;
  do {
    n = uvs_cq_poll(cq, ops, 256);
    if (n < 0) {
      Py_XDECREF(type);
      Py_XDECREF(exc);
      Py_XDECREF(tb);
      return uvs_py_raise(n, NULL, 0, uvs_last_error());
    }
    for (int i = 0; i < n; ++i) {
      if (uvs_py_deliver(ops[i], reads, futures, callbacks) < 0) {
        if (!type)
          PyErr_Fetch(&type, &exc, &tb);
        else
          PyErr_Clear();
      }
    }
  } while (n == 256);
  if (type) {
    PyErr_Restore(type, exc, tb);
    return NULL;
  }
  if (uvs_py_kick(e) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* Writes a bytes-like object: 0, or the status of a refused write. */
static PyObject *uvs_py_write(uvs_stream *s, PyObject *data) {
  Py_buffer view;
  if (uvs_py_get_view(data, &view) < 0)
    return NULL;
  int rc = uvs_stream_write(s, view.buf, (size_t)view.len);
  PyBuffer_Release(&view);
  return PyLong_FromLong(rc);
}

/* Starts a drain on op (key: its handle object): None when it completed
 * at once (no waiting), else a future from create_future() registered as
 * futures[op] (resolved with None: the owner fetches the result); raises
 * on failure. */
static PyObject *uvs_py_drain(uvs_stream *s, uvs_op *op, PyObject *key,
                              PyObject *create_future, PyObject *futures) {
  int rc = uvs_stream_drain_start(s, op);
  if (rc == UVS_PENDING)
    return uvs_py_register(key, create_future, futures);
  if (rc < 0)
    return uvs_py_raise(rc, NULL, UVS_OP_DRAIN, uvs_last_error());
  rc = uvs_op_result(op);
  if (rc < 0)
    return uvs_py_raise(rc, op, UVS_OP_DRAIN, "");
  Py_RETURN_NONE;
}

/* ---- uvstreams.sync: a blocking call in one C call ---------------------- */

/* A blocking call runs on its thread's idle op (kept in a thread-specific
 * slot, freed when the thread exits): a call allocates none. The op leaves
 * the slot while it is in use, so a signal handler that makes a blocking
 * call in the middle of a wait gets an op of its own. The wait runs in
 * slices of UVS_PY_SLICE_MS without the GIL; signal handlers run between
 * slices (Ctrl-C interrupts a wait). An op that fails or is interrupted is
 * freed rather than reused. */

#define UVS_PY_SLICE_MS 200

static pthread_key_t uvs_py_op_key;
static pthread_once_t uvs_py_op_once = PTHREAD_ONCE_INIT;

static void uvs_py_op_key_free(void *op) { uvs_op_free((uvs_op *)op); }

/* In a child of fork() the forking thread's idle op is the parent's (the
 * library refuses it there with UVS_EFORKED): the slot is emptied, the op
 * left alone, and the child's first call makes one of its own. */
static void uvs_py_op_forget_parents(void) {
  (void)pthread_setspecific(uvs_py_op_key, NULL);
}

static void uvs_py_op_key_make(void) {
  (void)pthread_key_create(&uvs_py_op_key, uvs_py_op_key_free);
  (void)pthread_atfork(NULL, NULL, uvs_py_op_forget_parents);
}

static uvs_op *uvs_py_op_take(void) {
  (void)pthread_once(&uvs_py_op_once, uvs_py_op_key_make);
  uvs_op *op = (uvs_op *)pthread_getspecific(uvs_py_op_key);
  if (op) {
    (void)pthread_setspecific(uvs_py_op_key, NULL);
    return op;
  }
  int rc = uvs_op_new(NULL, 0, &op);
  if (rc < 0)
    return (uvs_op *)uvs_py_raise(rc, NULL, 0, uvs_last_error());
  return op;
}

/* Gives a finished op back to its thread's slot. */
static void uvs_py_op_give(uvs_op *op) {
  if (!pthread_getspecific(uvs_py_op_key) &&
      pthread_setspecific(uvs_py_op_key, op) == 0)
    return;
  uvs_op_free(op);
}

/* A timeout argument in seconds: None is forever (-1); a negative one is
 * already over (0). 0, or -1 with an exception. */
static int uvs_py_timeout(PyObject *o, double *seconds) {
  if (o == Py_None) {
    *seconds = -1;
    return 0;
  }
  double t = PyFloat_AsDouble(o);
  if (t == -1 && PyErr_Occurred())
    return -1;
  if (t != t) {
    PyErr_SetString(PyExc_ValueError, "timeout is NaN");
    return -1;
  }
  *seconds = t < 0 ? 0 : t;
  return 0;
}

static double uvs_py_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Cancels a pending op and waits for it (without the GIL); with unread,
 * a read that completed meanwhile gives its bytes back. */
static void uvs_py_sync_stop(uvs_op *op, int unread) {
  Py_BEGIN_ALLOW_THREADS
  uvs_op_cancel(op);
  uvs_op_wait(op, -1);
  if (unread)
    uvs_op_unread(op);
  Py_END_ALLOW_THREADS
}

/* Waits for a pending op for up to timeout seconds (< 0: forever). 0 when
 * it completed (also when it won the race with a timeout's cancel); -1
 * with an exception (TimeoutError, a signal handler's, a wait error), the
 * op abandoned. */
static int uvs_py_sync_wait(uvs_op *op, PyObject *timeout, const char *what) {
  double t;
  if (uvs_py_timeout(timeout, &t) < 0) {
    uvs_py_sync_stop(op, 1);
    return -1;
  }
  double deadline = t < 0 ? 0 : uvs_py_now() + t;
  for (;;) {
    int64_t ms = UVS_PY_SLICE_MS;
    if (t >= 0) {
      double left = (deadline - uvs_py_now()) * 1000;
      ms = left <= 0 ? 0 : left < ms ? (int64_t)left : ms;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = uvs_op_wait(op, ms);
    Py_END_ALLOW_THREADS
    if (rc == 0)
      return 0;
    if (rc != UVS_ETIMEDOUT) {
      uvs_py_raise(rc, NULL, 0, uvs_last_error());
      break;
    }
    if (t >= 0 && uvs_py_now() >= deadline) {
      uvs_py_sync_stop(op, 0);
      if (uvs_op_result(op) != UVS_ECANCELED)
        return 0; /* it completed first */
      PyObject *exc = PyObject_CallFunction(
          PyExc_TimeoutError, "iN", ETIMEDOUT,
          PyUnicode_FromFormat("%s timed out after %S s", what, timeout));
      if (exc) {
        PyErr_SetObject(PyExc_TimeoutError, exc);
        Py_DECREF(exc);
      }
      return -1; /* cancelled: it consumed nothing */
    }
    if (PyErr_CheckSignals() < 0)
      break;
  }
  uvs_py_sync_stop(op, 1);
  return -1;
}

/* The result of a pending op (uvs_py_result) once it completed. */
static PyObject *uvs_py_sync_run(uvs_op *op, PyObject *timeout,
                                 const char *what) {
  if (uvs_py_sync_wait(op, timeout, what) < 0)
    return NULL;
  return uvs_py_result(op);
}

/* Ends a blocking call on the thread's op: the op goes back to the slot
 * when the call succeeded, is freed otherwise. Returns r. */
static PyObject *uvs_py_sync_done(uvs_op *op, PyObject *r) {
  if (r)
    uvs_py_op_give(op);
  else
    uvs_op_free(op);
  return r;
}

/* A blocking read(n) for at most UVS_PY_INTO_MAX bytes reads into the
 * bytes object it returns, made first and shrunk to what came, as
 * socket.recv does: the waiting thread of a "direct_reads" stream reads the
 * socket straight into it, and no thread copies bytes holding the GIL. */
#define UVS_PY_INTO_MAX (1024 * 1024)

static PyObject *uvs_py_sync_read_into(uvs_stream *s, uvs_op *op, int64_t n,
                                       PyObject *timeout, const char *what) {
  PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
  if (!bytes)
    return NULL;
  int rc = uvs_stream_read_into_start(s, PyBytes_AS_STRING(bytes), (size_t)n,
                                      op);
  if (rc == UVS_PENDING)
    rc = uvs_py_sync_wait(op, timeout, what); /* -1: exception set */
  else if (rc < 0)
    uvs_py_raise(rc, NULL, UVS_OP_READ, uvs_last_error());
  const void *data = NULL;
  size_t len = 0;
  if (rc >= 0 && uvs_op_read_result(op, &data, &len) < 0) {
    uvs_py_read_result(op, UVS_OP_READ); /* raises its exception */
    rc = -1;
  }
  if (rc < 0) { /* bytes is not written to any more: the op is done */
    Py_DECREF(bytes);
    return NULL;
  }
  if (len != (size_t)n && _PyBytes_Resize(&bytes, (Py_ssize_t)len) < 0)
    return NULL;
  return bytes;
}

/* A blocking read of kind (uvs_py_read's arguments; what names it in a
 * TimeoutError): its bytes. */
static PyObject *uvs_py_sync_read(uvs_stream *s, int kind, int64_t n,
                                  PyObject *sep, PyObject *timeout,
                                  const char *what) {
  uvs_op *op = uvs_py_op_take();
  if (!op)
    return NULL;
  if (kind == UVS_OP_READ && n > 0 && n <= UVS_PY_INTO_MAX)
    return uvs_py_sync_done(op, uvs_py_sync_read_into(s, op, n, timeout, what));
  PyObject *data = uvs_py_read(s, op, kind, n, sep);
  if (data == Py_None) {
    Py_DECREF(data);
    data = uvs_py_sync_run(op, timeout, what);
  }
  return uvs_py_sync_done(op, data);
}

/* Writes a bytes-like object without the GIL (the direct send runs the
 * socket's send path, on loopback the receiver's too, as socket.send
 * does): 0, or the status of a refused write. */
static PyObject *uvs_py_sync_write(uvs_stream *s, PyObject *data) {
  Py_buffer view;
  if (uvs_py_get_view(data, &view) < 0)
    return NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = uvs_stream_write(s, view.buf, (size_t)view.len);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&view);
  return PyLong_FromLong(rc);
}

/* A blocking drain: None once the write buffer is down to its low-water
 * mark, or its exception. */
static PyObject *uvs_py_sync_drain(uvs_stream *s, PyObject *timeout) {
  uvs_op *op = uvs_py_op_take();
  if (!op)
    return NULL;
  PyObject *r = NULL;
  int rc = uvs_stream_drain_start(s, op);
  if (rc == UVS_PENDING)
    r = uvs_py_sync_run(op, timeout, "drain");
  else if (rc < 0)
    uvs_py_raise(rc, NULL, UVS_OP_DRAIN, uvs_last_error());
  else if ((rc = uvs_op_result(op)) < 0)
    uvs_py_raise(rc, op, UVS_OP_DRAIN, "");
  else
    r = Py_NewRef(Py_None);
  return uvs_py_sync_done(op, r);
}

/* ---- METH_FASTCALL entry points ----------------------------------------- */

/* SWIG's -builtin wrappers are METH_VARARGS: each call packs its arguments
 * into a tuple and unpacks them again. The four helpers called on every
 * echo take a vector instead (same names, arguments and results). */

static int uvs_py_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t want) {
  if (nargs == want)
    return 0;
  PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name,
               want, nargs);
  return -1;
}

/* A handle argument as the typemaps take it: an int, None for NULL. */
static int uvs_py_arg_handle(PyObject *o, void **h) {
  if (o == Py_None) {
    *h = NULL;
    return 0;
  }
  *h = PyLong_AsVoidPtr(o);
  return *h || !PyErr_Occurred() ? 0 : -1;
}

/* The first count arguments as handles (each one a void * slot). */
static int uvs_py_arg_handles(PyObject *const *args, int count, void **h) {
  for (int i = 0; i < count; ++i)
    if (uvs_py_arg_handle(args[i], &h[i]) < 0)
      return -1;
  return 0;
}

static PyObject *uvs_py_fast_start_read(PyObject *self, PyObject *const *args,
                                        Py_ssize_t nargs) {
  void *h[2];
  (void)self;
  if (uvs_py_nargs("uvs_py_start_read", nargs, 7) < 0 ||
      uvs_py_arg_handles(args, 2, h) < 0)
    return NULL;
  long kind = PyLong_AsLong(args[2]);
  if (kind == -1 && PyErr_Occurred())
    return NULL;
  long long n = PyLong_AsLongLong(args[3]);
  if (n == -1 && PyErr_Occurred())
    return NULL;
  return uvs_py_start_read((uvs_stream *)h[0], (uvs_op *)h[1], args[1],
                           (int)kind, (int64_t)n, args[4], args[5], args[6]);
}

static PyObject *uvs_py_fast_dispatch(PyObject *self, PyObject *const *args,
                                      Py_ssize_t nargs) {
  void *h[2];
  (void)self;
  if (uvs_py_nargs("uvs_py_dispatch", nargs, 5) < 0 ||
      uvs_py_arg_handles(args, 2, h) < 0)
    return NULL;
  return uvs_py_dispatch((uvs_engine *)h[0], (uvs_cq *)h[1], args[2],
                         args[3], args[4]);
}

static PyObject *uvs_py_fast_write(PyObject *self, PyObject *const *args,
                                   Py_ssize_t nargs) {
  void *h[1];
  (void)self;
  if (uvs_py_nargs("uvs_py_write", nargs, 2) < 0 ||
      uvs_py_arg_handles(args, 1, h) < 0)
    return NULL;
  return uvs_py_write((uvs_stream *)h[0], args[1]);
}

static PyObject *uvs_py_fast_drain(PyObject *self, PyObject *const *args,
                                   Py_ssize_t nargs) {
  void *h[2];
  (void)self;
  if (uvs_py_nargs("uvs_py_drain", nargs, 4) < 0 ||
      uvs_py_arg_handles(args, 2, h) < 0)
    return NULL;
  return uvs_py_drain((uvs_stream *)h[0], (uvs_op *)h[1], args[1], args[2],
                      args[3]);
}

static PyObject *uvs_py_fast_sync_read(PyObject *self, PyObject *const *args,
                                       Py_ssize_t nargs) {
  void *h[1];
  (void)self;
  if (uvs_py_nargs("uvs_py_sync_read", nargs, 6) < 0 ||
      uvs_py_arg_handles(args, 1, h) < 0)
    return NULL;
  long kind = PyLong_AsLong(args[1]);
  if (kind == -1 && PyErr_Occurred())
    return NULL;
  long long n = PyLong_AsLongLong(args[2]);
  if (n == -1 && PyErr_Occurred())
    return NULL;
  const char *what = PyUnicode_AsUTF8(args[5]);
  if (!what)
    return NULL;
  return uvs_py_sync_read((uvs_stream *)h[0], (int)kind, (int64_t)n, args[3],
                          args[4], what);
}

static PyObject *uvs_py_fast_sync_write(PyObject *self, PyObject *const *args,
                                        Py_ssize_t nargs) {
  void *h[1];
  (void)self;
  if (uvs_py_nargs("uvs_py_sync_write", nargs, 2) < 0 ||
      uvs_py_arg_handles(args, 1, h) < 0)
    return NULL;
  return uvs_py_sync_write((uvs_stream *)h[0], args[1]);
}

static PyObject *uvs_py_fast_sync_drain(PyObject *self, PyObject *const *args,
                                        Py_ssize_t nargs) {
  void *h[1];
  (void)self;
  if (uvs_py_nargs("uvs_py_sync_drain", nargs, 2) < 0 ||
      uvs_py_arg_handles(args, 1, h) < 0)
    return NULL;
  return uvs_py_sync_drain((uvs_stream *)h[0], args[1]);
}

static PyObject *uvs_py_fast_sync_run(PyObject *self, PyObject *const *args,
                                      Py_ssize_t nargs) {
  void *h[1];
  (void)self;
  if (uvs_py_nargs("uvs_py_sync_run", nargs, 3) < 0 ||
      uvs_py_arg_handles(args, 1, h) < 0)
    return NULL;
  const char *what = PyUnicode_AsUTF8(args[2]);
  if (!what)
    return NULL;
  return uvs_py_sync_run((uvs_op *)h[0], args[1], what);
}

static PyMethodDef uvs_py_fast_methods[] = {
    {"uvs_py_start_read", (PyCFunction)(void (*)(void))uvs_py_fast_start_read,
     METH_FASTCALL, "start a read: its bytes, or the future awaiting them"},
    {"uvs_py_dispatch", (PyCFunction)(void (*)(void))uvs_py_fast_dispatch,
     METH_FASTCALL, "run the engine and deliver its completions"},
    {"uvs_py_write", (PyCFunction)(void (*)(void))uvs_py_fast_write,
     METH_FASTCALL, "write a bytes-like object"},
    {"uvs_py_drain", (PyCFunction)(void (*)(void))uvs_py_fast_drain,
     METH_FASTCALL, "start a drain: None, or the future awaiting it"},
    {"uvs_py_sync_read", (PyCFunction)(void (*)(void))uvs_py_fast_sync_read,
     METH_FASTCALL, "a blocking read: its bytes (uvstreams.sync)"},
    {"uvs_py_sync_write", (PyCFunction)(void (*)(void))uvs_py_fast_sync_write,
     METH_FASTCALL, "write a bytes-like object without the GIL"},
    {"uvs_py_sync_drain", (PyCFunction)(void (*)(void))uvs_py_fast_sync_drain,
     METH_FASTCALL, "a blocking drain (uvstreams.sync)"},
    {"uvs_py_sync_run", (PyCFunction)(void (*)(void))uvs_py_fast_sync_run,
     METH_FASTCALL, "wait for a pending op: its result (uvstreams.sync)"},
    {NULL, NULL, 0, NULL}};
%}

%init %{
  if (PyModule_AddFunctions(m, uvs_py_fast_methods) < 0)
    return NULL;
%}
