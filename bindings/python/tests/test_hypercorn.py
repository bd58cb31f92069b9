"""Acceptance: Debian's hypercorn (python3-hypercorn, an ASGI server built on
asyncio.start_server(sock=...)) under uvstreams.install(), as a user would
run it (issue 23 item 5, without TLS).

The same program (hypercorn_server.py) serves HTTP/1.1 once on plain
asyncio and once after uvstreams.install(), over TCP and over a Unix
socket. Each run answers 200 requests from http.client (100 on one
keep-alive connection, 100 on a new connection each: GET and POST, bodies
up to 200 KB, chunked responses) and 10 from curl; every response (status,
reason, headers but the date, body) must be the same as plain asyncio's.
The server's own exit status must be 0 (a clean shutdown) both ways.
"""

import http.client
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time

import pytest

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'hypercorn_server.py')
DEADLINE = 30  # seconds, for the server to start or stop (loaded machine)


def _requests():
    """100 (method, target, body, x-test header) cases."""
    sizes = [0, 1, 100, 16384, 65537, 200000]
    cases = []
    for i in range(100):
        size = sizes[i % len(sizes)]
        path = '/stream' if i % 7 == 3 else f'/item/{i}'
        body = bytes((i + j) % 256 for j in range(sizes[(i * 5) % 6]))
        method = 'POST' if i % 3 == 1 else 'GET'
        cases.append((method, f'{path}?n={size}&i={i}',
                      body if method == 'POST' else b'', f'case-{i}'))
    return cases


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__('localhost', timeout=DEADLINE)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(self._path)


class _Server:
    """hypercorn_server.py in a child process, serving on bind."""

    def __init__(self, mode, bind):
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, mode, bind], stdin=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self.log = b''
        self.address = self._wait_for(rb'Running on http://(\S+)')

    def _wait_for(self, pattern):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            found = re.search(pattern, self.log)
            if found:
                return found.group(1).decode()
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.5)
            if ready:
                chunk = os.read(self.proc.stderr.fileno(), 65536)
                if not chunk:
                    break
                self.log += chunk
        self.proc.kill()
        self.proc.wait()
        pytest.fail(f'hypercorn did not start: {self.log.decode()}')

    def stop(self):
        """Closes its stdin (its shutdown trigger): the exit status."""
        try:  # communicate() closes stdin first
            _, rest = self.proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, rest = self.proc.communicate()
        self.log += rest
        return self.proc.returncode


def _record(response):
    headers = sorted((k.lower(), v) for k, v in response.getheaders()
                     if k.lower() != 'date')
    return response.status, response.reason, headers, response.read()


def _ask(conn, case):
    method, target, body, tag = case
    conn.request(method, target, body=body or None, headers={'x-test': tag})
    return _record(conn.getresponse())


def _curl(transport, where, case):
    method, target, body, tag = case
    args = ['curl', '-sS', '-i', '--max-time', str(DEADLINE),
            '-H', f'x-test: {tag}', '-X', method]
    if body:
        args += ['--data-binary', '@-', '-H',
                 'content-type: application/octet-stream']
    if transport == 'unix':
        args += ['--unix-socket', where, f'http://localhost{target}']
    else:
        args += [f'http://{where}{target}']
    out = subprocess.run(args, input=body, capture_output=True, check=True,
                         timeout=DEADLINE * 2).stdout
    return re.sub(rb'(?im)^date: [^\r\n]*\r\n', b'', out)


def _serve_and_ask(mode, transport, tmp_path):
    bind = (f'unix:{tmp_path}/{mode}.sock' if transport == 'unix'
            else '127.0.0.1:0')
    server = _Server(mode, bind)
    where = bind[5:] if transport == 'unix' else server.address

    def connect():
        if transport == 'unix':
            return _UnixHTTPConnection(where)
        host, port = where.rsplit(':', 1)
        return http.client.HTTPConnection(host, int(port), timeout=DEADLINE)

    cases = _requests()
    try:
        kept = connect()
        answers = [_ask(kept, case) for case in cases]
        kept.close()
        for case in cases:
            conn = connect()
            answers.append(_ask(conn, case))
            conn.close()
        by_curl = [_curl(transport, where, case) for case in cases[:10]]
    finally:
        status = server.stop()
    assert status == 0, server.log.decode()
    module = 'uvstreams.streams' if mode == 'uvstreams' else 'asyncio.streams'
    assert f'start_server: {module}\n'.encode() in server.log
    assert b'Traceback' not in server.log, server.log.decode()
    return answers, by_curl


@pytest.mark.parametrize('transport', ['tcp', 'unix'])
def test_hypercorn_same_responses_under_install(transport, tmp_path):
    assert shutil.which('curl'), 'curl is missing: make deps installs it'
    expected, expected_curl = _serve_and_ask('asyncio', transport, tmp_path)
    answers, by_curl = _serve_and_ask('uvstreams', transport, tmp_path)
    assert len(answers) == 200
    # not trivially equal: the answers are the app's
    status, _, headers, body = answers[4]
    assert status == 200 and ('x-echo', 'case-4') in headers
    assert body.startswith(b'POST /item/4 n=65537&i=4 x-test=case-4 len=')
    assert len(body) > 65537
    assert any(('transfer-encoding', 'chunked') in a[2] for a in answers)
    for i, (got, want) in enumerate(zip(answers, expected)):
        assert got == want, f'response {i} differs from asyncio\'s'
    assert by_curl == expected_curl
    assert by_curl[0].startswith(b'HTTP/1.1 200 ')
