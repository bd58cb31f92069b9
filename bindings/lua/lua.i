/*
 * lua.i - the Lua 5.4 section of bindings/uvstreams.i.
 *
 * Design: the generated module (uvstreams_c) is the C API as it is, with
 * only the canonical argument shapes of the header mapped to Lua values;
 * everything idiomatic (objects, error values, timeouts in seconds) lives in
 * the pure-Lua module bindings/lua/uvstreams.lua on top of it.
 * - handles are light userdata (the C API validates every handle, so a
 *   stale one gives UVS_EBADHANDLE, never a crash; equal handles compare
 *   equal and can key tables), nil is NULL; a SWIG-typed full userdata per
 *   handle would cost an allocation per call and break that equality;
 * - integers are Lua integers both ways (SWIG's defaults go through
 *   lua_Number, which would turn codes into floats and round 64-bit counts);
 *   an argument must be a number with an integral value in the C type's
 *   range;
 * - byte inputs are Lua strings (binary-safe, never coerced from numbers),
 *   byte outputs are Lua strings (library memory is uvs_free'd), nil when
 *   the library gave none; buffer arrays are sequences of strings;
 * - functions return their int status first, followed by the out-values.
 * Lua has no threads to release while a call blocks, so UVS_BLOCKING_CALLS
 * needs no feature here: the Lua layer waits on operations in short slices
 * instead, so that Ctrl-C (a hook run between Lua instructions) gets through.
 */

/* Lua takes arrays of separators/buffers as tables of strings. */
%ignore uvs_buf;

%{
#include <limits.h>

/* A handle argument: light userdata or nil. */
static int uvs_lua_is_handle(lua_State *L, int i) {
  return lua_islightuserdata(L, i) || lua_isnil(L, i);
}

/* A number with an integral value in [lo, hi]. */
static int uvs_lua_is_int_in(lua_State *L, int i, lua_Integer lo,
                             lua_Integer hi) {
  int ok = 0;
  lua_Integer v;
  if (lua_type(L, i) != LUA_TNUMBER)
    return 0;
  v = lua_tointegerx(L, i, &ok);
  return ok && v >= lo && v <= hi;
}

static int uvs_lua_is_int(lua_State *L, int i) {
  return uvs_lua_is_int_in(L, i, INT_MIN, INT_MAX);
}

static int uvs_lua_is_int64(lua_State *L, int i) {
  return uvs_lua_is_int_in(L, i, LUA_MININTEGER, LUA_MAXINTEGER);
}

static int uvs_lua_is_string(lua_State *L, int i) {
  return lua_type(L, i) == LUA_TSTRING;
}
%}

/* ---- handles: light userdata ------------------------------------------------ */

%define UVS_LUA_HANDLE(TYPE)
%typemap(in, checkfn="uvs_lua_is_handle") TYPE *, const TYPE *
%{ $1 = ($1_ltype)lua_touserdata(L, $input); %}
%typemap(in, numinputs=0) TYPE ** (TYPE *handle_out = NULL)
%{ $1 = &handle_out; %}
%typemap(argout) TYPE ** {
  if (*$1)
    lua_pushlightuserdata(L, (void *)*$1);
  else
    lua_pushnil(L);
  SWIG_arg++;
}
%enddef

UVS_LUA_HANDLE(uvs_options)
UVS_LUA_HANDLE(uvs_engine)
UVS_LUA_HANDLE(uvs_cq)
UVS_LUA_HANDLE(uvs_op)
UVS_LUA_HANDLE(uvs_stream)
UVS_LUA_HANDLE(uvs_server)
UVS_LUA_HANDLE(uvs_tls_config)

/* ---- integers: lua_Integer both ways ---------------------------------------- */

%typemap(in, checkfn="uvs_lua_is_int") int, enum SWIGTYPE
%{ $1 = ($1_ltype)lua_tointeger(L, $input); %}
%typemap(in, checkfn="uvs_lua_is_int64") int64_t, uint64_t
%{ $1 = ($1_ltype)lua_tointeger(L, $input); %}
%typemap(out) int, unsigned, int64_t, uint64_t
%{ lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; %}

/* ---- byte input: a Lua string ------------------------------------------------- */

%typemap(in, checkfn="uvs_lua_is_string") (const void *data, size_t len) {
  size_t in_len = 0;
  $1 = ($1_ltype)lua_tolstring(L, $input, &in_len);
  $2 = in_len;
}
%apply (const void *data, size_t len) { (const void *sep, size_t len),
                                         (const void *sep, size_t seplen),
                                         (const void *pem, size_t len),
                                         (const void *cert, size_t cert_len),
                                         (const void *key, size_t key_len) };

