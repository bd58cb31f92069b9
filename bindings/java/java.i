/*
 * java.i - the Java section of bindings/uvstreams.i.
 *
 * Design: the generated classes (package io.uvstreams.internal: uvstreams_c,
 * uvstreams_cJNI, uvstreams_cConstants) are the C API as it is, one static
 * method per function, under the idiomatic layer of bindings/java/src:
 * - handles are plain Java longs (the C API validates every handle, so a
 *   stale or forged one gives UVS_EBADHANDLE, never a crash) and 0 is NULL;
 *   no proxy class per handle type, no finalizer;
 * - byte inputs are byte[] (copied out of the Java heap for the call: the
 *   library copies again before returning, so nothing is pinned), buffer
 *   arrays are byte[][];
 * - out-parameters are one-element holder arrays, Java's usual shape for
 *   them: long[] for handles and int64_t, int[] for ports, String[] for
 *   library strings and byte[][] for bytes (library memory is uvs_free'd,
 *   borrowed op data is copied); the function still returns its int status;
 * - a call that throws (a null or empty holder, no memory) releases what
 *   the arguments before it had copied ($cleanup) and never reaches C;
 * - uint64_t (op tags) is a Java long with the same bits, enums and macros
 *   are compile-time int constants (no JNI call to read one).
 * Thread policy: none is needed. A Java thread inside a native method does
 * not hold up other threads nor the garbage collector, so the calls listed
 * in UVS_BLOCKING_CALLS simply block their own thread; that holds because no
 * typemap here enters a JNI critical region (Get*Critical), which would stop
 * the collector while a call blocks. The idiomatic layer waits on
 * operations in short slices so that Thread.interrupt() is noticed.
 */

%include <enumsimple.swg>
%javaconst(1);

/* The JNI library is loaded before the first call by the hand-written
 * io.uvstreams.internal.Loader (-Duvstreams.jni=<path>, else
 * java.library.path). */
%pragma(java) jniclasscode=%{
  static {
    io.uvstreams.internal.Loader.load();
  }
%}

/* ---- handles: Java longs ---------------------------------------------------- */

%define UVS_JAVA_HANDLE(TYPE)
%typemap(jni) TYPE *, const TYPE * "jlong"
%typemap(jtype) TYPE *, const TYPE * "long"
%typemap(jstype) TYPE *, const TYPE * "long"
%typemap(javain) TYPE *, const TYPE * "$javainput"
%typemap(in) TYPE *, const TYPE * %{
  $1 = ($1_ltype)(intptr_t)$input;
%}
%typemap(jni) TYPE ** "jlongArray"
%typemap(jtype) TYPE ** "long[]"
%typemap(jstype) TYPE ** "long[]"
%typemap(javain) TYPE ** "$javainput"
%typemap(in) TYPE ** (TYPE *handle_out = NULL) %{
  if (!uvs_java_holder(jenv, $input)) {
    $cleanup
    return $null;
  }
  $1 = &handle_out;
%}
%typemap(argout) TYPE ** %{
  {
    jlong h = (jlong)(intptr_t)handle_out$argnum;
    (*jenv)->SetLongArrayRegion(jenv, $input, 0, 1, &h);
  }
%}
%enddef

%{
#include <stdlib.h>
#include <string.h>

/* A holder for an out-parameter: a non-null array of at least one element
 * (else a Java exception is pending and 0 is returned). */
static int uvs_java_holder(JNIEnv *jenv, jarray holder) {
  if (!holder) {
    SWIG_JavaThrowException(jenv, SWIG_JavaNullPointerException, "null out-parameter holder");
    return 0;
  }
  if ((*jenv)->GetArrayLength(jenv, holder) < 1) {
    SWIG_JavaThrowException(jenv, SWIG_JavaIndexOutOfBoundsException, "empty out-parameter holder");
    return 0;
  }
  return 1;
}

/* A malloc'd copy of a byte[] (never NULL for a non-null array; *len set),
 * or NULL with a Java exception pending. */
static void *uvs_java_bytes_in(JNIEnv *jenv, jbyteArray array, size_t *len) {
  if (!array) {
    SWIG_JavaThrowException(jenv, SWIG_JavaNullPointerException, "null byte array");
    return NULL;
  }
  jsize n = (*jenv)->GetArrayLength(jenv, array);
  void *copy = malloc(n ? (size_t)n : 1);
  if (!copy) {
    SWIG_JavaThrowException(jenv, SWIG_JavaOutOfMemoryError, "copying a byte array");
    return NULL;
  }
  (*jenv)->GetByteArrayRegion(jenv, array, 0, n, (jbyte *)copy);
  *len = (size_t)n;
  return copy;
}

/* A new byte[] with these bytes stored in holder[0] (null for no data). */
static void uvs_java_bytes_out(JNIEnv *jenv, jobjectArray holder, const void *data, size_t len) {
  jbyteArray array = NULL;
  if (data) {
    array = (*jenv)->NewByteArray(jenv, (jsize)len);
    if (!array)
      return; /* OutOfMemoryError pending */
    (*jenv)->SetByteArrayRegion(jenv, array, 0, (jsize)len, (const jbyte *)data);
  }
  (*jenv)->SetObjectArrayElement(jenv, holder, 0, array);
  if (array)
    (*jenv)->DeleteLocalRef(jenv, array);
}
%}

