"""`pip install --no-build-isolation ./bindings/python` (Debian's pip and
setuptools, offline) gives a working package: installed into a --target
directory, imported from there with no other uvstreams on the path."""

import os
import subprocess
import sys

SETUP_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pip_install_into_target(tmp_path):
    target = tmp_path / 'site'
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--quiet',
         '--no-build-isolation', '--no-deps', '--no-index',
         '--target', str(target), SETUP_DIR],
        check=True, env=env, timeout=120, capture_output=True)
    env['PYTHONPATH'] = str(target)
    code = ('import asyncio, uvstreams, uvstreams.sync\n'
            'assert uvstreams.__file__.startswith(%r)\n'
            'async def main():\n'
            '    r = uvstreams.StreamReader()\n'
            '    r.feed_data(b"ok\\n")\n'
            '    print((await r.readline()).decode(), end="")\n'
            'asyncio.run(main())\n' % str(target))
    done = subprocess.run([sys.executable, '-P', '-c', code], env=env,
                          capture_output=True, text=True, timeout=30,
                          cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'ok\n'
