"""The examples in examples/python run and do what they say (each
in a subprocess of Debian's python3, with this test run's PYTHONPATH)."""

import http.server
import os
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
EXAMPLES = os.path.join(ROOT, 'examples', 'python')


def example(name, *args, **kwds):
    return [sys.executable, os.path.join(EXAMPLES, name), *map(str, args)]


def run_example(name, *args):
    done = subprocess.run(example(name, *args), capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize('uvloop', [False, True])
def test_echo_server_and_client(uvloop):
    server = subprocess.Popen(
        example('echo_server.py', '127.0.0.1', 0) +
        (['--uvloop'] if uvloop else []),
        stdout=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline()
        assert first.startswith('serving on 127.0.0.1:')
        port = int(first.rsplit(':', 1)[1])
        out = run_example('echo_client.py', '127.0.0.1', port, 'hi there')
        assert "received: 'hi there'" in out
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()


def test_http_headers():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    httpd = http.server.HTTPServer(('127.0.0.1', 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    try:
        out = run_example('http_headers.py',
                          f'http://127.0.0.1:{httpd.server_port}/')
    finally:
        httpd.shutdown()
        thread.join()
        httpd.server_close()
    assert out.startswith('HTTP header> HTTP/1.0 200 OK')
    assert 'HTTP header> Content-type: text/html' in out


def test_socketpair_reader():
    assert run_example('socketpair_reader.py') == 'Received: abc\n'


def test_sync_echo():
    assert run_example('sync_echo.py') == \
        'echo: hello\necho: blocking\necho: world\n'
