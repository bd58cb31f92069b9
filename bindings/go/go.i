/*
 * go.i - the Go section of bindings/uvstreams.i.
 *
 * Design: SWIG generates a low-level cgo package (github.com/uvstreams/uvstreams-go/internal/cuvs)
 * whose functions keep the C API's shape (int status first) but speak plain
 * Go types, so the idiomatic package above it needs no unsafe code:
 * - handles are uintptr (the C API validates every handle, so a stale one
 *   gives UVS_EBADHANDLE, never a crash) and 0 is NULL; handle outputs are
 *   *uintptr;
 * - byte inputs are []byte, passed to C without a copy (cgo allows a Go
 *   pointer to pointer-free memory for the duration of a call, and the
 *   library copies before returning);
 * - byte outputs are *[]byte: C fills a small Go-allocated [2]uintptr
 *   (pointer, length) and the Go side copies the bytes (C.GoBytes), then
 *   releases library memory with uvs_free (borrowed op data is only copied);
 * - library strings (char **) become *string, int *port becomes *int;
 * - buffer arrays ([][]byte) cannot be passed to C as they are (they hold Go
 *   pointers), so the Go side packs them into one []byte (a count, the
 *   lengths, then the bytes) that C unpacks into a uvs_buf array for the call.
 * The blocking calls need no treatment: a cgo call blocks only its own OS
 * thread, the Go scheduler keeps running every other goroutine.
 * uvs_last_error is thread-local: the Go layer locks the goroutine to its
 * thread between a failing call and reading the detail.
 */

%insert(cgo_comment) %{
#cgo pkg-config: uvstreams
%}

/* ---- handles: uintptr -------------------------------------------------------- */

%define UVS_GO_HANDLE(TYPE)
%typemap(gotype) TYPE *, const TYPE * "uintptr"
%typemap(in) TYPE *, const TYPE * %{ $1 = ($1_ltype)$input; %}
%typemap(gotype) TYPE ** "*uintptr"
%typemap(in) TYPE ** %{ $1 = ($1_ltype)$input; %}
%enddef

UVS_GO_HANDLE(uvs_options)
UVS_GO_HANDLE(uvs_engine)
UVS_GO_HANDLE(uvs_cq)
UVS_GO_HANDLE(uvs_op)
UVS_GO_HANDLE(uvs_stream)
UVS_GO_HANDLE(uvs_server)
UVS_GO_HANDLE(uvs_tls_config)

/* ---- byte input: []byte ---------------------------------------------------- */

%typemap(gotype) (const void *data, size_t len) "[]byte"
%typemap(in) (const void *data, size_t len) %{
  $1 = $input.array;
  $2 = (size_t)$input.len;
%}
%apply (const void *data, size_t len) { (const void *sep, size_t len),
                                         (const void *sep, size_t seplen),
                                         (const void *pem, size_t len),
                                         (const void *cert, size_t cert_len),
                                         (const void *key, size_t key_len) };

/* ---- arrays of buffers: [][]byte, packed ------------------------------------- */

%insert(go_wrapper) %{
// swigPackBufs lays bufs out as one pointer-free []byte for C: the count
// and each length as native uint64s, then the bytes one after the other.
func swigPackBufs(bufs [][]byte) []byte {
	size := 8 * (1 + len(bufs))
	for _, b := range bufs {
		size += len(b)
	}
	out := make([]byte, 8*(1+len(bufs)), size+1)
	*(*uint64)(unsafe.Pointer(&out[0])) = uint64(len(bufs))
	for i, b := range bufs {
		*(*uint64)(unsafe.Pointer(&out[8*(1+i)])) = uint64(len(b))
		out = append(out, b...)
	}
	return out
}
%}

%{
#include <stdlib.h>
#include <string.h>

/* Unpacks swigPackBufs' layout into a malloc'd uvs_buf array pointing into
 * the Go bytes (NULL when out of memory). */
static uvs_buf *uvs_go_unpack_bufs(const unsigned char *p, size_t *n) {
  uint64_t count;
  memcpy(&count, p, sizeof count);
  uvs_buf *bufs = (uvs_buf *)calloc(count ? count : 1, sizeof *bufs);
  if (!bufs)
    return NULL;
  const unsigned char *data = p + 8 * (1 + count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t len;
    memcpy(&len, p + 8 * (1 + i), sizeof len);
    bufs[i].base = data;
    bufs[i].len = (size_t)len;
    data += len;
  }
  *n = (size_t)count;
  return bufs;
}
%}

