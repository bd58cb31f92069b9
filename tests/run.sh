#!/bin/sh
# run.sh - runs every cmocka suite, then the packaging checks.
#
#   sh tests/run.sh BUILD_DIR      (BUILD_DIR relative to the repository root)
#
# UVS_VALGRIND=1 (make valgrind) runs the binaries under memcheck and skips
# the packaging checks.
#
# Each test binary BUILD_DIR/tests/test_* and each packaging check prints one
# "PASS: ..." or "FAIL: ..." line; the last line is "N passed, M failed" and
# the exit status is non-zero if anything failed. A tests/test_*.c without
# its binary counts as a failure (nothing is skipped silently).
#
# Packaging checks: exported symbols (only uvs_*, and every UVS_API function
# of the header), the header standalone as C99 and C++17 without libuv,
# the SONAME, a staged make install / pkg-config build / make uninstall, and
# static links by pkg-config --static.

set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
build=${1:-build}
lib=$build/lib/libuvstreams.so
header=include/uvstreams.h
passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/uvst-run.XXXXXX")
trap 'rm -rf "$work"' EXIT HUP INT TERM

# UVS_TALLY (set by make test): a file each result line is appended to as
# well, for make test's total over every suite.
pass() {
  echo "PASS: $*"
  [ -z "${UVS_TALLY:-}" ] || echo "PASS: $*" >>"$UVS_TALLY"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL: $*"
  [ -z "${UVS_TALLY:-}" ] || echo "FAIL: $*" >>"$UVS_TALLY"
  failed=$((failed + 1))
}
# check NAME FUNCTION: runs FUNCTION with its output in a log, shown on
# failure only.
check() {
  if "$2" >"$work/log" 2>&1; then
    pass "$1"
  else
    sed 's/^/    /' "$work/log"
    fail "$1"
  fi
}

major=$(sed -n 's/^#define UVS_VERSION_MAJOR \([0-9]*\).*/\1/p' "$header")
minor=$(sed -n 's/^#define UVS_VERSION_MINOR \([0-9]*\).*/\1/p' "$header")
patch=$(sed -n 's/^#define UVS_VERSION_PATCH \([0-9]*\).*/\1/p' "$header")
version=$major.$minor.$patch

# Sanitizer builds live in build-<sanitizers joined by '-'>; programs linked
# against that library need the same -fsanitize flags.
sanflags=
case $(basename "$build") in
build-*) sanflags="-fsanitize=$(basename "$build" | sed 's/^build-//; s/-/,/g')" ;;
esac

# ---- test binaries ---------------------------------------------------------

run_tests() {
  found=0
  for src in tests/test_*.c; do
    [ -e "$src" ] || continue
    bin=$build/tests/$(basename "$src" .c)
    found=$((found + 1))
    if [ ! -x "$bin" ]; then
      fail "$bin (not built from $src)"
      continue
    fi
    echo "=== $bin"
    if [ -n "${UVS_VALGRIND:-}" ]; then
      # memcheck: any error or definite/indirect leak fails the binary.
      timeout 1800 valgrind --quiet --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --max-threads=4000 "$bin"
    else
      timeout 600 "$bin"
    fi
    rc=$?
    if [ "$rc" -eq 0 ]; then
      pass "$bin"
    else
      fail "$bin (exit status $rc)"
    fi
  done
  [ "$found" -gt 0 ] || fail "no tests/test_*.c found"
}

# ---- packaging checks ------------------------------------------------------

exported() {
  nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u
}

declared() {
  sed -n 's/^UVS_API[^(]*[ *]\(uvs_[a-zA-Z0-9_]*\)(.*/\1/p' "$header" | sort -u
}

check_exports_prefix() {
  [ -f "$lib" ] || { echo "missing $lib"; return 1; }
  exported >"$work/exported" || return 1
  [ -s "$work/exported" ] || { echo "no exported symbols"; return 1; }
  bad=$(grep -v -e '^uvs_' -e '^UVSTREAMS_0$' "$work/exported")
  if [ -n "$bad" ]; then
    echo "exported symbols without the uvs_ prefix:"
    echo "$bad"
    return 1
  fi
}

check_exports_complete() {
  [ -f "$lib" ] || { echo "missing $lib"; return 1; }
  exported >"$work/exported" || return 1
  declared >"$work/declared"
  n=$(wc -l <"$work/declared")
  [ "$n" -gt 0 ] || { echo "no UVS_API declarations found in $header"; return 1; }
  missing=$(comm -23 "$work/declared" "$work/exported")
  if [ -n "$missing" ]; then
    echo "declared UVS_API but not exported:"
    echo "$missing"
    return 1
  fi
  extra=$(comm -13 "$work/declared" "$work/exported" | grep -v '^UVSTREAMS_0$')
  [ -z "$extra" ] || echo "note: exported but not declared: $extra"
  echo "$n functions declared and exported"
}

header_probe() {
  printf '#include <uvstreams.h>\n#include <uvstreams.h>\n' >"$work/h.c"
  printf 'int uvst_probe(void) { return UVS_OK + (int)sizeof(uvs_buf); }\n' \
    >>"$work/h.c"
}

check_header_c99() {
  header_probe
  cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -Iinclude \
    "$work/h.c"
}

check_header_cxx() {
  header_probe
  c++ -std=c++17 -pedantic -Wall -Wextra -Werror -fsyntax-only -Iinclude \
    -x c++ "$work/h.c"
}

