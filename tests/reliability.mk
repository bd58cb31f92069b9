# tests/reliability.mk - fuzzing, differential, stress and soak (issue 7).
#
# Included by the top Makefile (include tests/reliability.mk), or meanwhile:
#   make -f Makefile -f tests/reliability.mk <target>
#
#   fuzz-build        libFuzzer targets into build-fuzz/ (clang-14; the engine
#                     is compiled again with -fsanitize=fuzzer-no-link,
#                     address,undefined into build-fuzz/engine/)
#   fuzz              runs each target FUZZ_SECONDS (default 60) on its seed
#                     corpus (tests/fuzz/corpus/<target>) plus the inputs it
#                     found before (build-fuzz/corpus/<target>); prints the
#                     execution counts; any crash, leak, timeout or model
#                     mismatch fails (the reproducer is left in build-fuzz/)
#   fuzz-regress      replays the seed corpora once (seconds; no fuzzing)
#   fuzz-merge        merges build-fuzz/corpus/<t> into the seed corpora
#   differential      tests/fuzz/differential.py: uvstreams' reader against
#                     CPython's asyncio.StreamReader (DIFF_CASES, DIFF_SEED)
#   stress-quick      the stress and fault programs, short (< 60 s in all)
#   stress            the same, full size (10,000 connections, ...)
#   soak              SECONDS=N (default 60): everything mixed, with figures
#   repro             builds and runs tests/fuzz/repro/*.c, the minimal
#                     reproductions of the engine defects these tools found
#
# The stress programs (one binary, $(BUILD)/stress/uvs_stress) and the
# reproductions are built like the tests, against $(BUILD)/lib, so
# SANITIZE=address,undefined / thread apply to them too.

FUZZ_BUILD ?= build-fuzz
FUZZ_CXX ?= clang++-14
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := reader api
FUZZ_SANITIZE := address,undefined
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_ENGINE := $(FUZZ_BUILD)/engine/lib/libuvstreams.a
FUZZ_BINS := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))
# Per-input limits: a hang or a runaway allocation is a failure too.
FUZZ_OPTS ?= -timeout=20 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1

