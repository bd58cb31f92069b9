#!/bin/sh
# tests/packages/check-docs.sh BUILD - each binding's reference docs, checked
# with its own language's tool where Debian has one:
#   Perl   podchecker: every module's POD parses, without warnings
#   Ruby   rdoc's coverage report: every public class, module, constant,
#          attribute and method documented (internals are :nodoc:)
#   Lua    (no LDoc in Debian) every public function of uvstreams.lua has an
#          LDoc comment (a line starting with "--") right above it
#   Java   make java-doc: javadoc with all of doclint (missing comments and
#          tags, syntax, HTML, references) as errors
#   Go     go vet, and a doc comment on every exported top-level function,
#          method and type of the package
# Each failure is listed; the script fails if any.
set -u
build=$1
failed=

fail() {
  echo "check-docs: $1: FAILED" >&2
  failed="$failed $1"
}

if podchecker -warnings bindings/perl/lib/UVStreams.pm bindings/perl/lib/UVStreams/*.pm \
  >"$build/podchecker.log" 2>&1 && ! grep -q WARNING "$build/podchecker.log"; then
  echo "check-docs: perl (podchecker): ok"
else
  cat "$build/podchecker.log" >&2
  fail perl
fi

rdoc_out=$build/rdoc-coverage
rm -rf "$rdoc_out"
/usr/bin/ruby -S rdoc -C -q -o "$rdoc_out" bindings/ruby/lib >"$build/rdoc.log" 2>&1
rm -rf "$rdoc_out"
if grep -q '100.00% documented' "$build/rdoc.log"; then
  echo "check-docs: ruby (rdoc -C): ok"
else
  sed -n '/not documented/,$p' "$build/rdoc.log" >&2
  fail ruby
fi

# top-level function definitions with no comment on the line above
undocumented() {
  awk -v pattern="$1" -v comment="$2" \
    '$0 ~ pattern && prev !~ comment { print FILENAME ":" FNR ": " $0; n++ }
     { prev = $0 } END { exit n > 0 }' "$3"
}

if undocumented '^function (M\.|Stream:|Server:|Error:)[a-z]' '^--' bindings/lua/uvstreams.lua; then
  echo "check-docs: lua (LDoc comments): ok"
else
  fail lua
fi

if ${MAKE:-make} --no-print-directory java-doc >"$build/javadoc.log" 2>&1; then
  echo "check-docs: java (javadoc): ok"
else
  cat "$build/javadoc.log" >&2
  fail java
fi

go_ok=1
for f in bindings/go/*.go; do
  case $f in *_test.go) continue ;; esac
  undocumented '^(func (\([^)]*\) )?[A-Z]|type [A-Z])' '^//' "$f" || go_ok=
done
if [ -n "$go_ok" ] && ${MAKE:-make} --no-print-directory go-vet >"$build/govet.log" 2>&1; then
  echo "check-docs: go (doc comments, go vet): ok"
else
  cat "$build/govet.log" >&2 2>/dev/null
  fail go
fi

if [ -n "$failed" ]; then
  echo "check-docs: FAILED:$failed" >&2
  exit 1
fi
echo "check-docs: all passed"
