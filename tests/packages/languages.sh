# tests/packages/languages.sh - one function per language for run.sh (sourced):
# install that language's package into $tmp, then run its echo client from
# $tmp/work against the server on $port. Each runs in a subshell, with $src
# (the source tree), $build, $prefix (the installed C library) and $make.
# run.sh calls them in an `if`, where `set -e` does not apply: every step
# that can fail ends with `|| return 1`.

# without_library COMMAND...: runs it with pkg-config seeing no uvstreams.pc
# at all (not even a system-wide one).
without_library() {
  mkdir -p "$tmp/no-pkgconfig"
  PKG_CONFIG_LIBDIR="$tmp/no-pkgconfig" PKG_CONFIG_PATH= "$@"
}

# expect_refusal LANGUAGE OUTPUT-FILE: a build without the C library stopped
# with the message naming what to do.
expect_refusal() {
  if ! grep -q 'pkg-config cannot find uvstreams.pc' "$2"; then
    cat "$2" >&2
    say "$1: FAILED (no clear message when the C library is missing)" >&2
    return 1
  fi
  say "$1: a missing C library is refused with a message"
}

test_ruby() {
  export GEM_HOME="$tmp/gems" GEM_PATH="$tmp/gems"
  if without_library gem install --local --no-document \
    "$build/ruby/uvstreams-$(version).gem" >ruby-nolib.out 2>&1; then
    say "ruby: FAILED (installed without the C library)" >&2
    return 1
  fi
  expect_refusal ruby ruby-nolib.out || return 1
  if gem list -i uvstreams >/dev/null; then
    say "ruby: FAILED (a failed install left the gem installed)" >&2
    return 1
  fi
  quiet gem install --local --no-document "$build/ruby/uvstreams-$(version).gem" || return 1
  expect_linked ruby "$(find "$GEM_HOME" -name uvstreams_c.so | head -1)" || return 1
  cp "$src/examples/ruby/echo_client.rb" . || return 1
  /usr/bin/ruby echo_client.rb 127.0.0.1 "$port" ruby-round-trip >ruby.out 2>&1 || true
  expect_echo ruby 'received: "ruby-round-trip"' ruby.out
}

version() {
  pkg-config --modversion uvstreams
}

test_lua() {
  rock=$build/lua/rock
  quiet sh -c "cd '$rock' && luarocks --lua-version 5.4 make --tree '$tmp/rocks' \
    UVSTREAMS_INCDIR='$prefix/include' UVSTREAMS_LIBDIR='$prefix/lib'" || return 1
  eval "$(luarocks --lua-version 5.4 --tree "$tmp/rocks" path)" || return 1
  expect_linked lua "$(find "$tmp/rocks" -name uvstreams_c.so | head -1)" || return 1
  cp "$src/examples/lua/echo_client.lua" . || return 1
  lua5.4 echo_client.lua 127.0.0.1 "$port" lua-round-trip >lua.out 2>&1 || true
  expect_echo lua 'received: "lua-round-trip"' lua.out
}

# The CPAN way, from a copy of the staged distribution (its build writes in
# its own directory).
test_perl() {
  cp -r "$build/perl/dist/UVStreams-$(version)" "$tmp/perl-dist" || return 1
  if (cd "$tmp/perl-dist" && without_library /usr/bin/perl Makefile.PL) >perl-nolib.out 2>&1 \
    || [ -f "$tmp/perl-dist/Makefile" ]; then
    say "perl: FAILED (Makefile.PL went on without the C library)" >&2
    return 1
  fi
  expect_refusal perl perl-nolib.out || return 1
  quiet sh -c "cd '$tmp/perl-dist' && /usr/bin/perl Makefile.PL INSTALL_BASE='$tmp/perl5' \
    && make && make test && make install" || return 1
  export PERL5LIB="$tmp/perl5/lib/perl5"
  expect_linked perl "$(find "$tmp/perl5" -name Raw.so | head -1)" || return 1
  cp "$src/examples/perl/echo-client.pl" . || return 1
  /usr/bin/perl echo-client.pl 127.0.0.1 "$port" perl-round-trip >perl.out 2>&1 || true
  expect_echo perl 'received: perl-round-trip' perl.out
}

# make install-tcl puts the package in $prefix/lib/tcltk/uvstreams<version>;
# for PREFIX=/usr/local (or /usr) that directory's parent is on Debian's
# auto_path, here TCLLIBPATH names it. The client's first line is a plain
# `package require uvstreams`.
test_tcl() {
  quiet $make --no-print-directory -C "$src" install-tcl PREFIX="$prefix" || return 1
  expect_linked tcl "$prefix/lib/tcltk/uvstreams$(version)/uvstreams_c.so" || return 1
  export TCLLIBPATH="$prefix/lib/tcltk"
  cp "$src/examples/tcl/echo_client.tcl" . || return 1
  tclsh8.6 echo_client.tcl 127.0.0.1 "$port" tcl-round-trip >tcl.out 2>&1 || true
  expect_echo tcl 'received: tcl-round-trip' tcl.out
}

# The installed jar loads its JNI library with no -Djava.library.path: first
# from the LIBDIR it records, then (that file removed) from its own copy.
test_java() {
  quiet $make --no-print-directory -C "$src" install-java PREFIX="$prefix" || return 1
  jar=$prefix/share/java/uvstreams.jar
  expect_linked java "$prefix/lib/libuvstreams_jni.so" || return 1
  cp "$src/examples/java/EchoClient.java" . || return 1
  quiet javac -cp "$jar" -d . EchoClient.java || return 1
  java -cp "$jar:." EchoClient 127.0.0.1 "$port" java-libdir >java.out 2>&1 || true
  expect_echo 'java (from LIBDIR)' 'echo: java-libdir' java.out || return 1
  rm "$prefix/lib/libuvstreams_jni.so" || return 1
  java -cp "$jar:." EchoClient 127.0.0.1 "$port" java-in-jar >java.out 2>&1 || true
  expect_echo 'java (copy in the jar)' 'echo: java-in-jar' java.out
}

# A module of its own in $tmp/work/goclient (the echo client example) that
# requires the installed module through a replace directive; no network
# (GOPROXY=off), GOPATH in $tmp, the build cache the build tree's (saves
# compiling the standard library again). The run path comes from
# CGO_LDFLAGS, as a user of a private prefix would set it.
test_go() {
  quiet $make --no-print-directory -C "$src" install-go PREFIX="$prefix" || return 1
  module=github.com/uvstreams/uvstreams-go
  export GOTOOLCHAIN=local GO111MODULE=on GOPROXY=off GOSUMDB=off GOFLAGS=-mod=mod \
    GOPATH="$tmp/gopath" GOCACHE="$build/go/cache" CGO_ENABLED=1 \
    CGO_LDFLAGS="-Wl,-rpath,$prefix/lib"
  mkdir goclient || return 1
  cp "$src/examples/go/echo_client/main.go" goclient/ || return 1
  cat >goclient/go.mod <<MOD
module example.com/goclient

go 1.19

require $module v$(version)

replace $module => $prefix/share/gocode/src/$module
MOD
  quiet sh -c 'cd goclient && go build -o echo_client . && go vet .' || return 1
  expect_linked go goclient/echo_client || return 1
  goclient/echo_client 127.0.0.1 "$port" go-round-trip >go.out 2>&1 || true
  expect_echo go 'received: "go-round-trip"' go.out
}
