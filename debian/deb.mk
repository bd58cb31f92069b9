# debian/deb.mk - Debian packages of uvstreams, included by the top Makefile.
#
#   make deb        build/deb/: libuvstreams0, libuvstreams-dev and
#                   python3-uvstreams (.deb), built by dpkg-buildpackage on a
#                   copy of the sources (build/deb-src), checked by lintian
#                   (errors fail the build; warnings are printed)
#   make test-deb   (root) apt-get installs build/deb/*.deb, runs
#                   debian/tests (a C echo round trip built with pkg-config,
#                   Python ones on /usr/bin/python3, mypy --strict on the
#                   installed stubs, all from outside the tree) and removes
#                   the packages again, also on failure
#
# Building on a copy keeps the checkout clean: dpkg-buildpackage writes the
# packages into the parent directory of the source tree, and debhelper its
# debian/<package> staging trees into the tree itself. The copy holds the
# files git would commit (tracked, or untracked and not ignored), so
# uncommitted edits are packaged as they are.

DEB_OUT := $(BUILD)/deb
DEB_WORK := $(BUILD)/deb-src
DEB_SRC := $(DEB_WORK)/uvstreams-$(VERSION)
DEB_NAMES := libuvstreams0 libuvstreams-dev python3-uvstreams
# The packaging tools, and what debian/tests/control asks for the tests.
DEB_TOOLS := dpkg-dev debhelper dh-python lintian build-essential pkg-config \
  man-db python3-mypy

.PHONY: deb test-deb deb-deps
# Installs what debian/control's Build-Depends and the tools name (root).
deb-deps:
	@missing=""; for p in $(DEB_TOOLS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	unmet=$$(dpkg-checkbuilddeps debian/control 2>&1 | sed -n 's/.*Unmet build dependencies: //p' | \
	  sed 's/([^)]*)//g'); \
	missing="$$missing $$unmet"; \
	if [ -n "$$(echo $$missing)" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "make deb needs:$$missing (apt-get install them as root, or run make deb as root)" >&2; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Files deleted but not yet committed are skipped (--ignore-failed-read).
# The outer make's jobserver does not reach dh's make: its flags are dropped.
deb: deb-deps
	@v=$$(dpkg-parsechangelog -l debian/changelog -S Version); [ "$$v" = "$(VERSION)" ] || { \
	  echo "debian/changelog is at $$v, include/uvstreams.h at $(VERSION):" \
	    "add a debian/changelog entry (dch -v $(VERSION))" >&2; exit 1; }
	rm -rf $(DEB_WORK) $(DEB_OUT)
	mkdir -p $(DEB_SRC) $(DEB_OUT)
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "make deb copies the" \
	  "files git lists: run it in a git checkout" >&2; exit 1; }
	git ls-files -z --cached --others --exclude-standard | \
	  tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(DEB_SRC)
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS="parallel=2 noddebs $(DEB_BUILD_OPTIONS)" \
	  dpkg-buildpackage -us -uc -b
	mv $(DEB_WORK)/*.deb $(DEB_WORK)/*.changes $(DEB_WORK)/*.buildinfo $(DEB_OUT)/
	rm -rf $(DEB_WORK)
	lintian --fail-on error --display-info $(DEB_OUT)/*.changes
	@ls -l $(DEB_OUT)

test-deb: deb
	@sh debian/tests/run-installed.sh $(DEB_OUT) $(DEB_NAMES)
