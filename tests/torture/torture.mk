# tests/torture/torture.mk - torture mode (issue 20), included by the Makefile.
#
#   make torture          every injection point of every scenario: the Nth
#                         allocation, thread creation and descriptor
#                         creation made by the library fails, N = 1, 2, ...
#                         (TORTURE_SCENARIOS= a subset; TORTURE_ARGS= more
#                         runner options, e.g. --kind fd)
#   make torture-sample   the bounded sample CI runs: every thread and
#                         descriptor point, and the allocation points of the
#                         defects fixed (TORTURE_ARGS="--sample K" on make
#                         torture: about K allocation points per scenario)
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

# The interposers run before ASan is initialised (dlsym allocates): they
# are not instrumented themselves.
$(TORTURE_BUILD)/torture/inject.o: tests/torture/inject.cc tests/torture/inject.h
	@mkdir -p $(dir $@)
	$(Q)$(CXX) -std=c++17 $(TORTURE_FLAGS) -fno-sanitize=all -c $< -o $@

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

# The defects torture found and that are fixed, each pinned to the point
# that showed it (scenario:kind:N, N in the library's current allocation
# order: a change before that point in the scenario moves it).
TORTURE_REGRESSIONS := echo_host:alloc:20 shutdown_host:alloc:20 \
  echo_host:alloc:55 echo_host:alloc:58 echo_host:alloc:81 echo_host:alloc:109

# CI: every descriptor and thread point of every scenario, every allocation
# point of the two host-driven plain scenarios (where the fixed defects
# were found, so a moved point is still covered), and the pinned
# regressions (the allocation points of the threaded scenarios still hit
# unfixed defects, see the exclusions in runner.c; make torture runs them).
TORTURE_SAMPLE_ALLOC := echo_host shutdown_host
torture-sample: torture-build
	@$(TORTURE_ENV) $(TORTURE_BIN) $(TORTURE_CERT) --kind alloc \
	  --logs $(TORTURE_BUILD)/torture-logs $(TORTURE_ARGS) $(TORTURE_SAMPLE_ALLOC)
	@$(TORTURE_ENV) $(TORTURE_BIN) $(TORTURE_CERT) --kind fd \
	  --logs $(TORTURE_BUILD)/torture-logs $(TORTURE_ARGS) $(TORTURE_SCENARIOS)
	@$(TORTURE_ENV) $(TORTURE_BIN) $(TORTURE_CERT) --kind thread \
	  --logs $(TORTURE_BUILD)/torture-logs $(TORTURE_ARGS) $(TORTURE_SCENARIOS)
	@for p in $(TORTURE_REGRESSIONS); do \
	  set -- $$(echo $$p | tr : ' '); \
	  $(TORTURE_ENV) $(TORTURE_BIN) $(TORTURE_CERT) --point $$1 $$2 $$3 \
	    > $(TORTURE_BUILD)/torture-logs/point.log 2>&1 \
	    || { cat $(TORTURE_BUILD)/torture-logs/point.log; exit 1; }; \
	  tail -n 1 $(TORTURE_BUILD)/torture-logs/point.log; \
	done
