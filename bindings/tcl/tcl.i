/*
 * tcl.i - the Tcl section of bindings/uvstreams.i.
 *
 * Design: the extension (uvstreams_c, built with swig -tcl -namespace, so
 * its commands are ::uvstreams_c::uvs_*) is the flat C API and nothing
 * more; the idiomatic `uvstreams` ensemble (uvstreams.tcl) is written in Tcl
 * on top of it.
 * - Handles are strings naming their type, "uvstream<N>", "uvserver<N>",
 *   "uvop<N>"... (N is the library's handle value in hex; the library validates
 *   every handle, so a stale one gives UVS_EBADHANDLE, never a crash), and
 *   the empty string is NULL. A malformed one is a Tcl error with the
 *   errorcode {UVSTREAMS EBADHANDLE ...}.
 * - Byte input and output are Tcl byte arrays (library memory is uvs_free'd
 *   at once); strings from the library are Tcl strings ("" for NULL);
 *   optional C strings (a key path, a password) are NULL when "".
 * - Functions return their int status, or a list: the status followed by
 *   the out-values (SWIG's convention for out-parameters).
 * - Tcl has no global lock to release, so UVS_BLOCKING_CALLS needs no
 *   treatment here: a blocking call holds its interpreter's thread only,
 *   and the ensemble offers -command (completion from the event loop)
 *   instead.
 * - uvs_tcl_watch() is the one hand-written helper: it hands the completion
 *   queue's descriptor to Tcl's notifier (Tcl_CreateFileHandler), so that
 *   completions are dispatched from the event loop (vwait, update) with no
 *   thread on the Tcl side, and it ties the engine's life to the
 *   interpreter's and the process's (the I/O thread is joined at exit).
 * The generated code compiles with the project's -Wall -Wextra -Werror once
 * the uvs_buf struct is not wrapped as a class (its initializer trips
 * -Wmissing-braces); buffer arrays are Tcl lists anyway.
 */

%ignore uvs_buf;

/* ---- handles: typed strings ------------------------------------------------ */

%{
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets the interpreter's error for a bad handle string (EBADHANDLE). */
static int uvs_tcl_bad_handle(Tcl_Interp *interp, const char *prefix,
                              Tcl_Obj *obj) {
  Tcl_SetObjResult(interp,
                   Tcl_ObjPrintf("expected a %s handle but got \"%s\"", prefix,
                                 Tcl_GetString(obj)));
  Tcl_SetErrorCode(interp, "UVSTREAMS", "EBADHANDLE",
                   Tcl_GetString(Tcl_GetObjResult(interp)), (char *)NULL);
  return TCL_ERROR;
}

/* "<prefix><hex>" -> the handle value; "" -> NULL. */
static int uvs_tcl_get_handle(Tcl_Interp *interp, Tcl_Obj *obj,
                              const char *prefix, void **out) {
  int len;
  const char *s = Tcl_GetStringFromObj(obj, &len);
  size_t plen = strlen(prefix);
  char *end;
  if (len == 0) {
    *out = NULL;
    return TCL_OK;
  }
  if ((size_t)len <= plen || strncmp(s, prefix, plen) != 0 || !isxdigit((unsigned char)s[plen]))
    return uvs_tcl_bad_handle(interp, prefix, obj);
  errno = 0;
  unsigned long long v = strtoull(s + plen, &end, 16);
  if (*end || errno)
    return uvs_tcl_bad_handle(interp, prefix, obj);
  *out = (void *)(uintptr_t)v;
  return TCL_OK;
}

static Tcl_Obj *uvs_tcl_handle(const char *prefix, const void *h) {
  char buf[64];
  if (!h)
    return Tcl_NewObj();
  snprintf(buf, sizeof buf, "%s%llx", prefix, (unsigned long long)(uintptr_t)h);
  return Tcl_NewStringObj(buf, -1);
}
%}

%define UVS_TCL_HANDLE(TYPE, PREFIX)
%typemap(in) TYPE *, const TYPE * {
  void *h;
  if (uvs_tcl_get_handle(interp, $input, PREFIX, &h) != TCL_OK)
    SWIG_fail;
  $1 = ($1_ltype)h;
}
%typemap(in, numinputs=0) TYPE ** (TYPE *handle_out = NULL) {
  $1 = &handle_out;
}
%typemap(argout) TYPE ** {
  %append_output(uvs_tcl_handle(PREFIX, *$1));
}
%enddef

