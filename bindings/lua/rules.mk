# bindings/lua/rules.mk - the Lua 5.4 binding, included by the top Makefile.
#
#   make lua           build/lua/uvstreams_c.so (the SWIG module, linked to
#                      build/lib with an rpath) and build/lua/uvstreams.lua:
#                      LUA_CPATH='build/lua/?.so' LUA_PATH='build/lua/?.lua' \
#                        lua5.4 -e 'print(require("uvstreams").version)'
#   make test-lua      the unit tests (bindings/lua/tests/test_*.lua, run by
#                      bindings/lua/tests/run.lua) and the conformance
#                      scenarios (tests/conformance) through the Lua runner
#   make install-lua   the module into $(PREFIX)/lib/lua/5.4 and the Lua
#                      layer into $(PREFIX)/share/lua/5.4 (Lua's default
#                      search paths for /usr/local), honouring DESTDIR; the
#                      installed module finds libuvstreams in $(LIBDIR)
#
# Debian's lua5.4 and liblua5.4-dev (installed by `make deps`).

DEB_PARTS += lua
DEB_PACKAGES_lua := swig liblua5.4-dev lua5.4 pkg-config

LUA_SRC := bindings/lua
LUA_OUT := $(BUILD)/lua
LUA := lua5.4
LUA_INCLUDES = $(shell pkg-config --cflags lua5.4)
LUA_WRAP := $(LUA_OUT)/uvstreams_c_wrap.c
LUA_MOD := $(LUA_OUT)/uvstreams_c.so
LUA_INSTALL_MOD := $(LUA_OUT)/install/uvstreams_c.so
LUA_LAYER := $(LUA_OUT)/uvstreams.lua
LUA_CMOD_DIR ?= $(PREFIX)/lib/lua/5.4
LUA_LMOD_DIR ?= $(PREFIX)/share/lua/5.4
# SWIG 4.1's generated Lua wrapper (and lua.i's typemaps in it) compiles
# cleanly with the project's warnings. No -Wl,--no-undefined: a Lua module
# takes the lua_* symbols from the interpreter that loads it.
LUA_WRAP_CFLAGS := -std=c11 $(OPT) -Wall -Wextra -Werror -fPIC -pthread
LUA_TEST_ENV = LUA_CPATH='$(abspath $(LUA_OUT))/?.so' \
  LUA_PATH='$(abspath $(LUA_OUT))/?.lua;$(abspath $(LUA_SRC))/tests/?.lua'

.PHONY: lua test-lua install-lua
lua: deps-lua lib $(LUA_MOD) $(LUA_LAYER)

$(LUA_WRAP): bindings/uvstreams.i $(LUA_SRC)/lua.i include/uvstreams.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  SWIG $<")
	$(Q)swig -lua -nomoduleglobal -Iinclude -Ibindings -o $@ $<

# $(1): the module, $(2): where it finds libuvstreams at run time.
define LUA_LINK_MODULE
	@mkdir -p $(dir $(1))
	@$(if $(Q),echo "  CC   $(1)")
	$(Q)$(CC) $(LUA_WRAP_CFLAGS) -Iinclude $(LUA_INCLUDES) -shared $(LUA_WRAP) \
	  -o $(1) -L$(BUILD)/lib -Wl,-rpath,$(2) -luvstreams
endef

$(LUA_MOD): $(LUA_WRAP) $(BUILD)/lib/libuvstreams.so
	$(call LUA_LINK_MODULE,$@,$(abspath $(BUILD)/lib))

$(LUA_LAYER): $(LUA_SRC)/uvstreams.lua
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

test-lua: lua conformance-peer
	$(Q)$(LUA_TEST_ENV) $(LUA) $(LUA_SRC)/tests/run.lua $(sort $(wildcard $(LUA_SRC)/tests/test_*.lua))
	$(Q)$(LUA_TEST_ENV) UVS_CONFORMANCE_PEER=$(BUILD)/conformance/peer \
	  sh tests/conformance/run.sh lua $(LUA) $(LUA_SRC)/tests/conformance.lua

# Relinked on every install: its run path is this install's LIBDIR.
install-lua: lua
	$(call check_install_dirs,$(DESTDIR)$(LUA_CMOD_DIR) $(DESTDIR)$(LUA_LMOD_DIR))
	$(call LUA_LINK_MODULE,$(LUA_INSTALL_MOD),$(LIBDIR))
	install -d $(DESTDIR)$(LUA_CMOD_DIR) $(DESTDIR)$(LUA_LMOD_DIR)
	install -m 755 $(LUA_INSTALL_MOD) $(DESTDIR)$(LUA_CMOD_DIR)/
	install -m 644 $(LUA_SRC)/uvstreams.lua $(DESTDIR)$(LUA_LMOD_DIR)/

BINDINGS += lua
BINDING_TESTS += test-lua
BINDING_INSTALLS += install-lua