STRESS_SRCS := $(wildcard tests/stress/*.c)
SECONDS ?= 60
DIFF_CASES ?= 30000
DIFF_SEED ?=

.PHONY: fuzz fuzz-build fuzz-regress fuzz-merge differential stress \
  stress-quick stress-build soak repro FORCE

# The engine with coverage and sanitizers, by the top Makefile's own rules
# (only the static library: a sanitized shared object would not link with
# --no-undefined). The sub-make decides whether anything is out of date.
# UVS_FUZZ_SUBMAKE keeps this rule out of the sub-make, where the same file
# is the top Makefile's $(STATIC).
ifndef UVS_FUZZ_SUBMAKE
$(FUZZ_ENGINE): FORCE
	@$(MAKE) --no-print-directory -f Makefile $@ UVS_FUZZ_SUBMAKE=1 \
	  BUILD=$(FUZZ_BUILD)/engine CXX=$(FUZZ_CXX) \
	  SANITIZE=fuzzer-no-link,$(FUZZ_SANITIZE) OPT="$(FUZZ_FLAGS)" \
	  WARN="-Wall -Wextra"
endif
FORCE:

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.cc $(FUZZ_ENGINE) include/uvstreams.h
	@mkdir -p $(dir $@)
	@echo "  FUZZ $@"
	$(Q)$(FUZZ_CXX) -std=c++17 $(FUZZ_FLAGS) -Wall -Wextra -Iinclude \
	  -fsanitize=fuzzer,$(FUZZ_SANITIZE) $< $(FUZZ_ENGINE) $(UV_LIBS) \
	  -pthread -o $@

fuzz-build: deps-fuzz $(FUZZ_BINS)

# One target after the other (two cores, shared with other builds). The
# summary line per target is what CI logs: executions and corpus size.
fuzz: fuzz-build
	@failed=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	  echo "=== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  if ( cd $(FUZZ_BUILD)/artifacts/$$t && \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ../../fuzz_$$t $(FUZZ_OPTS) -max_total_time=$(FUZZ_SECONDS) \
	      ../../corpus/$$t $(CURDIR)/tests/fuzz/corpus/$$t ) \
	    > $(FUZZ_BUILD)/fuzz_$$t.log 2>&1; then \
	    execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/fuzz_$$t.log); \
	    cov=$$(grep -o 'cov: [0-9]*' $(FUZZ_BUILD)/fuzz_$$t.log | tail -n 1); \
	    echo "PASS: fuzz_$$t: $$execs executions in $(FUZZ_SECONDS) s, $$cov, $$(ls $(FUZZ_BUILD)/corpus/$$t | wc -l) inputs found"; \
	  else \
	    grep -v -e '^#' -e '^INFO' -e '^ *#[0-9]' -e 'NEW_FUNC' $(FUZZ_BUILD)/fuzz_$$t.log | tail -n 40; \
	    echo "FAIL: fuzz_$$t (log: $(FUZZ_BUILD)/fuzz_$$t.log, reproducer in $(FUZZ_BUILD)/artifacts/$$t)"; \
	    failed=$$((failed + 1)); \
	  fi; \
	done; [ $$failed -eq 0 ]

fuzz-regress: fuzz-build
	@failed=0; for t in $(FUZZ_TARGETS); do \
	  n=$$(ls tests/fuzz/corpus/$$t | wc -l); \
	  if ( cd $(FUZZ_BUILD) && ./fuzz_$$t -timeout=20 -runs=0 $(CURDIR)/tests/fuzz/corpus/$$t ) \
	    > $(FUZZ_BUILD)/regress_$$t.log 2>&1; then \
	    echo "PASS: fuzz_$$t replays its $$n seeds"; \
	  else \
	    grep -v -e '^#' -e '^INFO' -e '^ *#[0-9]' $(FUZZ_BUILD)/regress_$$t.log | tail -n 40; \
	    echo "FAIL: fuzz_$$t seeds (log: $(FUZZ_BUILD)/regress_$$t.log)"; \
	    failed=$$((failed + 1)); \
	  fi; \
	done; [ $$failed -eq 0 ]

# -use_counters=0: one seed per new edge (not per hit-count bucket), which
# keeps the seed sets small.
fuzz-merge: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  ./$(FUZZ_BUILD)/fuzz_$$t -merge=1 -use_counters=0 tests/fuzz/corpus/$$t \
	    $(FUZZ_BUILD)/corpus/$$t; \
	done

differential: deps-fuzz lib
	@/usr/bin/python3 tests/fuzz/differential.py --lib $(BUILD)/lib/libuvstreams.so \
	  --cases $(DIFF_CASES) $(if $(DIFF_SEED),--seed $(DIFF_SEED))

# ---- repro ---------------------------------------------------------------------

# tests/fuzz/repro/*.c: one minimal reproduction per engine defect found by
# the tools above; each prints "DEFECT: ..." and exits 1 while the defect is
# there, "ok" and 0 once fixed. Every defect is fixed, so make test runs them
# as regression tests: one showing its defect again fails the build.
REPRO_SRCS := $(wildcard tests/fuzz/repro/*.c)
REPRO_BINS := $(patsubst tests/fuzz/repro/%.c,$(BUILD)/repro/%,$(REPRO_SRCS))

$(BUILD)/repro/%: tests/fuzz/repro/%.c include/uvstreams.h $(BUILD)/lib/libuvstreams.so
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_USER) $< -o $@ $(LINK_USER)

repro: lib $(REPRO_BINS)
	@n=0; bad=0; for b in $(REPRO_BINS); do n=$$((n + 1)); \
	  echo "=== $$(basename $$b)"; \
	  timeout 120 $$b || bad=$$((bad + 1)); \
	done; echo "$$bad of $$n reproductions show their defect"; test $$bad = 0

# ---- stress -------------------------------------------------------------------

STRESS_BIN := $(BUILD)/stress/uvs_stress

$(STRESS_BIN): $(STRESS_SRCS) $(wildcard tests/stress/*.h) include/uvstreams.h \
    $(BUILD)/lib/libuvstreams.so
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(CFLAGS_USER) -Itests/stress $(STRESS_SRCS) -o $@ $(LINK_USER)

stress-build: $(STRESS_BIN)

# Each program prints its figures and exits non-zero on any failure.
stress-quick: lib stress-build
	@sh tests/stress/run.sh $(BUILD) quick

stress: lib stress-build
	@sh tests/stress/run.sh $(BUILD) full

soak: lib stress-build
	@sh tests/stress/run.sh $(BUILD) soak $(SECONDS)