UVS_TCL_HANDLE(uvs_options, "uvoptions")
UVS_TCL_HANDLE(uvs_engine, "uvengine")
UVS_TCL_HANDLE(uvs_cq, "uvcq")
UVS_TCL_HANDLE(uvs_op, "uvop")
UVS_TCL_HANDLE(uvs_stream, "uvstream")
UVS_TCL_HANDLE(uvs_server, "uvserver")
UVS_TCL_HANDLE(uvs_tls_config, "uvtls")

/* ---- byte input: byte arrays ------------------------------------------------ */

%typemap(in) (const void *data, size_t len) {
  int n;
  $1 = Tcl_GetByteArrayFromObj($input, &n);
  $2 = (size_t)n;
}
%apply (const void *data, size_t len) { (const void *sep, size_t len),
                                         (const void *sep, size_t seplen),
                                         (const void *pem, size_t len),
                                         (const void *cert, size_t cert_len),
                                         (const void *key, size_t key_len) };

/* Optional strings: "" is NULL. */
%typemap(in) const char *key_path, const char *password {
  $1 = Tcl_GetCharLength($input) ? Tcl_GetString($input) : NULL;
}

/* ---- arrays of buffers: a list of byte arrays -------------------------------- */

%typemap(in) (const uvs_buf *bufs, size_t n) (uvs_buf *held = NULL) {
  int count;
  Tcl_Obj **elems;
  if (Tcl_ListObjGetElements(interp, $input, &count, &elems) != TCL_OK)
    SWIG_fail;
  held = (uvs_buf *)ckalloc(sizeof *held * (count ? count : 1));
  for (int i = 0; i < count; ++i) {
    int n;
    held[i].base = Tcl_GetByteArrayFromObj(elems[i], &n);
    held[i].len = (size_t)n;
  }
  $1 = held;
  $2 = (size_t)count;
}
%typemap(freearg) (const uvs_buf *bufs, size_t n) {
  if (held$argnum)
    ckfree((char *)held$argnum);
}
%apply (const uvs_buf *bufs, size_t n) { (const uvs_buf *seps, size_t nseps) };

/* ---- byte output -------------------------------------------------------------- */

/* Library-allocated bytes (blocking reads): a byte array. */
%typemap(in, numinputs=0) (void **data, size_t *len) (void *out_data = NULL, size_t out_len = 0) {
  $1 = &out_data;
  $2 = &out_len;
}
%typemap(argout) (void **data, size_t *len) {
  %append_output(Tcl_NewByteArrayObj((const unsigned char *)(out_data$argnum ? out_data$argnum : ""),
                                     (int)out_len$argnum));
}
%typemap(freearg) (void **data, size_t *len) {
  uvs_free(out_data$argnum);
}

/* Borrowed op data: copied into a byte array. */
%typemap(in, numinputs=0) (const void **data, size_t *len) (const void *out_data = NULL, size_t out_len = 0) {
  $1 = ($1_ltype)&out_data;
  $2 = &out_len;
}
%typemap(argout) (const void **data, size_t *len) {
  %append_output(Tcl_NewByteArrayObj((const unsigned char *)(out_data$argnum ? out_data$argnum : ""),
                                     (int)out_len$argnum));
}

/* Library-allocated strings ("" when not set). */
%typemap(in, numinputs=0) char **out (char *out_str = NULL) {
  $1 = &out_str;
}
%typemap(argout) char **out {
  %append_output(Tcl_NewStringObj(out_str$argnum ? out_str$argnum : "", -1));
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
  %append_output(Tcl_NewWideIntObj((Tcl_WideInt)out_int$argnum));
}
%apply int64_t *out { int64_t *consumed };
%typemap(in, numinputs=0) int *port (int out_port = -1) {
  $1 = &out_port;
}
%typemap(argout) int *port {
  %append_output(Tcl_NewIntObj(out_port$argnum));
}

