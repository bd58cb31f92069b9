"""Packaging of the uvstreams Python binding (Debian pip/setuptools, offline).

    make lib                       # the C library, in build/lib
    pip install --no-build-isolation ./bindings/python

The extension is generated from bindings/uvstreams.i by SWIG into the build
directory (never into the source tree) and linked against the library that
`make` built, with an rpath to it; UVSTREAMS_LIBDIR and UVSTREAMS_INCLUDEDIR
point elsewhere (e.g. /usr/local/lib and /usr/local/include after
`make install`).
"""

import os
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INTERFACE = os.path.join(ROOT, 'bindings', 'uvstreams.i')
LIBDIR = os.environ.get('UVSTREAMS_LIBDIR', os.path.join(ROOT, 'build', 'lib'))
INCLUDEDIR = os.environ.get('UVSTREAMS_INCLUDEDIR',
                            os.path.join(ROOT, 'include'))
# Build products stay out of the source tree.
BUILD_BASE = os.path.join(ROOT, 'build', 'python-setup')
os.makedirs(BUILD_BASE, exist_ok=True)
SWIG_FLAGS = ['-python', '-builtin', '-threads', '-I' + INCLUDEDIR,
              '-I' + os.path.join(ROOT, 'bindings')]


class BuildSwig(build_ext):
    """Runs SWIG on the shared interface into build_temp, then compiles."""

    def run(self):
        if not os.path.exists(os.path.join(LIBDIR, 'libuvstreams.so')):
            raise SystemExit(f'libuvstreams.so not found in {LIBDIR}: run '
                             f'`make lib` first or set UVSTREAMS_LIBDIR')
        os.makedirs(self.build_temp, exist_ok=True)
        wrapper = os.path.join(self.build_temp, 'uvstreams_c_wrap.c')
        subprocess.check_call(['swig', *SWIG_FLAGS, '-outdir', self.build_temp,
                               '-o', wrapper, INTERFACE])
        for ext in self.extensions:
            ext.sources = [wrapper]
        super().run()


setup(
    name='uvstreams',
    version='0.1.0',
    description='asyncio streams on a libuv engine, and a blocking API',
    packages=['uvstreams'],
    python_requires='>=3.11',
    ext_modules=[Extension(
        'uvstreams._uvstreams_c',
        sources=[INTERFACE],
        include_dirs=[INCLUDEDIR],
        library_dirs=[LIBDIR],
        runtime_library_dirs=[LIBDIR],
        libraries=['uvstreams'],
        extra_compile_args=['-std=c11'],
    )],
    cmdclass={'build_ext': BuildSwig},
    options={'build': {'build_base': BUILD_BASE},
             'egg_info': {'egg_base': BUILD_BASE}},
)
