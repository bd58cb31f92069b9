# bindings/perl/rules.mk - the Perl 5 binding, included by the top Makefile.
#
#   make perl          build/perl/: the package UVStreams (bindings/perl/lib)
#                      and the SWIG module UVStreams::Raw generated from
#                      bindings/uvstreams.i (auto/UVStreams/Raw/Raw.so, linked
#                      to build/lib with an rpath):
#                      perl -Ibuild/perl -MUVStreams -e 'print UVStreams->library_version'
#   make test-perl     the unit tests (bindings/perl/t) with prove, then the
#                      conformance scenarios (bindings/perl/xt/conformance.t
#                      under tests/conformance/run.sh); no test file, or no
#                      scenario, is a failure
#   make install-perl  the modules into Perl's site arch directory
#                      (PERL_INSTALLDIRS=vendor: the vendor one), under
#                      DESTDIR; the installed Raw.so finds libuvstreams in
#                      $(LIBDIR) (make install puts it there)
#
# Debian's /usr/bin/perl only; its Config gives the headers and C flags the
# extension must be built with (ithreads, large files).

DEB_PARTS += perl
# perl-doc: perldoc, to read the modules' POD
# libanyevent-perl: UVStreams::AnyEvent (t/08-anyevent.t, examples/perl)
DEB_PACKAGES_perl := swig libperl-dev perl-doc libanyevent-perl

PERL := /usr/bin/perl
PROVE := /usr/bin/prove
PERL_INSTALLDIRS ?= site
PL_SRC := bindings/perl
PL_OUT := $(BUILD)/perl
PL_CONFIG = $(shell $(PERL) -MConfig -e 'print $$Config{$(1)}')
PL_MODULES := $(wildcard $(PL_SRC)/lib/*.pm $(PL_SRC)/lib/UVStreams/*.pm)
PL_COPIES := $(patsubst $(PL_SRC)/lib/%,$(PL_OUT)/%,$(PL_MODULES))
PL_WRAP := $(PL_OUT)/swig/uvstreams_wrap.c
PL_RAW_PM := $(PL_OUT)/UVStreams/Raw.pm
PL_XS := $(PL_OUT)/auto/UVStreams/Raw/Raw.so
PL_XS_INSTALL := $(PL_OUT)/install/Raw.so
SWIG_PL_FLAGS := -perl5 -const -module UVStreams::Raw -Iinclude -Ibindings
# The wrapper is built with the project's warnings as errors except two that
# SWIG 4.1's generated Perl code itself triggers (unused parameters in its
# runtime, an unused `_saved` array in multi-argument typemaps); nothing
# else is relaxed, so the typemaps and helpers of perl.i stay clean.
PL_WRAP_CFLAGS := $(OPT) -Wall -Wextra -Werror -Wno-unused-parameter \
  -Wno-unused-but-set-variable -fPIC -pthread

.PHONY: perl test-perl install-perl perl-toolchain
perl: deps-perl lib perl-toolchain $(PL_XS) $(PL_RAW_PM) $(PL_COPIES)

# A missing interpreter, prove, SWIG or perl headers stops the build here.
perl-toolchain:
	@for tool in $(PERL) $(PROVE) swig; do \
	  command -v $$tool >/dev/null || { echo "perl binding: $$tool is missing" >&2; exit 1; }; \
	done
	@test -f "$(call PL_CONFIG,archlib)/CORE/perl.h" || \
	  { echo "perl binding: perl.h is missing (libperl-dev)" >&2; exit 1; }

$(PL_WRAP) $(PL_RAW_PM) &: bindings/uvstreams.i $(PL_SRC)/perl.i include/uvstreams.h
	@mkdir -p $(dir $(PL_WRAP)) $(dir $(PL_RAW_PM))
	@$(if $(Q),echo "  SWIG $<")
	$(Q)swig $(SWIG_PL_FLAGS) -outdir $(dir $(PL_RAW_PM)) -o $(PL_WRAP) $<

# Raw.so for the build tree (rpath: build/lib) and for installing (rpath:
# LIBDIR).
PL_CC = $(CC) $(PL_WRAP_CFLAGS) $(call PL_CONFIG,ccflags) -Iinclude \
  -I$(call PL_CONFIG,archlib)/CORE -shared $< -o $@ -L$(BUILD)/lib -luvstreams

$(PL_XS): $(PL_WRAP) $(BUILD)/lib/libuvstreams.so
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(PL_CC) -Wl,-rpath,$(abspath $(BUILD)/lib)

$(PL_XS_INSTALL): $(PL_WRAP) $(BUILD)/lib/libuvstreams.so $(LIBDIR_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(PL_CC) -Wl,-rpath,$(LIBDIR)

$(PL_OUT)/%.pm: $(PL_SRC)/lib/%.pm
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

test-perl: perl conformance-peer
	@ls $(PL_SRC)/t/*.t >/dev/null 2>&1 || { echo "test-perl: no test files" >&2; exit 1; }
	$(Q)PERL5LIB=$(abspath $(PL_OUT)) $(PROVE) --timer $(PL_SRC)/t
	$(Q)PERL5LIB=$(abspath $(PL_OUT)) UVS_CONFORMANCE_PEER=$(BUILD)/conformance/peer \
	  sh tests/conformance/run.sh perl $(PROVE) $(PL_SRC)/xt/conformance.t

PL_INSTALL_ARCH = $(DESTDIR)$(call PL_CONFIG,install$(PERL_INSTALLDIRS)arch)

install-perl: perl $(PL_XS_INSTALL)
	$(call check_install_dirs,$(PL_INSTALL_ARCH)/UVStreams $(PL_INSTALL_ARCH)/auto/UVStreams/Raw)
	install -d $(PL_INSTALL_ARCH)/UVStreams $(PL_INSTALL_ARCH)/auto/UVStreams/Raw
	install -m 644 $(PL_OUT)/UVStreams.pm $(PL_INSTALL_ARCH)/
	install -m 644 $(PL_RAW_PM) $(patsubst $(PL_SRC)/lib/%,$(PL_OUT)/%,$(wildcard $(PL_SRC)/lib/UVStreams/*.pm)) \
	  $(PL_INSTALL_ARCH)/UVStreams/
	install -m 755 $(PL_XS_INSTALL) $(PL_INSTALL_ARCH)/auto/UVStreams/Raw/Raw.so

BINDINGS += perl
BINDING_TESTS += test-perl
BINDING_INSTALLS += install-perl
