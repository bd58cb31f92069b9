/*
 * ruby.i - the Ruby section of bindings/uvstreams.i.
 *
 * Design: the extension (uvstreams_c.so, module UVStreams::C) is the C API
 * as it is, under the small pure-Ruby layer of bindings/ruby/lib:
 * - handles are plain Integers (the C API validates every handle, so a
 *   stale or forged one gives UVS_EBADHANDLE, never a crash) and nil is NULL;
 * - byte inputs take Strings (to_str); a frozen shared copy is what C sees,
 *   so another thread mutating the String while the GVL is released cannot
 *   move its bytes; byte outputs become ASCII-8BIT Strings (library memory is
 *   uvs_free'd), library strings become UTF-8 Strings;
 * - a function with out-parameters returns [status, out...], one without
 *   returns its int as is;
 * - the calls that can block (UVS_BLOCKING_CALLS) run without the GVL
 *   (rb_thread_call_without_gvl2), so other Ruby threads go on meanwhile.
 *   The wrapper is compiled as C++ only to express that once for all of
 *   them: $action becomes the body of a lambda run without the GVL. An
 *   interrupt (Thread#raise, Ctrl-C) that arrives while a uvs_op_wait is
 *   blocked cancels that op (the unblocking function), and one that arrives
 *   during uvs_cq_wait/uvs_cq_next wakes the queue; the other blocking calls
 *   cannot be interrupted and finish first (their timeout bounds them). The
 *   Ruby layer therefore waits on operations, never on those calls.
 */

%{
#include <ruby/thread.h>

/* Runs f() without the GVL; ubf(arg) is Ruby's way to interrupt it. If an
 * interrupt is already pending, f has not run: the interrupt is handled
 * (it usually raises) and f is tried again, so a call never leaks what it
 * would have returned. */
template <typename F>
static void *uvs_rb_trampoline(void *f) {
  (*static_cast<F *>(f))();
  return NULL;
}

template <typename F>
static void uvs_rb_blocking(F f, rb_unblock_function_t *ubf, void *arg) {
  bool ran = false;
  auto run = [&] {
    f();
    ran = true;
  };
  for (;;) {
    rb_thread_call_without_gvl2(uvs_rb_trampoline<decltype(run)>, &run, ubf, arg);
    if (ran)
      return;
    rb_thread_check_ints();
  }
}

static void uvs_rb_cancel_op(void *op) { uvs_op_cancel((uvs_op *)op); }
static void uvs_rb_wake_cq(void *cq) { uvs_cq_wakeup((uvs_cq *)cq); }
%}

/* The gather element is only an argument shape here (Arrays of Strings). */
%ignore uvs_buf;

/* ---- GVL policy ----------------------------------------------------------- */

%define UVS_RB_WITHOUT_GVL
%feature("except", "uvs_rb_blocking([&] { $action }, NULL, NULL);")
%enddef
UVS_BLOCKING_CALLS(UVS_RB_WITHOUT_GVL)

%exception uvs_op_wait %{
  uvs_rb_blocking([&] { $action }, uvs_rb_cancel_op, (void *)arg1);
%}
%exception uvs_cq_wait %{
  uvs_rb_blocking([&] { $action }, uvs_rb_wake_cq, (void *)arg1);
%}
%exception uvs_cq_next %{
  uvs_rb_blocking([&] { $action }, uvs_rb_wake_cq, (void *)arg1);
%}

/* ---- handles: Integers ------------------------------------------------------ */

%{
static void *uvs_rb_to_handle(VALUE v) {
  if (NIL_P(v))
    return NULL;
  return (void *)(uintptr_t)NUM2ULL(v);
}

static VALUE uvs_rb_from_handle(const void *h) {
  return h ? ULL2NUM((uintptr_t)h) : Qnil;
}
%}

%define UVS_RB_HANDLE(TYPE)
%typemap(in) TYPE *, const TYPE * {
  $1 = ($1_ltype)uvs_rb_to_handle($input);
}
%typemap(in, numinputs=0) TYPE ** (TYPE *handle_out = NULL) {
  $1 = &handle_out;
}
%typemap(argout) TYPE ** {
  $result = SWIG_Ruby_AppendOutput($result, uvs_rb_from_handle(*$1));
}
%enddef

UVS_RB_HANDLE(uvs_options)
UVS_RB_HANDLE(uvs_engine)
UVS_RB_HANDLE(uvs_cq)
UVS_RB_HANDLE(uvs_op)
UVS_RB_HANDLE(uvs_stream)
UVS_RB_HANDLE(uvs_server)
UVS_RB_HANDLE(uvs_tls_config)

/* ---- byte input: Strings ------------------------------------------------------ */