UVS_JAVA_HANDLE(uvs_options)
UVS_JAVA_HANDLE(uvs_engine)
UVS_JAVA_HANDLE(uvs_cq)
UVS_JAVA_HANDLE(uvs_op)
UVS_JAVA_HANDLE(uvs_stream)
UVS_JAVA_HANDLE(uvs_server)
UVS_JAVA_HANDLE(uvs_tls_config)

/* ---- uint64_t: a long with the same bits ------------------------------------ */

%apply int64_t { uint64_t };

/* uvs_buf is only ever an array argument (byte[][] below): no proxy class. */
%ignore uvs_buf;
/* Library memory never reaches Java: the typemaps copy and free it. */
%ignore uvs_free;

/* ---- byte input: byte[] ------------------------------------------------------ */

%typemap(jni) (const void *data, size_t len) "jbyteArray"
%typemap(jtype) (const void *data, size_t len) "byte[]"
%typemap(jstype) (const void *data, size_t len) "byte[]"
%typemap(javain) (const void *data, size_t len) "$javainput"
%typemap(in) (const void *data, size_t len) (void *copy = NULL) %{
  copy = uvs_java_bytes_in(jenv, $input, &$2);
  if (!copy) {
    $cleanup
    return $null;
  }
  $1 = copy;
%}
%typemap(freearg) (const void *data, size_t len) %{
  free(copy$argnum);
%}
%apply (const void *data, size_t len) { (const void *sep, size_t len),
                                         (const void *sep, size_t seplen),
                                         (const void *pem, size_t len),
                                         (const void *cert, size_t cert_len),
                                         (const void *key, size_t key_len) };

/* ---- arrays of buffers: byte[][] --------------------------------------------- */

%{
/* Copies of every element of a byte[][] as uvs_bufs (one allocation holds
 * the table; each element is its own), or NULL with a Java exception. */
static uvs_buf *uvs_java_bufs_in(JNIEnv *jenv, jobjectArray arrays, size_t *n) {
  if (!arrays) {
    SWIG_JavaThrowException(jenv, SWIG_JavaNullPointerException, "null array of byte arrays");
    return NULL;
  }
  jsize count = (*jenv)->GetArrayLength(jenv, arrays);
  uvs_buf *bufs = (uvs_buf *)calloc(count ? (size_t)count : 1, sizeof *bufs);
  if (!bufs) {
    SWIG_JavaThrowException(jenv, SWIG_JavaOutOfMemoryError, "copying byte arrays");
    return NULL;
  }
  *n = 0;
  for (jsize i = 0; i < count; ++i) {
    jbyteArray a = (jbyteArray)(*jenv)->GetObjectArrayElement(jenv, arrays, i);
    size_t len = 0;
    void *copy = uvs_java_bytes_in(jenv, a, &len);
    if (a)
      (*jenv)->DeleteLocalRef(jenv, a);
    if (!copy) {
      for (size_t j = 0; j < *n; ++j)
        free((void *)bufs[j].base);
      free(bufs);
      return NULL;
    }
    bufs[i].base = copy;
    bufs[i].len = len;
    *n = (size_t)i + 1;
  }
  return bufs;
}

static void uvs_java_bufs_free(uvs_buf *bufs, size_t n) {
  if (!bufs)
    return;
  for (size_t i = 0; i < n; ++i)
    free((void *)bufs[i].base);
  free(bufs);
}
%}

%typemap(jni) (const uvs_buf *bufs, size_t n) "jobjectArray"
%typemap(jtype) (const uvs_buf *bufs, size_t n) "byte[][]"
%typemap(jstype) (const uvs_buf *bufs, size_t n) "byte[][]"
%typemap(javain) (const uvs_buf *bufs, size_t n) "$javainput"
%typemap(in) (const uvs_buf *bufs, size_t n) (uvs_buf *held = NULL, size_t count = 0) %{
  held = uvs_java_bufs_in(jenv, $input, &count);
  if (!held) {
    $cleanup
    return $null;
  }
  $1 = held;
  $2 = count;
%}
%typemap(freearg) (const uvs_buf *bufs, size_t n) %{
  uvs_java_bufs_free(held$argnum, count$argnum);
%}
%apply (const uvs_buf *bufs, size_t n) { (const uvs_buf *seps, size_t nseps) };

/* ---- byte output: byte[][] holders -------------------------------------------- */