/* ---- arrays of buffers: a sequence of strings --------------------------------- */

%{
/* The strings of the sequence at index i as uvs_bufs in a userdata pushed
 * on the stack (collected with it; the strings stay referenced by the
 * table, itself an argument, until the call returns). -1 if not a
 * sequence of strings. */
static int uvs_lua_bufs(lua_State *L, int i, uvs_buf **bufs, size_t *n) {
  size_t count;
  if (!lua_istable(L, i))
    return -1;
  count = (size_t)luaL_len(L, i);
  *bufs = (uvs_buf *)lua_newuserdatauv(L, (count ? count : 1) * sizeof **bufs, 0);
  for (size_t k = 0; k < count; ++k) {
    int type = lua_geti(L, i, (lua_Integer)k + 1);
    (*bufs)[k].base = lua_tolstring(L, -1, &(*bufs)[k].len);
    lua_pop(L, 1);
    if (type != LUA_TSTRING)
      return -1;
  }
  *n = count;
  return 0;
}
%}

%typemap(in) (const uvs_buf *bufs, size_t n) {
  if (uvs_lua_bufs(L, $input, (uvs_buf **)&$1, &$2) < 0)
    SWIG_fail_arg("$symname", $argnum, "table of strings");
}
%apply (const uvs_buf *bufs, size_t n) { (const uvs_buf *seps, size_t nseps) };

/* ---- byte output ------------------------------------------------------------- */

/* Library-allocated bytes (blocking reads): a string, or nil when none. */
%typemap(in, numinputs=0) (void **data, size_t *len) (void *out_data = NULL, size_t out_len = 0)
%{ $1 = &out_data; $2 = &out_len; %}
%typemap(argout) (void **data, size_t *len) {
  if (out_data$argnum)
    lua_pushlstring(L, (const char *)out_data$argnum, out_len$argnum);
  else
    lua_pushnil(L);
  SWIG_arg++;
  uvs_free(out_data$argnum);
  out_data$argnum = NULL;
}
%typemap(freearg) (void **data, size_t *len)
%{ uvs_free(out_data$argnum); %}

/* Borrowed op data: copied into a string. */
%typemap(in, numinputs=0) (const void **data, size_t *len) (const void *out_data = NULL, size_t out_len = 0)
%{ $1 = ($1_ltype)&out_data; $2 = &out_len; %}
%typemap(argout) (const void **data, size_t *len) {
  lua_pushlstring(L, out_data$argnum ? (const char *)out_data$argnum : "", out_len$argnum);
  SWIG_arg++;
}

/* Library-allocated strings: a string, or nil when not set. */
%typemap(in, numinputs=0) char **out (char *out_str = NULL)
%{ $1 = &out_str; %}
%typemap(argout) char **out {
  if (out_str$argnum)
    lua_pushstring(L, out_str$argnum);
  else
    lua_pushnil(L);
  SWIG_arg++;
  uvs_free(out_str$argnum);
  out_str$argnum = NULL;
}
%typemap(freearg) char **out
%{ uvs_free(out_str$argnum); %}
%apply char **out { char **host };

/* Integer out-parameters. */
%typemap(in, numinputs=0) int64_t *out (int64_t out_int = -1)
%{ $1 = &out_int; %}
%typemap(argout) int64_t *out
%{ lua_pushinteger(L, (lua_Integer)out_int$argnum); SWIG_arg++; %}
%apply int64_t *out { int64_t *consumed };
%typemap(in, numinputs=0) int *port (int out_port = -1)
%{ $1 = &out_port; %}
%typemap(argout) int *port
%{ lua_pushinteger(L, out_port$argnum); SWIG_arg++; %}

/* Completion arrays: the argument is the maximum, the result a sequence of
 * op handles. */
%typemap(in, checkfn="uvs_lua_is_int") (uvs_op **ops, int max) {
  lua_Integer max_ops = lua_tointeger(L, $input);
  if (max_ops <= 0 || max_ops > 65536)
    SWIG_fail_arg("$symname", $argnum, "count in 1..65536");
  $1 = (uvs_op **)lua_newuserdatauv(L, (size_t)max_ops * sizeof *$1, 0);
  $2 = (int)max_ops;
}
%typemap(argout) (uvs_op **ops, int max) {
  lua_createtable(L, result > 0 ? result : 0, 0);
  for (int k = 0; k < result; ++k) {
    lua_pushlightuserdata(L, (void *)$1[k]);
    lua_rawseti(L, -2, k + 1);
  }
  SWIG_arg++;
}
