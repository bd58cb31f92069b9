# uvstreams top-level build (plain GNU make).
#
#   make            library: build/lib/libuvstreams.so.N (+ .so link) and .a
#   make examples   build/examples/*
#   make demo       echo server + client on loopback, showing the exchange
#   make test       installs missing Debian packages, builds, runs every suite
#                   and ends with the total: "N passed, M failed"
#   make install    PREFIX=/usr/local DESTDIR=  (library, header, uvstreams.pc,
#                   man pages: docs/man/rules.mk)
#   make deb        Debian packages in build/deb (debian/deb.mk); test-deb
#   make bindings   every language binding (or one: make python, make ruby, ...)
#   make test-packages  each language's package, installed into a temp prefix
#   make abi-check  the library's ABI against abi/libuvstreams.abi (abidiff)
#   make deps       every Debian package any target needs (make deps-<part>:
#                   one part's; each target installs its own part's)
#   make uninstall / make clean / make format / make check-format
#
# SANITIZE=address,undefined or SANITIZE=thread builds everything with the
# sanitizer into build-<sanitizer>/ and runs the same suites.

VERSION_MAJOR := $(shell sed -n 's/^\#define UVS_VERSION_MAJOR \([0-9]*\)/\1/p' include/uvstreams.h)
VERSION_MINOR := $(shell sed -n 's/^\#define UVS_VERSION_MINOR \([0-9]*\)/\1/p' include/uvstreams.h)
VERSION_PATCH := $(shell sed -n 's/^\#define UVS_VERSION_PATCH \([0-9]*\)/\1/p' include/uvstreams.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

SANITIZE ?=
ifeq ($(SANITIZE),)
  BUILD ?= build
  SANFLAGS :=
else
  BUILD ?= build-$(subst $(comma),-,$(SANITIZE))
  SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif
comma := ,

CC ?= cc
CXX ?= g++
OPT ?= -O2 -g
WARN := -Wall -Wextra -Werror
CPPFLAGS_LIB := -Iinclude -Icpp -DUVS_BUILDING -D_GNU_SOURCE
CXXFLAGS_LIB := -std=c++17 $(OPT) $(WARN) -fPIC -fvisibility=hidden \
  -fvisibility-inlines-hidden -pthread $(SANFLAGS)
CFLAGS_USER := -std=c99 $(OPT) $(WARN) -Iinclude -D_GNU_SOURCE -pthread $(SANFLAGS)
UV_LIBS := -luv -lssl -lcrypto
# The library's compile and link lines also take the conventional CPPFLAGS,
# CXXFLAGS and LDFLAGS (debian/rules passes dpkg-buildflags' hardening).

LIB_SRCS := $(wildcard cpp/*.cpp) $(wildcard capi/*.cpp)
LIB_OBJS := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(LIB_SRCS))
SONAME := libuvstreams.so.$(VERSION_MAJOR)
SHARED := $(BUILD)/lib/libuvstreams.so.$(VERSION)
STATIC := $(BUILD)/lib/libuvstreams.a

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))

TEST_SRCS := $(wildcard tests/test_*.c)
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_HELPERS := $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))

LINK_USER := -L$(BUILD)/lib -Wl,-rpath,$(abspath $(BUILD)/lib) -luvstreams -pthread $(SANFLAGS)

.PHONY: all lib examples demo test valgrind deps install uninstall clean format check-format
all: lib
lib: $(BUILD)/lib/libuvstreams.so $(STATIC)

# V=1 shows the full command lines.
Q := $(if $(V),,@)

$(BUILD)/obj/%.o: %.cpp $(wildcard cpp/*.h) $(wildcard capi/*.h) include/uvstreams.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CXX  $<")
	$(Q)$(CXX) $(CPPFLAGS_LIB) $(CPPFLAGS) $(CXXFLAGS_LIB) $(CXXFLAGS) -c $< -o $@

$(SHARED): $(LIB_OBJS) capi/uvstreams.map
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK $@")
	$(Q)$(CXX) -shared -o $@ $(LIB_OBJS) -Wl,-soname,$(SONAME) \
	  -Wl,--version-script=capi/uvstreams.map -Wl,--no-undefined \
	  -pthread $(SANFLAGS) $(LDFLAGS) $(UV_LIBS)

$(BUILD)/lib/$(SONAME): $(SHARED)
	ln -sf $(notdir $(SHARED)) $@
$(BUILD)/lib/libuvstreams.so: $(BUILD)/lib/$(SONAME)
	ln -sf $(SONAME) $@

$(STATIC): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJS)

examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c include/uvstreams.h $(BUILD)/lib/libuvstreams.so
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(CFLAGS_USER) $< -o $@ $(LINK_USER)

$(BUILD)/tests/%: tests/%.c $(TEST_HELPERS) $(wildcard tests/*.h) include/uvstreams.h $(BUILD)/lib/libuvstreams.so
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(CFLAGS_USER) -Itests $< $(TEST_HELPERS) $(TEST_EXTRA) -o $@ $(LINK_USER) -lcmocka $(TEST_LIBS)
# test_tls makes its own SSL_CTX to hand to uvs_tls_config_adopt.
$(BUILD)/tests/test_tls: TEST_LIBS := -lssl -lcrypto

# The resolver seam (tests/resolver/fake_hosts.c): linked into the test of
# Happy Eyeballs, and a shared object other suites preload.
FAKE_HOSTS_SRC := tests/resolver/fake_hosts.c
FAKE_HOSTS_SO := $(BUILD)/tests/fake_hosts.so
$(BUILD)/tests/test_transports: $(FAKE_HOSTS_SRC)
$(BUILD)/tests/test_transports: TEST_EXTRA := $(FAKE_HOSTS_SRC)
$(FAKE_HOSTS_SO): $(FAKE_HOSTS_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) -std=c99 $(OPT) $(WARN) -fPIC -shared $< -o $@ -pthread

demo: deps-lib lib examples
	@sh examples/demo.sh $(BUILD)/examples

# Debian packages, installed only when missing, per part of the project:
# DEB_PACKAGES_<part> lists what <part> needs and `make deps-<part>` installs
# it; each target depends on its own part's list (make demo: lib; make
# python: python; ...). Bindings and other included makefiles add their
# part to DEB_PARTS; `make deps` installs every part's packages.
DEB_PARTS := lib test valgrind format abi fuzz
DEB_PACKAGES_lib := build-essential libuv1-dev libssl-dev
DEB_PACKAGES_test := pkg-config libcmocka-dev openssl
DEB_PACKAGES_valgrind := valgrind
DEB_PACKAGES_format := clang-format
DEB_PACKAGES_abi := abigail-tools
DEB_PACKAGES_fuzz := clang-14 libclang-rt-14-dev python3
DEB_PACKAGES = $(sort $(foreach p,$(DEB_PARTS),$(DEB_PACKAGES_$(p))))

# $(1): the packages; those not installed are installed (as root).
define deb_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    -o DPkg::Lock::Timeout=300 $$missing >/dev/null; \
	fi
endef
.PHONY: deps
deps:
	$(call deb_install,$(DEB_PACKAGES))
deps-%:
	$(if $(filter $*,$(DEB_PARTS)),,$(error no Debian package list for "$*" (DEB_PARTS: $(DEB_PARTS))))
	$(call deb_install,$(DEB_PACKAGES_$*))

# Language bindings add their rules in bindings/<language>/rules.mk and
# append their build target to BINDINGS (`make bindings` builds them all),
# their test target to BINDING_TESTS (run by `make test` when not building
# with a sanitizer: the interpreters are not instrumented) and, where the
# language has a conventional place for packages, their install target to
# BINDING_INSTALLS (`make install-bindings`).
BINDINGS :=
BINDING_TESTS :=
BINDING_INSTALLS :=
# A binding's installed extension has a run path to LIBDIR: made to depend on
# this file, it is relinked when an install names another LIBDIR.
LIBDIR_STAMP := $(BUILD)/install-libdir
.PHONY: FORCE
$(LIBDIR_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(LIBDIR)' | cmp -s - $@ || echo '$(LIBDIR)' > $@
-include $(wildcard bindings/*/rules.mk)
# Each language's own package (gem, rock, CPAN dist, jar, Go module): rules in
# bindings/<language>/package.mk, tested by `make test-packages`.
-include $(wildcard bindings/*/package.mk)
# The conformance scenarios' reference peer (tests/conformance/FORMAT.md).
-include tests/conformance/conformance.mk
.PHONY: bindings install-bindings
bindings: $(BINDINGS)
install-bindings: $(BINDING_INSTALLS)
include bench/rules.mk
# Manual pages of the C API (make man, test-man; installed by make install).
include docs/man/rules.mk
# Debian packages (make deb, make test-deb).
include debian/deb.mk
# Fuzzing (libFuzzer, clang), the differential test against CPython, stress.
include tests/reliability.mk
# Install the C library and each language's package into temporary places,
# then run an echo round trip from outside the tree (tests/packages/run.sh).
include tests/packages/rules.mk
# Torture mode: every allocation, thread and descriptor failing in turn.
include tests/torture/torture.mk

# Every suite runs, even after a failure: each C test binary and packaging
# check (tests/run.sh), then stress, the reproductions and each binding's
# suite count one each in $(TEST_TALLY). The last line is the total,
# "N passed, M failed"; any failure makes the exit status non-zero.
TEST_TALLY := $(BUILD)/test-tally
TEST_SUITES = stress-quick repro $(if $(SANITIZE),,$(BINDING_TESTS))
test: deps-lib deps-test lib examples $(TESTS)
	@: >$(TEST_TALLY); \
	UVS_TALLY=$(abspath $(TEST_TALLY)) UVS_SANITIZE="$(SANITIZE)" sh tests/run.sh $(BUILD); \
	for t in $(TEST_SUITES); do \
	  if $(MAKE) --no-print-directory $$t; then echo "PASS: make $$t" >>$(TEST_TALLY); \
	  else echo "FAIL: make $$t" >>$(TEST_TALLY); fi; \
	done; \
	echo "=== make test: every suite"; grep '^FAIL' $(TEST_TALLY); \
	awk '/^PASS/ {p++} /^FAIL/ {f++} END {printf "%d passed, %d failed\n", p, f; exit (f > 0)}' $(TEST_TALLY)

# The C suite under valgrind memcheck: any error or leak fails.
valgrind: deps-lib deps-test deps-valgrind lib $(TESTS)
	@UVS_VALGRIND=1 sh tests/run.sh $(BUILD)

# Before anything is copied, every destination directory must exist or be
# creatable and be writable: a read-only, unwritable or impossible prefix
# fails here with one message, and nothing is half-installed. $(1): the
# directories (make install's are INSTALL_DIRS; each binding's install rule
# checks its own the same way).
define check_install_dirs
	@for d in $(1); do \
	  p=$$d; while [ ! -e "$$p" ] && [ ! -L "$$p" ]; do p=$$(dirname "$$p"); done; \
	  if [ ! -d "$$p" ] || [ ! -w "$$p" ]; then \
	    echo "make $@: cannot install into $$d: $$p is not a writable directory" \
	      "(read-only, another user's, or a file). Choose a PREFIX= or DESTDIR= you can" \
	      "write, or run as root. Nothing was installed." >&2; \
	    exit 1; \
	  fi; \
	done
endef
INSTALL_DIRS += $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
.PHONY: install-preflight
install-preflight:
	$(call check_install_dirs,$(INSTALL_DIRS))

install: install-preflight lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/uvstreams.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHARED)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libuvstreams.so
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	  pkgconfig/uvstreams.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/uvstreams.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/uvstreams.h $(DESTDIR)$(LIBDIR)/libuvstreams.* \
	  $(DESTDIR)$(PKGCONFIGDIR)/uvstreams.pc

clean:
	rm -rf build build-*

# ABI policy (CONTRIBUTING.md): abi/libuvstreams.abi is the released ABI
# (abidw of the library: the uvs_* functions and the types the header shows;
# abi/suppressions.abignore leaves out the opaque handles' insides).
# abi-check fails on an incompatible change (a function removed or changed)
# and reports additions; abi-baseline rewrites the baseline, deliberately.
ABI_BASELINE := abi/libuvstreams.abi
ABI_SUPPR := abi/suppressions.abignore
ABIDW_FLAGS := --no-show-locs --no-corpus-path --no-comp-dir-path --no-elf-needed \
  --no-parameter-names --exported-interfaces-only --headers-dir include \
  --drop-private-types --suppressions $(ABI_SUPPR)
.PHONY: abi-check abi-baseline
abi-baseline: deps-abi lib
	abidw $(ABIDW_FLAGS) $(SHARED) --out-file $(ABI_BASELINE)
# abidiff's status says "changed" (4) for a layout change as for an added
# function, so the summary lines decide: anything removed or changed fails.
abi-check: deps-abi lib
	@abidw $(ABIDW_FLAGS) $(SHARED) --out-file $(BUILD)/libuvstreams.abi
	@abidiff --suppressions $(ABI_SUPPR) $(ABI_BASELINE) $(BUILD)/libuvstreams.abi \
	  >$(BUILD)/abidiff.txt; rc=$$?; cat $(BUILD)/abidiff.txt; \
	if [ $$((rc & 3)) -ne 0 ]; then echo "abi-check: abidiff failed (status $$rc)" >&2; exit 1; fi; \
	if [ $$((rc & 8)) -ne 0 ] || grep -Eq '[1-9][0-9]* (Removed|Changed)' $(BUILD)/abidiff.txt; then \
	  echo "abi-check: FAILED: an incompatible change to the ABI (above). Undo it, or bump" \
	    "UVS_VERSION_MAJOR (the SONAME) and run make abi-baseline." >&2; \
	  exit 1; \
	elif [ $$rc -ne 0 ]; then echo "abi-check: additions only (above), compatible;" \
	  "make abi-baseline records them with the next minor version"; \
	else echo "abi-check: the ABI is the baseline's ($(ABI_BASELINE))"; fi

format:
	clang-format -i include/*.h cpp/*.cpp cpp/*.h capi/*.cpp examples/*.c tests/*.c tests/*.h \
  tests/stress/*.[ch] tests/resolver/*.c tests/torture/*.[ch] tests/torture/*.cc tests/fuzz/*.cc tests/fuzz/repro/*.c tests/conformance/*.c bench/*.c
check-format: deps-format
	clang-format --dry-run --Werror include/*.h cpp/*.cpp cpp/*.h capi/*.cpp examples/*.c tests/*.c tests/*.h \
  tests/stress/*.[ch] tests/resolver/*.c tests/torture/*.[ch] tests/torture/*.cc tests/fuzz/*.cc tests/fuzz/repro/*.c tests/conformance/*.c bench/*.c
