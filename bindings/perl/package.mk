# bindings/perl/package.mk - the CPAN distribution, included by the top Makefile.
#
#   make perl-dist   $(BUILD)/perl/dist/UVStreams-$(VERSION)/ and its
#                    .tar.gz: Makefile.PL, MANIFEST, lib/ (with the
#                    SWIG-generated UVStreams/Raw.pm), uvstreams_wrap.c and
#                    the tests that need nothing outside the distribution
#
#   perl Makefile.PL [INSTALL_BASE=DIR] && make && make test && make install
#
# in that directory builds against the installed C library (make install),
# found with pkg-config (bindings/perl/Makefile.PL).

PL_DIST := $(PL_OUT)/dist/UVStreams-$(VERSION)
PL_DIST_TESTS := $(wildcard $(PL_SRC)/t/0[0-5]*.t)

.PHONY: perl-dist package-perl
perl-dist: $(PL_DIST).tar.gz
package-perl: perl-dist

$(PL_DIST).tar.gz: $(PL_WRAP) $(PL_RAW_PM) $(PL_MODULES) $(PL_DIST_TESTS) $(PL_SRC)/Makefile.PL
	@rm -rf $(PL_DIST) && mkdir -p $(PL_DIST)/lib/UVStreams $(PL_DIST)/t
	$(Q)cp $(PL_SRC)/Makefile.PL $(PL_WRAP) $(PL_DIST)/
	$(Q)cp $(PL_SRC)/lib/UVStreams.pm $(PL_DIST)/lib/
	$(Q)cp $(PL_RAW_PM) $(wildcard $(PL_SRC)/lib/UVStreams/*.pm) $(PL_DIST)/lib/UVStreams/
	$(Q)cp $(PL_DIST_TESTS) $(PL_DIST)/t/
	$(Q)cd $(PL_DIST) && { find . -type f | sed 's|^\./||'; echo MANIFEST; } | LC_ALL=C sort -u > MANIFEST
	@$(if $(Q),echo "  TAR  $@")
	$(Q)tar -C $(dir $(PL_DIST)) -czf $@ $(notdir $(PL_DIST))