check_header_no_libuv() {
  header_probe
  if grep -nE 'uv\.h|(^|[^a-zA-Z0-9_])uv_[a-zA-Z0-9_]+' "$header"; then
    echo "the header mentions uv.h or a libuv identifier (above)"
    return 1
  fi
  cc -std=c99 -E -Iinclude "$work/h.c" >"$work/h.i" || return 1
  if grep -nE '(^|[^a-zA-Z0-9_])uv_[a-zA-Z0-9_]+|uv\.h' "$work/h.i"; then
    echo "the preprocessed header pulls in libuv (above)"
    return 1
  fi
}

check_soname() {
  [ -f "$lib" ] || { echo "missing $lib"; return 1; }
  readelf -d "$lib" | grep SONAME || { echo "no SONAME"; return 1; }
  readelf -d "$lib" | grep SONAME | grep -q "\[libuvstreams\.so\.$major\]"
}

check_staged_install() {
  stage=$work/stage
  prefix=/usr/local
  libdir=$stage$prefix/lib
  mkdir -p "$stage"
  make -s install DESTDIR="$stage" PREFIX="$prefix" BUILD="$build" || return 1
  for f in "$stage$prefix/include/uvstreams.h" "$libdir/libuvstreams.so" \
    "$libdir/libuvstreams.so.$major" "$libdir/libuvstreams.so.$version" \
    "$libdir/libuvstreams.a" "$libdir/pkgconfig/uvstreams.pc"; do
    [ -e "$f" ] || { echo "not installed: $f"; return 1; }
  done
  flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" \
    pkg-config --cflags --libs uvstreams) || return 1
  echo "pkg-config: $flags"
  # shellcheck disable=SC2086 # flags are words
  cc -std=c99 -Wall -Wextra -Werror $sanflags tests/install/prog.c $flags \
    -o "$work/prog" || return 1
  LD_LIBRARY_PATH=$libdir ldd "$work/prog" | grep -q "$libdir/libuvstreams" ||
    { echo "prog does not load the staged library"; return 1; }
  out=$(LD_LIBRARY_PATH=$libdir "$work/prog") || { echo "prog failed"; return 1; }
  echo "prog printed: $out"
  [ "$out" = "$version" ] || { echo "expected $version"; return 1; }
  make -s uninstall DESTDIR="$stage" PREFIX="$prefix" BUILD="$build" ||
    return 1
  left=$(find "$stage" -name '*uvstreams*')
  [ -z "$left" ] || { echo "left after uninstall:"; echo "$left"; return 1; }
}

# An install that cannot be done fails before it copies anything, with a
# message that says what to do: a DESTDIR that runs through a regular file
# (root writes anywhere else, so an unwritable directory cannot be made here).
check_install_refused() {
  blocker=$work/not-a-directory
  rm -rf "$blocker" && : >"$blocker"
  if msg=$(make -s install DESTDIR="$blocker/stage" BUILD="$build" 2>&1); then
    echo "make install into $blocker/stage succeeded"
    return 1
  fi
  echo "make install said: $msg"
  echo "$msg" | grep -q "Nothing was installed" || return 1
  echo "$msg" | grep -q "PREFIX= or DESTDIR=" || return 1
  [ -f "$blocker" ] && [ ! -s "$blocker" ]
}

# Static linking as uvstreams.pc describes it (pkg-config --static): a real
# program (examples/socketpair-read.c: an engine, a read through it) built
# from a staged install and run. $1 = archive: the staged shared library is
# removed, so libuvstreams.a is linked and the system libraries stay shared
# (every private library the archive needs must be named); $1 = full: cc
# -static, everything from archives (Debian's libuv_a.a, libssl.a, ...).
static_link() {
  stage=$work/static-$1
  libdir=$stage/usr/local/lib
  rm -rf "$stage"
  make -s install DESTDIR="$stage" PREFIX=/usr/local BUILD="$build" || return 1
  rm -f "$libdir"/libuvstreams.so*
  flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" \
    pkg-config --static --cflags --libs uvstreams) || return 1
  echo "pkg-config --static: $flags"
  static=
  [ "$1" = full ] && static=-static
  # shellcheck disable=SC2086 # flags are words
  cc -std=c99 -Wall -Wextra -Werror $sanflags $static \
    examples/socketpair-read.c $flags -o "$work/static-prog" || return 1
  if readelf -d "$work/static-prog" | grep NEEDED | grep -q uvstreams; then
    echo "linked against the shared libuvstreams"
    return 1
  fi
  if [ "$1" = full ] && readelf -l "$work/static-prog" | grep -q INTERP; then
    echo "cc -static made a dynamic executable"
    return 1
  fi
  out=$("$work/static-prog") || { echo "the program failed: $out"; return 1; }
  echo "the program printed: $out"
  [ "$out" = "Received: 'abc'" ]
}
check_static_archive() { static_link archive; }
check_static_full() { static_link full; }

run_tests
if [ -n "${UVS_VALGRIND:-}" ]; then
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi
check "exports: only uvs_* symbols" check_exports_prefix
check "exports: every UVS_API function" check_exports_complete
check "header: standalone C99 -pedantic" check_header_c99
check "header: standalone C++17 -pedantic" check_header_cxx
check "header: no uv.h / libuv types" check_header_no_libuv
check "SONAME is libuvstreams.so.$major" check_soname
check "staged install, pkg-config build, uninstall" check_staged_install
check "make install into an impossible prefix: refused, nothing copied" check_install_refused
check "static link: libuvstreams.a by pkg-config --static" check_static_archive
if [ -z "$sanflags" ]; then
  check "static link: cc -static, pkg-config --static" check_static_full
else
  echo "SKIP: static link: cc -static (the sanitizer runtimes cannot be linked" \
    "statically; the libuvstreams.a link above ran with $sanflags)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
