"""The wheel a user builds offline works without the checkout, and its type
hints are what mypy reads.

`pip wheel --no-build-isolation --no-deps ./bindings/python` (Debian's pip
and setuptools) runs here on a copy of what setup.py reads (the binding, the
SWIG interface, the header and the library `make` built); the copy is
deleted before the wheel is installed into a fresh venv, so nothing can
come from it. From a directory outside the tree, the venv's interpreter
then runs tests/typing/good_program.py (echo round trips, blocking and
asyncio), which must load the library bundled in the wheel. mypy --strict,
pointed at the venv, accepts that program and reports every marked line of
bad_program.py; mypy.stubtest checks the .pyi stubs against the module.
"""

import os
import re
import shutil
import subprocess
import sys
import venv

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
SETUP_DIR = os.path.dirname(TESTS)
ROOT = os.path.dirname(os.path.dirname(SETUP_DIR))
LIBDIR = os.environ.get('UVSTREAMS_TEST_LIBDIR',
                        os.path.join(ROOT, 'build', 'lib'))
GOOD = os.path.join(TESTS, 'typing', 'good_program.py')
BAD = os.path.join(TESTS, 'typing', 'bad_program.py')


def run(args, env=None, **kwds):
    """Runs args without the test run's PYTHONPATH/MYPYPATH (plus env)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ('PYTHONPATH', 'MYPYPATH')}
    return subprocess.run(args, capture_output=True, text=True, timeout=600,
                          env=clean | (env or {}), **kwds)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(venv python, venv site-packages) with the wheel installed."""
    work = tmp_path_factory.mktemp('wheel')
    src = work / 'src'
    shutil.copytree(SETUP_DIR, src / 'bindings' / 'python',
                    ignore=shutil.ignore_patterns('__pycache__', 'tests'))
    shutil.copy(os.path.join(ROOT, 'bindings', 'uvstreams.i'),
                src / 'bindings')
    shutil.copytree(os.path.join(ROOT, 'include'), src / 'include')
    shutil.copytree(LIBDIR, src / 'lib', symlinks=True)
    built = run([sys.executable, '-m', 'pip', 'wheel', '--no-build-isolation',
                 '--no-deps', '--no-index', '--wheel-dir', str(work / 'dist'),
                 str(src / 'bindings' / 'python')],
                env={'UVSTREAMS_LIBDIR': str(src / 'lib')})
    assert built.returncode == 0, built.stdout + built.stderr
    shutil.rmtree(src)
    wheels = list((work / 'dist').glob('uvstreams-*.whl'))
    assert len(wheels) == 1, wheels
    env_dir = work / 'venv'
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / 'bin' / 'python')
    done = run([python, '-m', 'pip', 'install', '--no-index', '--no-deps',
                str(wheels[0])], cwd=str(work))
    assert done.returncode == 0, done.stdout + done.stderr
    site = run([python, '-c', 'import sysconfig; '
                'print(sysconfig.get_paths()["purelib"])']).stdout.strip()
    return python, site, work


def test_wheel_bundles_library_with_origin_runpath(installed):
    _, site, _ = installed
    package = os.path.join(site, 'uvstreams')
    names = os.listdir(package)
    assert 'py.typed' in names and '__init__.pyi' in names, names
    assert any(re.fullmatch(r'libuvstreams\.so\.\d+', n) for n in names), names
    ext = [n for n in names if n.startswith('_uvstreams_c')]
    dynamic = run(['readelf', '-d', os.path.join(package, ext[0])]).stdout
    assert re.search(r'(RUNPATH|RPATH).*\[\$ORIGIN\]', dynamic), dynamic


def test_installed_wheel_runs_outside_the_tree(installed):
    python, site, work = installed
    code = ('import runpy, sys\n'
            'runpy.run_path(sys.argv[1], run_name="__main__")\n'
            'maps = open("/proc/self/maps").read()\n'
            'print([l.split()[-1] for l in maps.splitlines()\n'
            '       if "libuvstreams.so" in l][0])\n')
    done = run([python, '-I', '-c', code, GOOD], cwd=str(work))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "echoed b'blocking\\n' b'asyncio\\n' b'unified\\n'" in lines[0]
    assert lines[0].split(' from ')[1].startswith(site), lines[0]
    assert lines[1].startswith(os.path.join(site, 'uvstreams') + '/'), lines


def mypy(installed, *args):
    python, _, work = installed
    return run([sys.executable, '-m', 'mypy', '--strict', '--no-incremental',
                '--cache-dir', os.devnull, '--python-executable', python,
                *args], cwd=str(work))


def test_mypy_strict_accepts_a_correct_program(installed):
    done = mypy(installed, GOOD)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_rejects_each_error_of_a_wrong_program(installed):
    done = mypy(installed, BAD)
    assert done.returncode == 1, done.stdout + done.stderr
    reported = {int(n) for n in re.findall(r'bad_program\.py:(\d+): error',
                                           done.stdout)}
    with open(BAD) as f:
        marked = {i for i, line in enumerate(f, 1)
                  if line.rstrip().endswith('# error')}
    assert reported == marked, done.stdout


def test_stubs_match_the_runtime(installed):
    # Debian's mypy imports the venv's package: the files the wheel installed.
    _, site, work = installed
    done = run([sys.executable, '-m', 'mypy.stubtest', 'uvstreams',
                '--mypy-config-file', os.devnull, '--allowlist',
                os.path.join(TESTS, 'stubtest-allowlist.txt')],
               env={'PYTHONPATH': site}, cwd=str(work))
    assert done.returncode == 0, done.stdout + done.stderr
