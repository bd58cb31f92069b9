/*
 * repro_write_limits_overflow.c - signed overflow in set_write_limits.
 *
 * cpp/writer.cpp, Stream::set_write_limits: `high = low < 0 ? kDefault :
 * 4 * low` overflows int64_t (undefined behaviour) for low > INT64_MAX / 4.
 * Reached from uvs_stream_set_write_limits(s, -1, low) and from the
 * "write_low" option of every call that makes a stream. Visible with
 * UBSan: make repro SANITIZE=address,undefined ("runtime error: signed
 * integer overflow: 4 * 4611686018427387903", and the program stops); a
 * plain build happens to return UVS_EINVAL after the wrap-around. Found by
 * fuzz_api (set_write_limits with random values).
 * Fix: high = low > INT64_MAX / 4 ? INT64_MAX : 4 * low (or refuse).
 */
#include <uvstreams.h>

#include <stdint.h>
#include <stdio.h>

/* In a sanitizer build, the overflow stops the program (exit status != 0). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) {
  return "halt_on_error=1:print_stacktrace=1";
}

int main(void) {
  uvs_options *o;
  uvs_options_new(&o);
  uvs_options_set_int(o, "write_low", INT64_MAX / 2);
  uvs_stream *r = NULL;
  int rc = uvs_reader_new(NULL, o, &r); /* 4 * (INT64_MAX / 2) */
  printf("reader_new with write_low = INT64_MAX / 2 -> %s\n", uvs_err_name(rc));
  if (r)
    uvs_stream_free(r);
  uvs_options_free(o);
  printf("ok (unless UBSan reported a signed integer overflow above)\n");
  return 0;
}
