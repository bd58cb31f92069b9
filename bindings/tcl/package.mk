# bindings/tcl/package.mk - the Tcl package, included by the top Makefile.
#
# The package is the directory make install-tcl fills (rules.mk):
# $(LIBDIR)/tcltk/uvstreams$(VERSION) with pkgIndex.tcl, so for PREFIX
# /usr/local or /usr a plain `package require uvstreams` finds it (Debian's
# tclsh has /usr/local/lib/tcltk and /usr/lib/tcltk on auto_path); for any
# other prefix, TCLLIBPATH=PREFIX/lib/tcltk. tests/packages/run.sh checks it.

.PHONY: package-tcl
package-tcl: tcl