/* Library-allocated bytes (blocking reads): holder[0] = the bytes, or null. */
%typemap(jni) (void **data, size_t *len) "jobjectArray"
%typemap(jtype) (void **data, size_t *len) "byte[][]"
%typemap(jstype) (void **data, size_t *len) "byte[][]"
%typemap(javain) (void **data, size_t *len) "$javainput"
%typemap(in) (void **data, size_t *len) (void *out_data = NULL, size_t out_len = 0) %{
  if (!uvs_java_holder(jenv, $input)) {
    $cleanup
    return $null;
  }
  $1 = &out_data;
  $2 = &out_len;
%}
%typemap(argout) (void **data, size_t *len) %{
  uvs_java_bytes_out(jenv, $input, out_data$argnum, out_len$argnum);
%}
%typemap(freearg) (void **data, size_t *len) %{
  uvs_free(out_data$argnum);
%}

/* Borrowed op data: copied into holder[0] (an empty array when none). */
%typemap(jni) (const void **data, size_t *len) "jobjectArray"
%typemap(jtype) (const void **data, size_t *len) "byte[][]"
%typemap(jstype) (const void **data, size_t *len) "byte[][]"
%typemap(javain) (const void **data, size_t *len) "$javainput"
%typemap(in) (const void **data, size_t *len) (const void *out_data = NULL, size_t out_len = 0) %{
  if (!uvs_java_holder(jenv, $input)) {
    $cleanup
    return $null;
  }
  $1 = ($1_ltype)&out_data; /* SWIG's $1_ltype drops the const */
  $2 = &out_len;
%}
%typemap(argout) (const void **data, size_t *len) %{
  uvs_java_bytes_out(jenv, $input, out_data$argnum ? out_data$argnum : "", out_len$argnum);
%}

/* ---- strings and integers out: String[], long[], int[] holders ---------------- */

%typemap(jni) char **out "jobjectArray"
%typemap(jtype) char **out "String[]"
%typemap(jstype) char **out "String[]"
%typemap(javain) char **out "$javainput"
%typemap(in) char **out (char *out_str = NULL) %{
  if (!uvs_java_holder(jenv, $input)) {
    $cleanup
    return $null;
  }
  $1 = &out_str;
%}
%typemap(argout) char **out %{
  {
    jstring str = out_str$argnum ? (*jenv)->NewStringUTF(jenv, out_str$argnum) : NULL;
    if (!out_str$argnum || str) {
      (*jenv)->SetObjectArrayElement(jenv, $input, 0, str);
      if (str)
        (*jenv)->DeleteLocalRef(jenv, str);
    }
  }
%}
%typemap(freearg) char **out %{
  uvs_free(out_str$argnum);
%}
%apply char **out { char **host };

%typemap(jni) int64_t *out "jlongArray"
%typemap(jtype) int64_t *out "long[]"
%typemap(jstype) int64_t *out "long[]"
%typemap(javain) int64_t *out "$javainput"
%typemap(in) int64_t *out (int64_t out_int = -1) %{
  if (!uvs_java_holder(jenv, $input)) {
    $cleanup
    return $null;
  }
  $1 = &out_int;
%}
%typemap(argout) int64_t *out %{
  {
    jlong v = (jlong)out_int$argnum;
    (*jenv)->SetLongArrayRegion(jenv, $input, 0, 1, &v);
  }
%}
%apply int64_t *out { int64_t *consumed };

%typemap(jni) int *port "jintArray"
%typemap(jtype) int *port "int[]"
%typemap(jstype) int *port "int[]"
%typemap(javain) int *port "$javainput"
%typemap(in) int *port (int out_port = -1) %{
  if (!uvs_java_holder(jenv, $input)) {
    $cleanup
    return $null;
  }
  $1 = &out_port;
%}
%typemap(argout) int *port %{
  {
    jint v = (jint)out_port$argnum;
    (*jenv)->SetIntArrayRegion(jenv, $input, 0, 1, &v);
  }
%}

/* ---- completion arrays: long[] (its length is the maximum) -------------------- */

%typemap(jni) (uvs_op **ops, int max) "jlongArray"
%typemap(jtype) (uvs_op **ops, int max) "long[]"
%typemap(jstype) (uvs_op **ops, int max) "long[]"
%typemap(javain) (uvs_op **ops, int max) "$javainput"
%typemap(in) (uvs_op **ops, int max) (uvs_op **out_ops = NULL) %{
  if (!uvs_java_holder(jenv, $input)) {
    $cleanup
    return $null;
  }
  $2 = (int)(*jenv)->GetArrayLength(jenv, $input);
  out_ops = (uvs_op **)calloc((size_t)$2, sizeof *out_ops);
  if (!out_ops) {
    SWIG_JavaThrowException(jenv, SWIG_JavaOutOfMemoryError, "completion array");
    $cleanup
    return $null;
  }
  $1 = out_ops;
%}
%typemap(argout) (uvs_op **ops, int max) %{
  for (int i = 0; i < result; ++i) {
    jlong h = (jlong)(intptr_t)out_ops$argnum[i];
    (*jenv)->SetLongArrayRegion(jenv, $input, i, 1, &h);
  }
%}
%typemap(freearg) (uvs_op **ops, int max) %{
  free(out_ops$argnum);
%}
