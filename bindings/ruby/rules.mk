# bindings/ruby/rules.mk - the Ruby binding, included by the top Makefile.
#
#   make ruby           build/ruby/: the SWIG extension uvstreams_c.so (linked
#                       to build/lib with an rpath) and the Ruby layer:
#                       ruby -Ibuild/ruby -ruvstreams -e 'p UVStreams::VERSION'
#   make test-ruby      the minitest suite (bindings/ruby/test), then the
#                       conformance scenarios through tests/conformance/run.sh
#   make install-ruby   into Ruby's site directories (RbConfig sitelibdir and
#                       sitearchdir; RUBY_LIBDIR / RUBY_ARCHDIR override them),
#                       honouring DESTDIR; the extension finds libuvstreams
#                       in $(LIBDIR) (make install)
#
# Debian's interpreter only: RUBY is /usr/bin/ruby. Without it (or its
# headers) every target fails with a message, never skips.

DEB_PARTS += ruby
DEB_PACKAGES_ruby := ruby-dev swig

RB_SRC := bindings/ruby
RB_OUT := $(BUILD)/ruby
RUBY := /usr/bin/ruby
rb_config = $(shell $(RUBY) -rrbconfig -e 'print RbConfig::CONFIG["$(1)"]' 2>/dev/null)
RB_INCLUDES = -I$(call rb_config,rubyhdrdir) -I$(call rb_config,rubyarchhdrdir)
RB_LIBRUBY = $(call rb_config,LIBRUBYARG_SHARED)
RUBY_LIBDIR ?= $(call rb_config,sitelibdir)
RUBY_ARCHDIR ?= $(call rb_config,sitearchdir)

RB_WRAP := $(RB_OUT)/uvstreams_c_wrap.cxx
RB_EXT := $(RB_OUT)/uvstreams_c.so
RB_INSTALL_EXT := $(RB_OUT)/install/uvstreams_c.so
RB_SOURCES := $(shell find $(RB_SRC)/lib -name '*.rb')
RB_COPIES := $(patsubst $(RB_SRC)/lib/%,$(RB_OUT)/%,$(RB_SOURCES))
# -module makes the extension UVStreams::C; -c++ because ruby.i runs the
# blocking calls in lambdas (rb_thread_call_without_gvl2).
SWIG_RB_FLAGS := -c++ -ruby -module UVStreams::C -initname uvstreams_c -Iinclude -Ibindings
# The generated wrapper only: SWIG 4.1's Ruby runtime passes ANYARGS
# callbacks that Ruby 3's C++ headers mark deprecated, and every wrapper
# function has an unused `self` parameter. Everything else stays -Werror.
RB_WRAP_CXXFLAGS := -std=c++17 $(OPT) -Wall -Wextra -Werror -Wno-unused-parameter \
  -Wno-deprecated-declarations -fPIC -pthread

.PHONY: ruby test-ruby install-ruby ruby-toolchain
ruby: deps-ruby lib ruby-toolchain $(RB_EXT) $(RB_COPIES)

ruby-toolchain:
	@test -x $(RUBY) || { echo "ruby: $(RUBY) is missing (Debian package ruby-dev)" >&2; exit 1; }
	@test -f "$(call rb_config,rubyhdrdir)/ruby.h" || \
	  { echo "ruby: ruby.h is missing (Debian package ruby-dev)" >&2; exit 1; }
	@$(RUBY) -e 'require "minitest"' || \
	  { echo "ruby: minitest is missing (Debian package ruby)" >&2; exit 1; }

$(RB_WRAP): bindings/uvstreams.i $(RB_SRC)/ruby.i include/uvstreams.h | ruby-toolchain
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  SWIG $<")
	$(Q)swig $(SWIG_RB_FLAGS) -o $@ $<

# $(1): the output, $(2): the directory libuvstreams is found in at run time.
define rb_link
	@mkdir -p $(dir $(1))
	@$(if $(Q),echo "  CXX  $(1)")
	$(Q)$(CXX) $(RB_WRAP_CXXFLAGS) -Iinclude $(RB_INCLUDES) -shared $< -o $(1) \
	  -L$(BUILD)/lib -Wl,-rpath,$(2) -luvstreams $(RB_LIBRUBY)
endef

$(RB_EXT): $(RB_WRAP) $(BUILD)/lib/libuvstreams.so
	$(call rb_link,$@,$(abspath $(BUILD)/lib))

$(RB_INSTALL_EXT): $(RB_WRAP) $(BUILD)/lib/libuvstreams.so $(LIBDIR_STAMP)
	$(call rb_link,$@,$(LIBDIR))

$(RB_OUT)/%.rb: $(RB_SRC)/lib/%.rb
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

test-ruby: ruby conformance-peer
	@$(RUBY) -I$(RB_OUT) $(RB_SRC)/test/run.rb
	@UVS_CONFORMANCE_PEER=$(BUILD)/conformance/peer sh tests/conformance/run.sh ruby \
	  $(RUBY) -I$(RB_OUT) $(RB_SRC)/test/conformance_test.rb

install-ruby: ruby $(RB_INSTALL_EXT)
	$(call check_install_dirs,$(DESTDIR)$(RUBY_LIBDIR)/uvstreams $(DESTDIR)$(RUBY_ARCHDIR))
	install -d $(DESTDIR)$(RUBY_LIBDIR)/uvstreams $(DESTDIR)$(RUBY_ARCHDIR)
	install -m 644 $(RB_SRC)/lib/uvstreams.rb $(DESTDIR)$(RUBY_LIBDIR)/
	install -m 644 $(wildcard $(RB_SRC)/lib/uvstreams/*.rb) $(DESTDIR)$(RUBY_LIBDIR)/uvstreams/
	install -m 755 $(RB_INSTALL_EXT) $(DESTDIR)$(RUBY_ARCHDIR)/

BINDINGS += ruby
BINDING_TESTS += test-ruby
BINDING_INSTALLS += install-ruby
