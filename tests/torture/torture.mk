# tests/torture/torture.mk - torture mode (issue 20), included by the Makefile.
#
#   make torture          every injection point of every scenario: the Nth
#                         allocation, thread creation and descriptor
#                         creation made by the library fails, N = 1, 2, ...
#                         (TORTURE_SCENARIOS= a subset; TORTURE_ARGS= more
#                         runner options, e.g. --kind fd)
#   make torture-sample   the bounded sample CI runs: every thread and
#                         descriptor point, about TORTURE_SAMPLE allocation
#                         points per scenario
#
# The library is built again with ASan+UBSan into build-torture/ by the top
# Makefile's own rules; the runner (tests/torture/runner.c) forks one child
# per point, whose exit runs ASan's leak check. Logs of failed points stay
# in build-torture/torture-logs/.

TORTURE_BUILD := build-torture
TORTURE_SAN := address,undefined
TORTURE_LIB := $(TORTURE_BUILD)/lib/libuvstreams.so
TORTURE_BIN := $(TORTURE_BUILD)/torture/uvs_torture
TORTURE_CERT := $(TORTURE_BUILD)/torture/cert.pem
TORTURE_SAMPLE ?= 40
TORTURE_SCENARIOS ?=
TORTURE_ARGS ?=
TORTURE_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=$(TORTURE_SAN) \
  -Wall -Wextra -Werror -Iinclude -Itests/torture -pthread
TORTURE_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: torture torture-sample torture-build

ifndef UVS_TORTURE_SUBMAKE
$(TORTURE_LIB): FORCE
	@$(MAKE) --no-print-directory -f Makefile $@ UVS_TORTURE_SUBMAKE=1 \
	  BUILD=$(TORTURE_BUILD) SANITIZE=$(TORTURE_SAN)
endif

$(TORTURE_BUILD)/torture/inject.o: tests/torture/inject.cc tests/torture/inject.h
	@mkdir -p $(dir $@)
	$(Q)$(CXX) -std=c++17 $(TORTURE_FLAGS) -c $< -o $@

$(TORTURE_BIN): tests/torture/runner.c tests/torture/scenarios.c \
    tests/torture/scenarios.h $(TORTURE_BUILD)/torture/inject.o $(TORTURE_LIB)
	@echo "  LINK $@"
	$(Q)$(CC) -std=gnu99 $(TORTURE_FLAGS) -c tests/torture/runner.c \
	  -o $(TORTURE_BUILD)/torture/runner.o
	$(Q)$(CC) -std=gnu99 $(TORTURE_FLAGS) -c tests/torture/scenarios.c \
	  -o $(TORTURE_BUILD)/torture/scenarios.o
	$(Q)$(CXX) $(TORTURE_FLAGS) -rdynamic -o $@ \
	  $(TORTURE_BUILD)/torture/runner.o $(TORTURE_BUILD)/torture/scenarios.o \
	  $(TORTURE_BUILD)/torture/inject.o -L$(TORTURE_BUILD)/lib \
	  -Wl,-rpath,$(abspath $(TORTURE_BUILD)/lib) -luvstreams -ldl

# A self-signed certificate and its key in one file, for the TLS scenarios.
$(TORTURE_CERT):
	@mkdir -p $(dir $@)
	$(Q)openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	  -keyout $@.key -out $@.crt -days 3650 -subj /CN=localhost 2>/dev/null
	$(Q)cat $@.crt $@.key > $@ && rm -f $@.crt $@.key

torture-build: $(TORTURE_BIN) $(TORTURE_CERT)

torture: torture-build
	@$(TORTURE_ENV) $(TORTURE_BIN) $(TORTURE_CERT) \
	  --logs $(TORTURE_BUILD)/torture-logs $(TORTURE_ARGS) $(TORTURE_SCENARIOS)

torture-sample: torture-build
	@$(TORTURE_ENV) $(TORTURE_BIN) $(TORTURE_CERT) --sample $(TORTURE_SAMPLE) \
	  --logs $(TORTURE_BUILD)/torture-logs $(TORTURE_ARGS) $(TORTURE_SCENARIOS)
