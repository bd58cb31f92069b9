/*
 * perl.i - the Perl 5 section of bindings/uvstreams.i.
 *
 * Design: the generated XS module (UVStreams::Raw, swig -perl5 -const
 * -module UVStreams::Raw) is the C API one to one, under the idiomatic
 * package UVStreams (bindings/perl/lib), which alone maps codes to
 * exceptions:
 * - handles are plain Perl integers (the C API validates every handle, so
 *   a stale or forged one gives UVS_EBADHANDLE, never a crash) and undef is
 *   NULL; no SWIG pointer objects, so a handle survives being copied,
 *   stored in a hash or compared with ==;
 * - byte input is any Perl string, taken as bytes (SvPVbyte: a string with
 *   characters above 0xFF dies with "Wide character", as syswrite does);
 *   byte output is a byte string (library memory is uvs_free'd at once),
 *   undef when the library returned none; library strings are byte strings;
 * - a function returns its status first, followed by its out-values, as a
 *   list: my ($rc, $stream) = uvs_connect_tcp($e, $host, $port, undef, -1);
 * - arrays of buffers (writev, readuntil_any) are array references;
 * - UVS_BLOCKING_CALLS get no treatment: Perl has no global lock to
 *   release, and its signal handlers run between opcodes, so the Perl layer
 *   waits on operations in short slices instead of making long blocking
 *   calls (a $SIG{ALRM} handler that dies then interrupts a wait).
 * Constants (UVS_E*, UVS_OP_*, UVS_TLS_*) are constant subs (-const).
 */

/* uvs_buf only appears in the buffer-array arguments typemapped below. */
%ignore uvs_buf;

/* ---- handles: Perl integers ------------------------------------------------ */

%{
static SV *uvs_pl_handle(pTHX_ const void *h) {
  return h ? sv_2mortal(newSVuv(PTR2UV(h))) : &PL_sv_undef;
}

/* Zeroed scratch memory that lives until the current statement ends (the
 * buffer of a mortal SV): nothing to free on any path, croak included. */
static void *uvs_pl_scratch(pTHX_ size_t size) {
  SV *sv = sv_2mortal(newSV(size ? size : 1));
  Zero(SvPVX(sv), size ? size : 1, char);
  return SvPVX(sv);
}

/* Appends one out-value to the XS return list. */
#define UVS_PL_PUSH(value)                                                     \
  do {                                                                         \
    if (argvi >= items)                                                        \
      EXTEND(sp, argvi + 1);                                                   \
    ST(argvi) = (value);                                                       \
    argvi++;                                                                   \
  } while (0)
%}

%define UVS_PL_HANDLE(TYPE)
%typemap(in) TYPE *, const TYPE * {
  $1 = SvOK($input) ? ($1_ltype)INT2PTR(void *, SvUV($input)) : NULL;
}
%typemap(in, numinputs=0) TYPE ** (TYPE *handle_out = NULL) {
  $1 = &handle_out;
}
%typemap(argout) TYPE ** {
  UVS_PL_PUSH(uvs_pl_handle(aTHX_ *$1));
}
%enddef

UVS_PL_HANDLE(uvs_options)
UVS_PL_HANDLE(uvs_engine)
UVS_PL_HANDLE(uvs_cq)
UVS_PL_HANDLE(uvs_op)
UVS_PL_HANDLE(uvs_stream)
UVS_PL_HANDLE(uvs_server)
UVS_PL_HANDLE(uvs_tls_config)

/* ---- byte input: any string, as bytes -------------------------------------- */

%typemap(in) (const void *data, size_t len) {
  STRLEN in_len;
  $1 = SvPVbyte($input, in_len);
  $2 = (size_t)in_len;
}
%apply (const void *data, size_t len) { (const void *sep, size_t len),
                                         (const void *sep, size_t seplen),
                                         (const void *pem, size_t len),
                                         (const void *cert, size_t cert_len),
                                         (const void *key, size_t key_len) };

/* ---- arrays of buffers: an array reference of strings ------------------------ */

