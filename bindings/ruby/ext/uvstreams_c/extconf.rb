# frozen_string_literal: true

# Builds UVStreams::C (uvstreams_c.so) from the SWIG wrapper shipped in the
# gem, against the installed uvstreams C library. pkg-config finds it
# (PKG_CONFIG_PATH for a prefix of one's own); the extension gets a run path
# to the library's directory, so it loads without LD_LIBRARY_PATH.
require 'mkmf'

unless pkg_config('uvstreams')
  abort 'uvstreams: pkg-config cannot find uvstreams.pc. Install the C library ' \
        '(make install PREFIX=...) and put PREFIX/lib/pkgconfig on PKG_CONFIG_PATH.'
end
abort 'uvstreams: uvstreams.h is not usable (see mkmf.log)' unless have_header('uvstreams.h')

libdir = pkg_config('uvstreams', 'variable=libdir')
$DLDFLAGS << " -Wl,-rpath,#{libdir}" if libdir && !libdir.empty?
# The wrapper runs the blocking calls in lambdas (C++17); SWIG 4.1's Ruby
# runtime triggers these two warnings, which say nothing about this code.
$CXXFLAGS << ' -std=c++17 -Wno-unused-parameter -Wno-deprecated-declarations'

create_makefile('uvstreams_c')
