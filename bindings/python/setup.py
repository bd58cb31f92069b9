"""Packaging of the uvstreams Python binding (Debian pip/setuptools, offline).

    /usr/bin/python3 -m pip wheel --no-build-isolation --no-deps ./bindings/python
    /usr/bin/python3 -m pip install --no-build-isolation ./bindings/python

The extension is generated from bindings/uvstreams.i by SWIG into the build
directory (never into the source tree). How it finds libuvstreams is chosen
by UVSTREAMS_LINK (bindings/python/README.md says why bundling is the
default):

  bundle  (default) the library built by `make lib` (build/lib, or
          UVSTREAMS_LIBDIR; `make lib` is run when it is missing) is copied
          into the package beside the extension, which finds it through an
          $ORIGIN runpath: the wheel works without the checkout and without
          an installed libuvstreams (it still needs libuv1 and libssl3).
  system  the installed library: compile and link flags from
          `pkg-config uvstreams` (after `make install`, or with Debian's
          libuvstreams-dev), a runpath only to a library directory outside
          the linker's defaults. UVSTREAMS_LIBDIR and UVSTREAMS_INCLUDEDIR,
          when set, replace pkg-config and add no runpath (debian/rules
          builds python3-uvstreams that way, against the library it is
          packaging).
"""

import os
import re
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INTERFACE = os.path.join(ROOT, 'bindings', 'uvstreams.i')
HEADER = os.path.join(ROOT, 'include', 'uvstreams.h')
LINK = os.environ.get('UVSTREAMS_LINK', 'bundle')
# Build products stay out of the source tree.
BUILD_BASE = os.path.join(ROOT, 'build', 'python-setup')


def header_version():
    text = open(HEADER, encoding='utf-8').read()
    return tuple(re.search(r'#define UVS_VERSION_%s (\d+)' % part,
                           text).group(1)
                 for part in ('MAJOR', 'MINOR', 'PATCH'))


def pkg_config(*args):
    try:
        return subprocess.run(['pkg-config', *args, 'uvstreams'], check=True,
                              capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, 'stderr', '') or str(e)
        raise SystemExit(
            'UVSTREAMS_LINK=system: `pkg-config uvstreams` failed (%s). '
            'Install the library first (`make install`, or apt-get install '
            'libuvstreams-dev), set PKG_CONFIG_PATH to the directory of its '
            'uvstreams.pc, or build with the default UVSTREAMS_LINK=bundle.'
            % detail.strip())


def bundled_library():
    """(include dir, lib dir) of the tree's library, built if missing."""
    libdir = os.environ.get('UVSTREAMS_LIBDIR')
    if libdir is None:
        libdir = os.path.join(ROOT, 'build', 'lib')
        if not os.path.exists(os.path.join(libdir, 'libuvstreams.so')):
            subprocess.check_call(['make', '-C', ROOT, 'lib'])
    if not os.path.exists(os.path.join(libdir, 'libuvstreams.so')):
        raise SystemExit(f'libuvstreams.so not found in {libdir} '
                         '(UVSTREAMS_LIBDIR): run `make lib` first')
    return os.environ.get('UVSTREAMS_INCLUDEDIR',
                          os.path.join(ROOT, 'include')), libdir


def link_settings():
    """Extension arguments for the chosen UVSTREAMS_LINK."""
    if LINK == 'bundle':
        includedir, libdir = bundled_library()
        return dict(include_dirs=[includedir], library_dirs=[libdir],
                    extra_link_args=['-Wl,-rpath,$ORIGIN']), libdir
    if LINK != 'system':
        raise SystemExit(f'UVSTREAMS_LINK={LINK!r}: use "bundle" (the '
                         'default) or "system"')
    if 'UVSTREAMS_LIBDIR' in os.environ:
        return dict(include_dirs=[os.environ.get('UVSTREAMS_INCLUDEDIR',
                                                 os.path.join(ROOT, 'include'))],
                    library_dirs=[os.environ['UVSTREAMS_LIBDIR']]), None
    # pkg-config leaves out the linker's default directories: any -L left
    # is one the dynamic loader may not search either.
    libdirs = [f[2:] for f in pkg_config('--libs-only-L')]
    return dict(include_dirs=[f[2:] for f in pkg_config('--cflags-only-I')],
                library_dirs=libdirs, runtime_library_dirs=libdirs), None


class BuildSwig(build_ext):
    """Runs SWIG on the shared interface into build_temp, compiles, and in
    bundle mode copies the library (under its SONAME) beside the
    extension."""

    def run(self):
        settings, bundle_from = link_settings()
        for ext in self.extensions:
            for key, value in settings.items():
                setattr(ext, key, value)
        os.makedirs(self.build_temp, exist_ok=True)
        wrapper = os.path.join(self.build_temp, 'uvstreams_c_wrap.c')
        subprocess.check_call(
            ['swig', '-python', '-builtin', '-threads',
             *('-I' + d for d in settings['include_dirs']),
             '-I' + os.path.join(ROOT, 'bindings'), '-outdir',
             self.build_temp, '-o', wrapper, INTERFACE])
        for ext in self.extensions:
            ext.sources = [wrapper]
        super().run()
        if bundle_from:
            soname = 'libuvstreams.so.' + header_version()[0]
            target = os.path.join(self.build_lib, 'uvstreams', soname)
            # copyfile follows the symlink chain to the real library.
            shutil.copyfile(os.path.join(bundle_from, soname), target)


os.makedirs(BUILD_BASE, exist_ok=True)
setup(
    name='uvstreams',
    version='.'.join(header_version()),
    description='asyncio streams on a libuv engine, and a blocking API',
    license='MIT',
    packages=['uvstreams'],
    package_data={'uvstreams': ['py.typed', '*.pyi']},
    python_requires='>=3.11',
    ext_modules=[Extension(
        'uvstreams._uvstreams_c',
        sources=[INTERFACE],
        libraries=['uvstreams'],
        extra_compile_args=['-std=c11'],
    )],
    cmdclass={'build_ext': BuildSwig},
    options={'build': {'build_base': BUILD_BASE},
             'egg_info': {'egg_base': BUILD_BASE}},
    zip_safe=False,
)
