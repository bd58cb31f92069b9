# frozen_string_literal: true

# The uvstreams gem: the Ruby layer (lib/) and the SWIG extension
# UVStreams::C (ext/uvstreams_c), built by extconf.rb against the installed
# C library, found with pkg-config.
#
# The gem is built from a staged source tree, not from bindings/ruby itself:
# `make ruby-gem` puts this file, lib/, ext/uvstreams_c/extconf.rb, the
# wrapper SWIG generates (uvstreams_c_wrap.cxx, so installing the gem needs
# no SWIG) and a VERSION file (the C library's version, from uvstreams.h) in
# $(BUILD)/ruby/gem and runs `gem build` there.

Gem::Specification.new do |spec|
  spec.name = 'uvstreams'
  spec.version = File.read(File.join(__dir__, 'VERSION')).strip
  spec.summary = 'asyncio-style byte streams on the uvstreams C library'
  spec.description = 'readline, readexactly, readuntil with a buffer limit, ' \
                     'write/drain/write_eof/close on TCP, Unix sockets and TLS, ' \
                     'as blocking methods that release the GVL while they wait.'
  spec.authors = ['The uvstreams authors']
  spec.homepage = 'https://github.com/uvstreams/uvstreams'
  spec.license = 'MIT'
  spec.required_ruby_version = '>= 2.7'
  spec.files = Dir.chdir(__dir__) do
    Dir['lib/**/*.rb'] + Dir['ext/uvstreams_c/*.{rb,cxx}'] + ['VERSION', 'uvstreams.gemspec']
  end
  spec.require_paths = ['lib']
  spec.extensions = ['ext/uvstreams_c/extconf.rb']
  spec.requirements << 'the uvstreams C library and its pkg-config file (uvstreams.pc)'
end
