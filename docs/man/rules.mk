# docs/man/rules.mk - the C API's manual pages, included by the top Makefile.
#
#   make man        build/man/man3: uvstreams(3), one page per object group
#                   (uvs_engine(3), uvs_op(3), ...) and a ".so" page per
#                   function, generated from include/uvstreams.h by gen_man.py
#   make test-man   every UVS_API function has a page; every page renders
#                   without a groff warning and has a whatis entry (lexgrog)
#   make install    also installs them into $(MANDIR)/man3
#
# The pages are generated (not committed) so that they cannot drift from the
# header: gen_man.py fails on a header section it has no page for.

DEB_PARTS += man
DEB_PACKAGES_man := man-db groff-base python3

MANDIR ?= $(PREFIX)/share/man
MAN_OUT := $(BUILD)/man/man3
MAN_STAMP := $(BUILD)/man/.stamp
MAN_GEN := docs/man/gen_man.py

.PHONY: man test-man install-man uninstall-man
man: $(MAN_STAMP)

$(MAN_STAMP): include/uvstreams.h $(MAN_GEN)
	@[ -x /usr/bin/python3 ] || { echo "man pages: /usr/bin/python3 is" \
	  "needed to generate them (apt-get install python3, or make deps)" >&2; \
	  exit 1; }
	@rm -rf $(MAN_OUT) && mkdir -p $(MAN_OUT)
	@$(if $(Q),echo "  MAN  $(MAN_OUT)")
	$(Q)/usr/bin/python3 $(MAN_GEN) include/uvstreams.h $(MAN_OUT)
	@touch $@

test-man: deps-man $(MAN_STAMP)
	@sh docs/man/check.sh include/uvstreams.h $(BUILD)/man

install: install-man
INSTALL_DIRS += $(DESTDIR)$(MANDIR)/man3
install-man: install-preflight $(MAN_STAMP)
	install -d $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(MAN_OUT)/*.3 $(DESTDIR)$(MANDIR)/man3/

uninstall: uninstall-man
uninstall-man:
	rm -f $(DESTDIR)$(MANDIR)/man3/uvstreams.3 $(DESTDIR)$(MANDIR)/man3/uvs_*.3

test: test-man