%typemap(gotype) (const uvs_buf *bufs, size_t n) "[][]byte"
%typemap(imtype) (const uvs_buf *bufs, size_t n) "[]byte"
%typemap(goin) (const uvs_buf *bufs, size_t n) "$result = swigPackBufs($input)"
%typemap(in) (const uvs_buf *bufs, size_t n) (uvs_buf *held = NULL) {
  held = uvs_go_unpack_bufs((const unsigned char *)$input.array, &$2);
  if (!held)
    return UVS_ENOMEM;
  $1 = held;
}
%typemap(freearg) (const uvs_buf *bufs, size_t n) {
  free(held$argnum);
}
%apply (const uvs_buf *bufs, size_t n) { (const uvs_buf *seps, size_t nseps) };

/* ---- byte output: *[]byte ---------------------------------------------------- */

/* Library-allocated bytes (blocking reads, uvs_stream_get_bytes): copied,
 * then freed; nil when the library returned none. */
%typemap(gotype) (void **data, size_t *len) "*[]byte"
%typemap(imtype) (void **data, size_t *len) "*[2]uintptr"
%typemap(goin) (void **data, size_t *len) "$result = new([2]uintptr)"
%typemap(in) (void **data, size_t *len) %{
  $1 = (void **)&((uintptr_t *)$input)[0];
  $2 = (size_t *)&((uintptr_t *)$input)[1];
%}
%typemap(goargout) (void **data, size_t *len) %{
	if $input[0] != 0 {
		*$1 = append([]byte{}, unsafe.Slice((*byte)(unsafe.Pointer($input[0])), $input[1])...)
		Uvs_free($input[0])
	}
%}

/* Borrowed op data: copied (never nil: empty for no bytes). */
%typemap(gotype) (const void **data, size_t *len) "*[]byte"
%typemap(imtype) (const void **data, size_t *len) "*[2]uintptr"
%typemap(goin) (const void **data, size_t *len) "$result = new([2]uintptr)"
%typemap(in) (const void **data, size_t *len) %{
  $1 = ($1_ltype)&((uintptr_t *)$input)[0];
  $2 = (size_t *)&((uintptr_t *)$input)[1];
%}
%typemap(goargout) (const void **data, size_t *len) %{
	*$1 = []byte{}
	if $input[0] != 0 {
		*$1 = append([]byte{}, unsafe.Slice((*byte)(unsafe.Pointer($input[0])), $input[1])...)
	}
%}

/* Library-allocated strings: *string ("" when not set), freed. */
%typemap(gotype) char **out "*string"
%typemap(imtype) char **out "*uintptr"
%typemap(goin) char **out "$result = new(uintptr)"
%typemap(in) char **out %{ $1 = (char **)$input; %}
%typemap(goargout) char **out %{
	if *$input != 0 {
		*$1 = C.GoString((*C.char)(unsafe.Pointer(*$input)))
		Uvs_free(*$input)
	}
%}
%apply char **out { char **host };

/* Integer out-parameters. */
%typemap(gotype) int64_t *out, int64_t *consumed "*int64"
%typemap(in) int64_t *out, int64_t *consumed %{ $1 = (int64_t *)$input; %}
%typemap(gotype) int *port "*int"
%typemap(imtype) int *port "*int32"
%typemap(goin) int *port "$result = new(int32)"
%typemap(in) int *port %{ $1 = (int *)$input; %}
%typemap(goargout) int *port %{ *$1 = int(*$input) %}

/* Completion arrays: []uintptr of op handles, filled up to the result. */
%typemap(gotype) (uvs_op **ops, int max) "[]uintptr"
%typemap(in) (uvs_op **ops, int max) %{
  $1 = (uvs_op **)$input.array;
  $2 = (int)$input.len;
%}