%typemap(in) (const void *data, size_t len) (VALUE frozen = Qnil) {
  frozen = rb_str_new_frozen(StringValue($input));
  $1 = RSTRING_PTR(frozen);
  $2 = (size_t)RSTRING_LEN(frozen);
}
%typemap(freearg) (const void *data, size_t len) {
  RB_GC_GUARD(frozen$argnum);
}
%apply (const void *data, size_t len) { (const void *sep, size_t len),
                                         (const void *sep, size_t seplen),
                                         (const void *pem, size_t len),
                                         (const void *cert, size_t cert_len),
                                         (const void *key, size_t key_len) };

/* ---- arrays of buffers: an Array of Strings ------------------------------------ */

%{
/* Fills bufs[] from an Array of Strings; keep (an Array of their frozen
 * copies) must stay referenced while C uses the pointers. */
static void uvs_rb_fill_bufs(VALUE list, uvs_buf *bufs, VALUE keep) {
  for (long i = 0; i < RARRAY_LEN(list); ++i) {
    VALUE s = rb_ary_entry(list, i);
    VALUE frozen = rb_str_new_frozen(StringValue(s));
    rb_ary_push(keep, frozen);
    bufs[i].base = RSTRING_PTR(frozen);
    bufs[i].len = (size_t)RSTRING_LEN(frozen);
  }
}
%}

%typemap(in) (const uvs_buf *bufs, size_t n) (VALUE keep = Qnil, VALUE tmp = 0) {
  VALUE list = rb_Array($input);
  long count = RARRAY_LEN(list);
  keep = rb_ary_new_capa(count);
  $1 = ALLOCV_N(uvs_buf, tmp, count ? count : 1);
  uvs_rb_fill_bufs(list, $1, keep);
  $2 = (size_t)count;
}
%typemap(freearg) (const uvs_buf *bufs, size_t n) {
  RB_GC_GUARD(keep$argnum);
  ALLOCV_END(tmp$argnum);
}
%apply (const uvs_buf *bufs, size_t n) { (const uvs_buf *seps, size_t nseps) };

/* ---- byte output --------------------------------------------------------------- */

/* Library-allocated bytes (blocking reads): a binary String, nil when none. */
%typemap(in, numinputs=0) (void **data, size_t *len) (void *out_data = NULL, size_t out_len = 0) {
  $1 = &out_data;
  $2 = &out_len;
}
%typemap(argout) (void **data, size_t *len) {
  VALUE bytes = out_data$argnum ? rb_str_new((const char *)out_data$argnum, (long)out_len$argnum) : Qnil;
  uvs_free(out_data$argnum);
  out_data$argnum = NULL;
  $result = SWIG_Ruby_AppendOutput($result, bytes);
}
%typemap(freearg) (void **data, size_t *len) {
  uvs_free(out_data$argnum);
}

/* Borrowed op data: copied into a binary String. */
%typemap(in, numinputs=0) (const void **data, size_t *len) (const void *out_data = NULL, size_t out_len = 0) {
  $1 = ($1_ltype)&out_data;
  $2 = &out_len;
}
%typemap(argout) (const void **data, size_t *len) {
  $result = SWIG_Ruby_AppendOutput($result, rb_str_new(out_data$argnum ? (const char *)out_data$argnum : "",
                                              (long)out_len$argnum));
}

/* Library-allocated strings: UTF-8 Strings, nil when not set. */
%typemap(in, numinputs=0) char **out (char *out_str = NULL) {
  $1 = &out_str;
}
%typemap(argout) char **out {
  VALUE str = out_str$argnum ? rb_utf8_str_new_cstr(out_str$argnum) : Qnil;
  uvs_free(out_str$argnum);
  out_str$argnum = NULL;
  $result = SWIG_Ruby_AppendOutput($result, str);
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
  $result = SWIG_Ruby_AppendOutput($result, LL2NUM(out_int$argnum));
}
%apply int64_t *out { int64_t *consumed };
%typemap(in, numinputs=0) int *port (int out_port = -1) {
  $1 = &out_port;
}
%typemap(argout) int *port {
  $result = SWIG_Ruby_AppendOutput($result, INT2NUM(out_port$argnum));
}

/* Completion arrays: the argument is the maximum, the result the handles. */
%typemap(in) (uvs_op **ops, int max) (VALUE tmp = 0) {
  int max_ops = NUM2INT($input);
  if (max_ops <= 0 || max_ops > 65536)
    rb_raise(rb_eArgError, "max must be in 1..65536");
  $1 = ALLOCV_N(uvs_op *, tmp, max_ops);
  $2 = max_ops;
}
%typemap(argout) (uvs_op **ops, int max) {
  VALUE list = rb_ary_new();
  for (int i = 0; i < result; ++i)
    rb_ary_push(list, uvs_rb_from_handle($1[i]));
  $result = SWIG_Ruby_AppendOutput($result, list);
}
%typemap(freearg) (uvs_op **ops, int max) {
  ALLOCV_END(tmp$argnum);
}
