"""Debian's python3-hypercorn serving HTTPS under uvstreams.install(), as a
user would run it (issue 23, item 5, TLS part): hypercorn builds its own
stdlib ssl.SSLContext from --certfile/--keyfile (ciphers, ALPN h2 and
http/1.1, OP_NO_COMPRESSION, ...) and hands it to asyncio.start_server;
200 requests from http.client with a test CA must get the same responses
as from hypercorn on plain asyncio. The server runs in a subprocess (its
own interpreter, install() or not). Hypercorn passes sock= to
start_server and asks the socket for its address afterwards (the caller's
socket must stay usable: tests/test_sock.py). python3-hypercorn is in the
binding's package list: without it this test fails, it does not skip."""

import http.client
import socket
import ssl
import subprocess
import sys
import time

import pytest


SERVER = r'''
import asyncio, sys
if sys.argv[1] == 'uvstreams':
    import uvstreams
    uvstreams.install()
from hypercorn.config import Config
from hypercorn.asyncio import serve

async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    body = f'{scope["method"]} {scope["path"]} {scope["scheme"]}'.encode()
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-type', b'text/plain'),
                            (b'x-n', str(len(body)).encode())]})
    await send({'type': 'http.response.body', 'body': body})

config = Config()
config.bind = [sys.argv[2]]
config.certfile, config.keyfile = sys.argv[3], sys.argv[4]
config.accesslog = None

async def main():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)  # EOF on stdin: stop
    await serve(app, config, shutdown_trigger=stop.wait)
asyncio.run(main())
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def serve_and_fetch(stack, pki, count):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, '-c', SERVER, stack, f'127.0.0.1:{port}',
         pki['server.pem'], pki['server.key']],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ctx = ssl.create_default_context(cafile=pki['ca.pem'])
        responses = []
        for i in range(count):
            for _ in range(100):  # until it listens
                conn = http.client.HTTPSConnection('localhost', port,
                                                   context=ctx, timeout=10)
                try:
                    conn.request('GET', f'/item/{i}')
                    break
                except ConnectionRefusedError:
                    conn.close()
                    assert proc.poll() is None, proc.stderr.read().decode()
                    time.sleep(0.1)
            r = conn.getresponse()
            responses.append((r.status, r.getheader('content-type'),
                              r.getheader('x-n'), r.read()))
            conn.close()
        return responses
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp('hypercorn-pki')

    def openssl(*args):
        subprocess.run(['openssl', *args], cwd=d, check=True,
                       capture_output=True)
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    openssl('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem',
            '-days', '2', '-subj', '/CN=hypercorn test CA')
    (d / 'ext.cnf').write_text('subjectAltName=DNS:localhost\n')
    openssl('req', *ec, '-keyout', 'server.key', '-out', 'server.csr',
            '-subj', '/CN=localhost')
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2',
            '-extfile', 'ext.cnf')
    return {n: str(d / n) for n in ('ca.pem', 'server.pem', 'server.key')}


def test_hypercorn_https_under_install(pki):
    plain = serve_and_fetch('asyncio', pki, 200)
    switched = serve_and_fetch('uvstreams', pki, 200)
    assert plain[0] == (200, 'text/plain', '17', b'GET /item/0 https')
    assert switched == plain
