# bench/rules.mk - `make bench`: echo servers measured side by side.
#
#   make bench           full run (about 15 minutes): every server, 1/10/100
#                        KiB, 10 and 100 connections, 3 interleaved rounds,
#                        10,000 idle connections, a 1 GiB transfer
#   make bench QUICK=1   the short version CI runs (well under 2 minutes);
#                        exits non-zero if a server fails to start or an echo
#                        is wrong, never because of the numbers
#   make bench-build     just the C programs ($(BUILD)/bench/loadgen, bare_echo,
#                        fresh_pages)
#   BENCH_ARGS="..."     extra arguments for bench/run.py (see --help), e.g.
#                        BENCH_ARGS="--rounds 5 --only bare,c-cq"
#                        or BENCH_ARGS="--only tls" (the TLS rows only)
#
# Results: a table on stdout, JSON and PNG charts in bench/results/ (QUICK:
# bench/results/quick/). The uvstreams Python rows need `make python`; it is
# tried first, and if the binding does not build or import those rows say
# "unavailable" (the rest still runs).
#
# Meant to be included by the top Makefile after the library rules (it uses
# BUILD, OPT, WARN, Q and the lib/examples targets); it also works as
#   make -f Makefile -f bench/rules.mk bench

DEB_PARTS += bench
DEB_PACKAGES_bench := python3 python3-matplotlib python3-uvloop

BENCH_OUT := $(BUILD)/bench
BENCH_CFLAGS := -std=c11 $(OPT) $(WARN) -D_GNU_SOURCE
BENCH_PYTHON := /usr/bin/python3
BENCH_RESULTS := bench/results$(if $(QUICK),/quick)

.PHONY: bench bench-build
bench-build: $(BENCH_OUT)/loadgen $(BENCH_OUT)/bare_echo $(BENCH_OUT)/fresh_pages

$(BENCH_OUT)/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(BENCH_CFLAGS) $< -o $@ -lssl -lcrypto

$(BENCH_OUT)/bare_echo: bench/bare_echo.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(BENCH_CFLAGS) $< -o $@ $(UV_LIBS)

$(BENCH_OUT)/fresh_pages: bench/fresh_pages.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(BENCH_CFLAGS) $< -o $@

bench: deps-lib deps-bench lib examples bench-build
	@$(MAKE) --no-print-directory python >$(BENCH_OUT)/make-python.log 2>&1 || \
	  echo "bench: \`make python\` failed (see $(BENCH_OUT)/make-python.log):" \
	    "the uvstreams Python rows will be unavailable" >&2
	$(Q)$(BENCH_PYTHON) bench/run.py --build $(BUILD) --out $(BENCH_RESULTS) \
	  $(if $(QUICK),--quick) $(BENCH_ARGS)
