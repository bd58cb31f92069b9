/*
 * uvstreams.i - the one SWIG interface of the uvstreams C API, shared by
 * every language binding.
 *
 * Design: the C header is wrapped as it is (flat uvs_* functions, negative
 * int status codes, opaque validated handles); each language adds only its
 * typemaps for the few canonical argument shapes of the header (handles,
 * byte input (const void *, size_t), byte output (void **, size_t *),
 * borrowed op data, library-owned strings, integer out-parameters, buffer
 * arrays) and, where it has one, its thread/GIL policy. Language sections
 * live in bindings/<language>/<language>.i and are included below before the
 * header is parsed, so their typemaps and features apply to it. The calls
 * that can block are listed once here (UVS_BLOCKING_CALLS) so that every
 * language can give them its own treatment (Python releases the GIL around
 * exactly these).
 */
%module uvstreams_c

%{
#include "uvstreams.h"
%}

%include <stdint.i>

/* The functions that may wait: everything else returns within a mutex. */
%define UVS_BLOCKING_CALLS(FEATURE)
FEATURE uvs_engine_free;
FEATURE uvs_cq_wait;
FEATURE uvs_cq_next;
FEATURE uvs_op_wait;
FEATURE uvs_connect_tcp;
FEATURE uvs_connect_unix;
FEATURE uvs_stream_read;
FEATURE uvs_stream_readexactly;
FEATURE uvs_stream_readuntil;
FEATURE uvs_stream_readuntil_any;
FEATURE uvs_stream_readline;
FEATURE uvs_stream_drain;
FEATURE uvs_stream_start_tls;
FEATURE uvs_stream_wait_closed;
FEATURE uvs_server_listen_tcp;
FEATURE uvs_server_accept;
FEATURE uvs_server_wait_closed;
%enddef

/* The enum of operation kinds and the function returning one share a name;
 * the constants (UVS_OP_*) are what the languages use. */
%rename(uvs_op_kinds) uvs_op_kind;
%rename(uvs_op_kind) uvs_op_kind(uvs_op *);

/* Reads into caller memory need memory that outlives the call, which no
 * scripting language hands out safely; bindings use them from their own C
 * (Python's uvstreams.sync reads into the bytes object it returns). */
%ignore uvs_stream_read_into_start;
%ignore uvs_stream_read_into;
/* An SSL_CTX and a release callback are C-level things: a binding that
 * shares its language's OpenSSL context wraps this in its own C (Python:
 * uvs_py_adopt_ssl_context). */
%ignore uvs_tls_config_adopt;

#if defined(SWIGPYTHON)
%include "python/python.i"
#elif defined(SWIGRUBY)
%include "ruby/ruby.i"
#elif defined(SWIGLUA)
%include "lua/lua.i"
#elif defined(SWIGTCL)
%include "tcl/tcl.i"
#elif defined(SWIGPERL)
%include "perl/perl.i"
#elif defined(SWIGJAVA)
%include "java/java.i"
#elif defined(SWIGGO)
%include "go/go.i"
#endif

%include "uvstreams.h"
