# bindings/go/rules.mk - the Go binding, included by the top Makefile.
#
#   make go        $(BUILD)/go/mod/: a self-contained Go module
#                  github.com/uvstreams/uvstreams-go (package uvstreams, no
#                  external dependencies): the idiomatic package at its
#                  root, the SWIG/cgo package generated from
#                  bindings/uvstreams.i in internal/cuvs, the examples in
#                  examples/, linked to $(BUILD)/lib with an rpath
#   make test-go   go vet + go test (unit tests, examples), then the shared
#                  conformance scenarios through tests/conformance/run.sh
#
# Go writes nothing outside $(BUILD)/go: its build cache, GOPATH and temporary
# files live there, GOPROXY=off (no module downloads) and GOTOOLCHAIN=local.
# cgo finds the library with `#cgo pkg-config: uvstreams` (go.i): here a
# uvstreams.pc for the build tree, $(GO_OUT)/pkgconfig; once installed, the
# installed one (make install-go, package.mk).

DEB_PARTS += go
DEB_PACKAGES_go := golang-go swig

GO_SRC := bindings/go
GO_OUT := $(BUILD)/go
GO_MOD := $(GO_OUT)/mod
GO_CUVS := $(GO_MOD)/internal/cuvs
GO := go
GO_ENV = GOTOOLCHAIN=local GO111MODULE=on GOPROXY=off GOSUMDB=off \
  GOFLAGS=-buildvcs=false CGO_ENABLED=1 \
  GOCACHE=$(abspath $(GO_OUT)/cache) GOPATH=$(abspath $(GO_OUT)/path) \
  GOTMPDIR=$(abspath $(GO_OUT)/tmp) PKG_CONFIG_PATH=$(abspath $(GO_OUT)/pkgconfig) \
  CGO_CFLAGS="-I$(abspath include) $(OPT)" \
  CGO_LDFLAGS="-L$(abspath $(BUILD)/lib) -Wl,-rpath,$(abspath $(BUILD)/lib)"
SWIG_GO_FLAGS := -go -cgo -intgosize 64 -package cuvs -Iinclude -Ibindings

# Hand-written sources, copied next to the generated ones.
GO_SOURCES := $(GO_SRC)/go.mod $(wildcard $(GO_SRC)/*.go) \
  $(wildcard $(GO_SRC)/conformance/*.go)
GO_COPIES := $(patsubst $(GO_SRC)/%,$(GO_MOD)/%,$(GO_SOURCES))
GO_EXAMPLE_SOURCES := $(wildcard examples/go/*/*.go)
GO_EXAMPLE_COPIES := $(patsubst examples/go/%,$(GO_MOD)/examples/%,$(GO_EXAMPLE_SOURCES))
GO_CONFORMANCE := $(GO_OUT)/conformance.test

.PHONY: go test-go go-toolchain
go-toolchain:
	@command -v $(GO) >/dev/null 2>&1 || { echo "go: the Go toolchain ($(GO)) is not installed (Debian: golang-go)" >&2; exit 1; }
	@command -v swig >/dev/null 2>&1 || { echo "go: swig is not installed" >&2; exit 1; }

go: deps-go lib go-toolchain $(GO_CUVS)/uvstreams_c.go $(GO_COPIES) $(GO_EXAMPLE_COPIES) \
  $(GO_OUT)/pkgconfig/uvstreams.pc
	@mkdir -p $(GO_OUT)/tmp
	@$(if $(Q),echo "  GO   build $(GO_MOD)")
	$(Q)cd $(GO_MOD) && $(GO_ENV) $(GO) build ./...

# The build tree's library and header, for `#cgo pkg-config: uvstreams`.
$(GO_OUT)/pkgconfig/uvstreams.pc: include/uvstreams.h
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' 'Name: uvstreams' 'Description: uvstreams (build tree)' \
	  'Version: $(VERSION)' 'Libs: -L$(abspath $(BUILD)/lib) -luvstreams' \
	  'Cflags: -I$(abspath include)' > $@

$(GO_CUVS)/uvstreams_c.go: bindings/uvstreams.i $(GO_SRC)/go.i include/uvstreams.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  SWIG $< (go)")
	$(Q)swig $(SWIG_GO_FLAGS) -outdir $(GO_CUVS) -o $(GO_CUVS)/uvstreams_c_wrap.c $<

$(GO_MOD)/%: $(GO_SRC)/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(GO_MOD)/examples/%: examples/go/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

test-go: go conformance-peer
	@$(if $(Q),echo "  GO   vet + test $(GO_MOD)")
	$(Q)cd $(GO_MOD) && $(GO_ENV) $(GO) vet . ./conformance ./examples/... && $(GO_ENV) $(GO) test -count=1 .
	$(Q)cd $(GO_MOD) && $(GO_ENV) $(GO) test -c -o $(abspath $(GO_CONFORMANCE)) ./conformance
	$(Q)UVS_CONFORMANCE_PEER=$(BUILD)/conformance/peer \
	  sh tests/conformance/run.sh go $(GO_CONFORMANCE) -test.v -test.count=1

BINDINGS += go
BINDING_TESTS += test-go
