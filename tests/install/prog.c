/*
 * prog.c - the staged-install check of tests/run.sh: built only with the
 * flags pkg-config gives for the installed uvstreams.pc, run against the
 * installed shared library. Prints the library's version string; exits 1 if
 * it disagrees with the installed header.
 */
#include <stdio.h>
#include <uvstreams.h>

int main(void) {
  const char *v = uvs_version_string();
  printf("%s\n", v ? v : "(null)");
  return uvs_version() == UVS_VERSION_HEX ? 0 : 1;
}
