# bindings/go/package.mk - the Go module's installed copy, included by the top
# Makefile.
#
#   make install-go   the module github.com/uvstreams/uvstreams-go (go.mod,
#                     the package's sources, internal/cuvs as SWIG generated
#                     it; no tests, no examples) into $(GO_SRCDIR), by
#                     default $(PREFIX)/share/gocode/src/<module path> (the
#                     place Debian's golang-*-dev packages use), honouring
#                     DESTDIR
#
# A program outside the tree then uses it with no network:
#
#   go.mod:  require github.com/uvstreams/uvstreams-go v0.1.0
#            replace github.com/uvstreams/uvstreams-go => /usr/local/share/gocode/src/github.com/uvstreams/uvstreams-go
#   GOFLAGS=-mod=mod GOPROXY=off go build
#
# cgo finds the C library with `#cgo pkg-config: uvstreams` (make install;
# PKG_CONFIG_PATH for a prefix pkg-config does not search, and then
# LD_LIBRARY_PATH or CGO_LDFLAGS=-Wl,-rpath,PREFIX/lib to run).

GO_MODULE := github.com/uvstreams/uvstreams-go
GO_SRCDIR ?= $(PREFIX)/share/gocode/src/$(GO_MODULE)
GO_INSTALL_SOURCES = $(GO_MOD)/go.mod $(filter-out %_test.go,$(wildcard $(GO_MOD)/*.go))

.PHONY: install-go package-go
package-go: go

install-go: go
	$(call check_install_dirs,$(DESTDIR)$(GO_SRCDIR)/internal/cuvs)
	install -d $(DESTDIR)$(GO_SRCDIR)/internal/cuvs
	install -m 644 $(GO_INSTALL_SOURCES) $(DESTDIR)$(GO_SRCDIR)/
	install -m 644 $(GO_CUVS)/uvstreams_c.go $(GO_CUVS)/uvstreams_c_wrap.c \
	  $(DESTDIR)$(GO_SRCDIR)/internal/cuvs/

BINDING_INSTALLS += install-go

# go vet of the package and its examples (the docs check runs it).
.PHONY: go-vet
go-vet: go
	$(Q)cd $(GO_MOD) && $(GO_ENV) $(GO) vet . ./examples/...