%{
/* The elements of an array reference as uvs_bufs pointing into the
 * element strings (scratch memory); dies when it is not one. */
static uvs_buf *uvs_pl_bufs(pTHX_ SV *ref, size_t *n) {
  if (!SvROK(ref) || SvTYPE(SvRV(ref)) != SVt_PVAV)
    croak("expected an array reference of byte strings");
  AV *av = (AV *)SvRV(ref);
  SSize_t count = av_top_index(av) + 1;
  uvs_buf *bufs = (uvs_buf *)uvs_pl_scratch(aTHX_ (size_t)count * sizeof *bufs);
  for (SSize_t i = 0; i < count; ++i) {
    SV **elem = av_fetch(av, i, 0);
    STRLEN len = 0;
    bufs[i].base = elem ? SvPVbyte(*elem, len) : "";
    bufs[i].len = (size_t)len;
  }
  *n = (size_t)count;
  return bufs;
}
%}

%typemap(in) (const uvs_buf *bufs, size_t n) {
  $1 = uvs_pl_bufs(aTHX_ $input, &$2);
}
%apply (const uvs_buf *bufs, size_t n) { (const uvs_buf *seps, size_t nseps) };

/* ---- byte output -------------------------------------------------------------- */

/* Library-allocated bytes (blocking reads, get_bytes): a string, or undef. */
%typemap(in, numinputs=0) (void **data, size_t *len) (void *out_data = NULL, size_t out_len = 0) {
  $1 = &out_data;
  $2 = &out_len;
}
%typemap(argout) (void **data, size_t *len) {
  SV *bytes = out_data$argnum
                  ? sv_2mortal(newSVpvn((const char *)out_data$argnum, out_len$argnum))
                  : &PL_sv_undef;
  uvs_free(out_data$argnum);
  out_data$argnum = NULL;
  UVS_PL_PUSH(bytes);
}
%typemap(freearg) (void **data, size_t *len) {
  uvs_free(out_data$argnum);
}

/* Borrowed op data: copied into a string. */
%typemap(in, numinputs=0) (const void **data, size_t *len) (const void *out_data = NULL, size_t out_len = 0) {
  $1 = ($1_ltype)&out_data;
  $2 = &out_len;
}
%typemap(argout) (const void **data, size_t *len) {
  UVS_PL_PUSH(sv_2mortal(newSVpvn(out_data$argnum ? (const char *)out_data$argnum : "",
                                  out_len$argnum)));
}

/* Library-allocated strings: a string, or undef when not set. */
%typemap(in, numinputs=0) char **out (char *out_str = NULL) {
  $1 = &out_str;
}
%typemap(argout) char **out {
  SV *str = out_str$argnum ? sv_2mortal(newSVpv(out_str$argnum, 0)) : &PL_sv_undef;
  uvs_free(out_str$argnum);
  out_str$argnum = NULL;
  UVS_PL_PUSH(str);
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
  UVS_PL_PUSH(sv_2mortal(newSViv((IV)out_int$argnum)));
}
%apply int64_t *out { int64_t *consumed };
%typemap(in, numinputs=0) int *port (int out_port = -1) {
  $1 = &out_port;
}
%typemap(argout) int *port {
  UVS_PL_PUSH(sv_2mortal(newSViv(out_port$argnum)));
}

/* Completion arrays: the argument is the maximum, the out-value an array
 * reference of the op handles. */
%typemap(in) (uvs_op **ops, int max) {
  IV max_ops = SvIV($input);
  if (max_ops <= 0 || max_ops > 65536)
    croak("max must be in 1..65536");
  $1 = (uvs_op **)uvs_pl_scratch(aTHX_ (size_t)max_ops * sizeof(uvs_op *));
  $2 = (int)max_ops;
}
%typemap(argout) (uvs_op **ops, int max) {
  AV *list = newAV();
  for (int i = 0; i < result; ++i)
    av_push(list, newSVuv(PTR2UV($1[i])));
  UVS_PL_PUSH(sv_2mortal(newRV_noinc((SV *)list)));
}
