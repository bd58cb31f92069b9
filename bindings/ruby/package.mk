# bindings/ruby/package.mk - the Ruby gem, included by the top Makefile.
#
#   make ruby-gem   $(BUILD)/ruby/uvstreams-$(VERSION).gem, built by
#                   `gem build` from the staged tree $(BUILD)/ruby/gem:
#                   uvstreams.gemspec, lib/, ext/uvstreams_c (extconf.rb and
#                   the SWIG wrapper, so installing needs no SWIG)
#
#   gem install --local build/ruby/uvstreams-0.1.0.gem
#
# compiles the extension against the installed C library (make install),
# found with pkg-config: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a prefix
# pkg-config does not search. tests/packages/run.sh installs it into a
# GEM_HOME of its own.

RB_GEM_DIR := $(RB_OUT)/gem
RB_GEM := $(RB_OUT)/uvstreams-$(VERSION).gem

.PHONY: ruby-gem
ruby-gem: ruby-toolchain $(RB_GEM)

$(RB_GEM): $(RB_WRAP) $(RB_SOURCES) $(RB_SRC)/uvstreams.gemspec $(RB_SRC)/ext/uvstreams_c/extconf.rb
	@rm -rf $(RB_GEM_DIR) && mkdir -p $(RB_GEM_DIR)/ext/uvstreams_c
	$(Q)cp -r $(RB_SRC)/lib $(RB_SRC)/uvstreams.gemspec $(RB_GEM_DIR)/
	$(Q)cp $(RB_SRC)/ext/uvstreams_c/extconf.rb $(RB_WRAP) $(RB_GEM_DIR)/ext/uvstreams_c/
	$(Q)echo $(VERSION) > $(RB_GEM_DIR)/VERSION
	@$(if $(Q),echo "  GEM  $@")
	$(Q)cd $(RB_GEM_DIR) && gem build --silent uvstreams.gemspec -o $(abspath $@)

package-ruby: ruby-gem