/* Completion arrays: the argument is the maximum, the result the handles. */
%typemap(in) (uvs_op **ops, int max) (uvs_op **out_ops = NULL) {
  int max_ops;
  if (Tcl_GetIntFromObj(interp, $input, &max_ops) != TCL_OK)
    SWIG_fail;
  if (max_ops <= 0 || max_ops > 65536) {
    Tcl_SetObjResult(interp, Tcl_NewStringObj("max must be in 1..65536", -1));
    SWIG_fail;
  }
  out_ops = (uvs_op **)ckalloc(sizeof *out_ops * (size_t)max_ops);
  $1 = out_ops;
  $2 = max_ops;
}
%typemap(argout) (uvs_op **ops, int max) {
  Tcl_Obj *list = Tcl_NewListObj(0, NULL);
  for (int i = 0; i < result; ++i)
    Tcl_ListObjAppendElement(NULL, list, uvs_tcl_handle("uvop", out_ops$argnum[i]));
  %append_output(list);
}
%typemap(freearg) (uvs_op **ops, int max) {
  if (out_ops$argnum)
    ckfree((char *)out_ops$argnum);
}

/* ---- event-loop integration ---------------------------------------------------- */

%typemap(in, numinputs=0) Tcl_Interp *interp {
  $1 = interp;
}
%typemap(in) Tcl_Obj *script {
  $1 = $input;
}

%{
/* One interpreter's engine and completion queue, watched by its notifier;
 * the interpreter's assoc data, freed with it. */
typedef struct uvs_tcl_watch_data {
  Tcl_Interp *interp;
  uvs_engine *engine;
  uvs_cq *cq;
  int fd;
  Tcl_Obj *script;
} uvs_tcl_watch_data;

#define UVS_TCL_WATCH_KEY "uvstreams::watch"

/* The queue's descriptor is readable: run the dispatch script (it drains
 * the queue). Its errors go to the interpreter's background handler. */
static void uvs_tcl_readable(ClientData cd, int mask) {
  uvs_tcl_watch_data *w = (uvs_tcl_watch_data *)cd;
  Tcl_Interp *interp = w->interp;
  Tcl_Obj *script = w->script;
  (void)mask;
  Tcl_Preserve(interp);
  Tcl_IncrRefCount(script);
  int rc = Tcl_EvalObjEx(interp, script, TCL_EVAL_GLOBAL);
  if (rc != TCL_OK)
    Tcl_BackgroundException(interp, rc);
  Tcl_DecrRefCount(script);
  Tcl_Release(interp);
}

/* Process exit: joins the engine's I/O thread before the library's
 * statics go away. cd is the engine handle (a freed one is harmless). */
static void uvs_tcl_exit(ClientData cd) {
  uvs_engine_free((uvs_engine *)cd);
}

/* The interpreter is deleted (or the watch replaced): stop watching and
 * free the queue and the engine (its streams and servers are closed). */
static void uvs_tcl_unwatch(ClientData cd, Tcl_Interp *interp) {
  uvs_tcl_watch_data *w = (uvs_tcl_watch_data *)cd;
  (void)interp;
  Tcl_DeleteFileHandler(w->fd);
  Tcl_DeleteExitHandler(uvs_tcl_exit, (ClientData)w->engine);
  Tcl_DecrRefCount(w->script);
  uvs_cq_free(w->cq);
  uvs_engine_free(w->engine);
  ckfree((char *)w);
}
%}

%inline %{
/* Hands engine and cq to the interpreter: script is evaluated at global
 * level whenever cq's descriptor is readable; both are freed when the
 * interpreter is deleted or the process exits. 0 or a negative code
 * (UVS_EINVAL when the interpreter already has its engine). */
int uvs_tcl_watch(Tcl_Interp *interp, uvs_engine *engine, uvs_cq *cq,
                  Tcl_Obj *script) {
  if (Tcl_GetAssocData(interp, UVS_TCL_WATCH_KEY, NULL))
    return UVS_EINVAL;
  int fd = uvs_cq_fd(cq);
  if (fd < 0)
    return fd;
  uvs_tcl_watch_data *w = (uvs_tcl_watch_data *)ckalloc(sizeof *w);
  w->interp = interp;
  w->engine = engine;
  w->cq = cq;
  w->fd = fd;
  w->script = script;
  Tcl_IncrRefCount(script);
  Tcl_CreateFileHandler(fd, TCL_READABLE, uvs_tcl_readable, (ClientData)w);
  Tcl_CreateExitHandler(uvs_tcl_exit, (ClientData)engine);
  Tcl_SetAssocData(interp, UVS_TCL_WATCH_KEY, uvs_tcl_unwatch, (ClientData)w);
  return 0;
}
%}
