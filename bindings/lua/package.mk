# bindings/lua/package.mk - the LuaRocks rock, included by the top Makefile.
#
#   make lua-rock   $(BUILD)/lua/rock/: uvstreams-$(VERSION)-1.rockspec (from
#                   bindings/lua/uvstreams.rockspec.in), uvstreams.lua and the
#                   SWIG wrapper uvstreams_c_wrap.c; in that directory
#
#   luarocks --lua-version 5.4 make [--tree DIR] \
#     UVSTREAMS_INCDIR=$(pkg-config --variable=includedir uvstreams) \
#     UVSTREAMS_LIBDIR=$(pkg-config --variable=libdir uvstreams)
#
# builds and installs the rock against the installed C library (make
# install); `luarocks pack` there makes a source rock. Without the two
# variables LuaRocks looks for the library in /usr/local and /usr.

# luarocks: for the rock (and make test-packages).
DEB_PACKAGES_lua += luarocks

LUA_ROCK_DIR := $(LUA_OUT)/rock
LUA_ROCKSPEC := $(LUA_ROCK_DIR)/uvstreams-$(VERSION)-1.rockspec

.PHONY: lua-rock package-lua
lua-rock: $(LUA_ROCKSPEC) $(LUA_ROCK_DIR)/uvstreams_c_wrap.c $(LUA_ROCK_DIR)/uvstreams.lua
package-lua: lua-rock

$(LUA_ROCKSPEC): $(LUA_SRC)/uvstreams.rockspec.in include/uvstreams.h
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@VERSION@|$(VERSION)|g' $< > $@

$(LUA_ROCK_DIR)/uvstreams_c_wrap.c: $(LUA_WRAP)
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(LUA_ROCK_DIR)/uvstreams.lua: $(LUA_SRC)/uvstreams.lua
	@mkdir -p $(dir $@)
	$(Q)cp $< $@
