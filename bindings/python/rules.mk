# bindings/python/rules.mk - the Python binding, included by the top Makefile.
#
#   make python        build/python/uvstreams/ (the package plus the SWIG
#                      extension _uvstreams_c, linked to build/lib with an
#                      rpath): PYTHONPATH=build/python python3 -c "import uvstreams"
#   make test-python   the pytest suite (bindings/python/tests) on Debian's
#                      /usr/bin/python3; "no tests collected" is a failure
#
# Debian's interpreter only (never a pyenv one): PYTHON is /usr/bin/python3.

DEB_PARTS += python
# pip, venv, wheel and mypy: the wheel test (test_packaging.py) builds a
# wheel offline, installs it into a fresh venv and runs mypy --strict on it.
DEB_PACKAGES_python := swig python3-dev python3-pytest python3-uvloop python3-setuptools \
  python3-hypercorn curl python3-pip python3-venv python3-wheel python3-mypy

PY_SRC := bindings/python
PY_OUT := $(BUILD)/python
PY_PKG := $(PY_OUT)/uvstreams
PYTHON := /usr/bin/python3
PY_INCLUDES = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_paths()['include'])")
# The extension's file name carries the interpreter's suffix. It is asked only
# if the interpreter exists (no "python3: not found" while parsing on a fresh
# machine); `make python` installs it first, then builds in a new make that
# can ask.
PY_EXT_SUFFIX = $(if $(wildcard $(PYTHON)),$(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"))
PY_EXT = $(PY_PKG)/_uvstreams_c$(PY_EXT_SUFFIX)
PY_SOURCES := $(wildcard $(PY_SRC)/uvstreams/*.py $(PY_SRC)/uvstreams/*.pyi) \
  $(PY_SRC)/uvstreams/py.typed
PY_COPIES := $(patsubst $(PY_SRC)/uvstreams/%,$(PY_PKG)/%,$(PY_SOURCES))
PY_WRAP := $(PY_OUT)/uvstreams_c_wrap.c
SWIG_PY_FLAGS := -python -builtin -threads -Iinclude -Ibindings
# SWIG 4.1's generated C compiles cleanly with the project's warnings.
PY_WRAP_CFLAGS := -std=c11 $(OPT) -Wall -Wextra -Werror -fPIC -pthread

.PHONY: python python-build test-python
python: deps-python lib
	@$(MAKE) --no-print-directory python-build
python-build: $(PY_EXT) $(PY_COPIES)

# The interpreter the extension is built for must run, be a Python the
# package supports (setup.py's python_requires) and have its C headers:
# otherwise one message that says what to do, before anything is built.
.PHONY: python-check
python-check:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make python: PYTHON=$(PYTHON) is not a Python 3.11 or newer that runs;" \
	    "leave PYTHON unset for Debian's /usr/bin/python3 (apt-get install python3-dev)" >&2; \
	  exit 1; }
	@[ -f "$(PY_INCLUDES)/Python.h" ] || { \
	  echo "make python: $(PYTHON) has no C headers (no Python.h in '$(PY_INCLUDES)'):" \
	    "install them (Debian: python3-dev)" >&2; exit 1; }

$(PY_WRAP): bindings/uvstreams.i $(PY_SRC)/python.i include/uvstreams.h | python-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  SWIG $<")
	$(Q)swig $(SWIG_PY_FLAGS) -outdir $(PY_OUT) -o $@ $<

$(PY_EXT): $(PY_WRAP) $(BUILD)/lib/libuvstreams.so
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC   $@")
	$(Q)$(CC) $(PY_WRAP_CFLAGS) -Iinclude -I$(PY_INCLUDES) -shared $< -o $@ \
	  -L$(BUILD)/lib -Wl,-rpath,$(abspath $(BUILD)/lib) -luvstreams

$(PY_PKG)/%: $(PY_SRC)/uvstreams/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

test-python: python $(FAKE_HOSTS_SO)
	@PYTHONPATH=$(abspath $(PY_OUT)) PYTHONDONTWRITEBYTECODE=1 \
	  UVST_FAKE_HOSTS_SO=$(abspath $(FAKE_HOSTS_SO)) \
	  UVSTREAMS_TEST_LIBDIR=$(abspath $(BUILD)/lib) \
	  $(PYTHON) -P -m pytest -q -p no:cacheprovider $(PY_SRC)/tests; rc=$$?; \
	  if [ $$rc = 5 ]; then echo "test-python: no tests were collected" >&2; exit 1; fi; \
	  exit $$rc

BINDINGS += python
BINDING_TESTS += test-python
