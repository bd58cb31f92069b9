# tests/conformance/conformance.mk - the conformance scenarios' reference peer
# and the Python runner (tests/conformance/FORMAT.md); included by the top
# Makefile after the bindings' rules.mk files, so BINDING_TESTS and the
# `python` target already exist here.
#
#   make conformance-peer          $(BUILD)/conformance/peer (plain C99 +
#                                  pthreads, no libuvstreams)
#   make test-conformance-python   the scenarios against uvstreams.sync and
#                                  against the standard library's asyncio
#                                  streams (the oracle), through run.sh

CONFORMANCE_DIR := tests/conformance
CONFORMANCE_PEER := $(BUILD)/conformance/peer

.PHONY: conformance-peer test-conformance-python
conformance-peer: $(CONFORMANCE_PEER)

# CFLAGS_USER is -std=c99 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread (plus
# the sanitizer flags when SANITIZE is set); the peer links nothing else.
$(CONFORMANCE_PEER): $(CONFORMANCE_DIR)/peer.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(CFLAGS_USER) $< -o $@ -pthread $(SANFLAGS)

test-conformance-python: python conformance-peer
	@UVS_CONFORMANCE_PEER=$(CONFORMANCE_PEER) PYTHONPATH=$(abspath $(PY_OUT)) \
	  PYTHONDONTWRITEBYTECODE=1 sh $(CONFORMANCE_DIR)/run.sh python \
	  $(PYTHON) -P -m pytest -q -p no:cacheprovider \
	  $(PY_SRC)/tests/test_conformance.py

BINDING_TESTS += test-conformance-python
