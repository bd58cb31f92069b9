# uvstreams top-level build (plain GNU make).
#
#   make            library: build/lib/libuvstreams.so.N (+ .so link) and .a
#   make examples   build/examples/*
#   make demo       echo server + client on loopback, showing the exchange
#   make test       installs missing Debian packages, builds, runs every suite
#   make install    PREFIX=/usr/local DESTDIR=  (library, header, uvstreams.pc)
#   make bindings   every language binding (or one: make python, make ruby, ...)
#   make uninstall / make clean / make deps / make format
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
	$(Q)$(CXX) $(CPPFLAGS_LIB) $(CXXFLAGS_LIB) -c $< -o $@

$(SHARED): $(LIB_OBJS) capi/uvstreams.map
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK $@")
	$(Q)$(CXX) -shared -o $@ $(LIB_OBJS) -Wl,-soname,$(SONAME) \
	  -Wl,--version-script=capi/uvstreams.map -Wl,--no-undefined \
	  -pthread $(SANFLAGS) $(UV_LIBS)

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
	$(Q)$(CC) $(CFLAGS_USER) -Itests $< $(TEST_HELPERS) -o $@ $(LINK_USER) -lcmocka

demo: deps lib examples
	@sh examples/demo.sh $(BUILD)/examples

# Debian packages the build and the tests need; installed only when missing.
DEB_PACKAGES := build-essential pkg-config libuv1-dev libcmocka-dev valgrind libssl-dev openssl clang-14 libclang-rt-14-dev clang-format python3
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Language bindings add their rules in bindings/<language>/rules.mk and
# append their build target to BINDINGS (`make bindings` builds them all),
# their test target to BINDING_TESTS (run by `make test` when not building
# with a sanitizer: the interpreters are not instrumented) and, where the
# language has a conventional place for packages, their install target to
# BINDING_INSTALLS (`make install-bindings`).
BINDINGS :=
BINDING_TESTS :=
BINDING_INSTALLS :=
-include $(wildcard bindings/*/rules.mk)
# The conformance scenarios' reference peer (tests/conformance/FORMAT.md).
-include tests/conformance/conformance.mk
.PHONY: bindings install-bindings
bindings: $(BINDINGS)
install-bindings: $(BINDING_INSTALLS)
include bench/rules.mk
# Fuzzing (libFuzzer, clang), the differential test against CPython, stress.
include tests/reliability.mk
# Torture mode: every allocation, thread and descriptor failing in turn.
include tests/torture/torture.mk

test: deps lib examples $(TESTS)
	@UVS_SANITIZE="$(SANITIZE)" sh tests/run.sh $(BUILD)
	@$(MAKE) --no-print-directory stress-quick
	@$(MAKE) --no-print-directory repro
ifeq ($(SANITIZE),)
	@for t in $(BINDING_TESTS); do $(MAKE) --no-print-directory $$t || exit 1; done
endif

# The C suite under valgrind memcheck: any error or leak fails.
valgrind: deps lib $(TESTS)
	@UVS_VALGRIND=1 sh tests/run.sh $(BUILD)

install: lib
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

format:
	clang-format -i include/*.h cpp/*.cpp cpp/*.h capi/*.cpp examples/*.c tests/*.c tests/*.h \
  tests/stress/*.[ch] tests/torture/*.[ch] tests/torture/*.cc tests/fuzz/*.cc tests/fuzz/repro/*.c tests/conformance/*.c bench/*.c
check-format: deps
	clang-format --dry-run --Werror include/*.h cpp/*.cpp cpp/*.h capi/*.cpp examples/*.c tests/*.c tests/*.h \
  tests/stress/*.[ch] tests/torture/*.[ch] tests/torture/*.cc tests/fuzz/*.cc tests/fuzz/repro/*.c tests/conformance/*.c bench/*.c
