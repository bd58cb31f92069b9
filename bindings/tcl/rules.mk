# bindings/tcl/rules.mk - the Tcl binding, included by the top Makefile.
#
#   make tcl           build/tcl/uvstreams/ (the SWIG extension uvstreams_c.so,
#                      linked to build/lib with an rpath, the ensemble
#                      uvstreams.tcl and pkgIndex.tcl):
#                      TCLLIBPATH=build/tcl tclsh; package require uvstreams
#   make test-tcl      the tcltest suite (bindings/tcl/tests), then the shared
#                      conformance scenarios through tests/conformance/run.sh
#   make install-tcl   the library (make install), then the package into
#                      $(TCL_PKGDIR) (default $(LIBDIR)/tcltk/uvstreams<version>,
#                      on Debian's auto_path for PREFIX=/usr/local and /usr),
#                      its extension relinked with an rpath to $(LIBDIR)
#
# The extension is built against Tcl's stubs (tclsh8.6 and any later 8.6
# load it). Debian's tclsh8.6 runs the tests; a missing toolchain fails.

DEB_PARTS += tcl
DEB_PACKAGES_tcl := swig tcl-dev tcl

TCL_SRC := bindings/tcl
TCL_OUT := $(BUILD)/tcl
TCL_PKG := $(TCL_OUT)/uvstreams
TCLSH := tclsh8.6
TCL_INCLUDES := -I/usr/include/tcl8.6
TCL_STUBLIB := -ltclstub8.6
TCL_PKGDIR ?= $(LIBDIR)/tcltk/uvstreams$(VERSION)
TCL_WRAP := $(TCL_OUT)/uvstreams_c_wrap.c
TCL_WRAP_OBJ := $(TCL_OUT)/uvstreams_c_wrap.o
TCL_EXT := $(TCL_PKG)/uvstreams_c.so
TCL_INSTALL_EXT := $(TCL_OUT)/install/uvstreams_c.so
TCL_SCRIPTS := $(TCL_PKG)/uvstreams.tcl $(TCL_PKG)/pkgIndex.tcl
SWIG_TCL_FLAGS := -tcl -namespace -pkgversion $(VERSION) -Iinclude -Ibindings
# SWIG 4.1's generated Tcl wrapper compiles cleanly with the project's
# warnings (tcl.i leaves out the one construct that did not).
TCL_WRAP_CFLAGS := -std=c11 $(OPT) $(WARN) -fPIC -pthread $(SANFLAGS) \
  -DUSE_TCL_STUBS $(TCL_INCLUDES) -Iinclude

.PHONY: tcl test-tcl install-tcl
tcl: deps-tcl lib $(TCL_EXT) $(TCL_SCRIPTS)

$(TCL_WRAP): bindings/uvstreams.i $(TCL_SRC)/tcl.i include/uvstreams.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  SWIG $<")
	$(Q)swig $(SWIG_TCL_FLAGS) -o $@ $<

$(TCL_WRAP_OBJ): $(TCL_WRAP)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(TCL_WRAP_CFLAGS) -c $< -o $@

# The build-tree extension finds build/lib by its rpath, the installed one
# finds $(LIBDIR).
$(TCL_EXT): $(TCL_WRAP_OBJ) $(BUILD)/lib/libuvstreams.so
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK $@")
	$(Q)$(CC) -shared $< -o $@ -L$(BUILD)/lib \
	  -Wl,-rpath,$(abspath $(BUILD)/lib) -luvstreams $(TCL_STUBLIB) -pthread $(SANFLAGS)

$(TCL_INSTALL_EXT): $(TCL_WRAP_OBJ) $(BUILD)/lib/libuvstreams.so $(LIBDIR_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -shared $< -o $@ -L$(BUILD)/lib -Wl,-rpath,$(LIBDIR) \
	  -luvstreams $(TCL_STUBLIB) -pthread $(SANFLAGS)

$(TCL_PKG)/uvstreams.tcl: $(TCL_SRC)/uvstreams.tcl
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(TCL_PKG)/pkgIndex.tcl: $(TCL_SRC)/pkgIndex.tcl.in include/uvstreams.h
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@VERSION@|$(VERSION)|g' $< > $@

# Unit tests, then the conformance scenarios against the reference peer.
test-tcl: tcl conformance-peer
	@mkdir -p $(TCL_OUT)/tmp
	@TCLLIBPATH=$(abspath $(TCL_OUT)) UVS_TCL_EXAMPLES=$(abspath examples/tcl) \
	  $(TCLSH) $(TCL_SRC)/tests/all.tcl -tmpdir $(abspath $(TCL_OUT))/tmp
	@TCLLIBPATH=$(abspath $(TCL_OUT)) UVS_CONFORMANCE_PEER=$(BUILD)/conformance/peer \
	  sh tests/conformance/run.sh tcl $(TCLSH) $(TCL_SRC)/tests/conformance.tcl

install-tcl: install tcl $(TCL_INSTALL_EXT)
	$(call check_install_dirs,$(DESTDIR)$(TCL_PKGDIR))
	install -d $(DESTDIR)$(TCL_PKGDIR)
	install -m 755 $(TCL_INSTALL_EXT) $(DESTDIR)$(TCL_PKGDIR)/
	install -m 644 $(TCL_SCRIPTS) $(DESTDIR)$(TCL_PKGDIR)/

BINDINGS += tcl
BINDING_TESTS += test-tcl
BINDING_INSTALLS += install-tcl
