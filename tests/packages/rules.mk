# tests/packages/rules.mk - `make test-packages`, included by the top Makefile.
#
#   make test-packages                 every language
#   make test-packages PACKAGES='ruby go'  some of them
#
# builds each language's package (gem, rock, CPAN dist, jar, Go module, Tcl
# package), then tests/packages/run.sh installs the C library and the
# packages into a temporary directory and runs each language's echo client
# from outside the tree against the C echo server on loopback. Nothing is
# installed in a system location.

PACKAGES ?= ruby lua perl tcl java go
PACKAGE_TARGETS := $(patsubst %,package-%,$(PACKAGES))

.PHONY: test-packages $(PACKAGE_TARGETS)
test-packages: deps lib examples $(PACKAGE_TARGETS)
	@MAKE="$(MAKE)" sh tests/packages/run.sh $(BUILD) $(PACKAGES)

# Each binding's reference docs in its language's convention, checked with
# its tools (tests/packages/check-docs.sh).
.PHONY: check-binding-docs
check-binding-docs: go
	@MAKE="$(MAKE)" sh tests/packages/check-docs.sh $(BUILD)
