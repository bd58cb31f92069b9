"""TLS through every API, on asyncio's default loop and on uvloop, with
certificates made at test time by the openssl command (a CA and a server
certificate for localhost and 127.0.0.1): uvstreams against uvstreams,
against Python's own ssl over asyncio as server and as client, verification
failures (untrusted CA, host-name mismatch) as ssl.SSLCertVerificationError,
other handshake failures as ssl.SSLError, start_tls on both sides, the extra
info (peercert as the ssl module's dict, cipher, sslcontext, ssl_object),
write_eof over TLS, what an ssl.SSLContext can and cannot carry over, the
Unix variants, the 3.8 API and uvstreams.sync."""

import asyncio
import shutil
import ssl
import subprocess
import threading
import time

import pytest

import uvstreams
from uvstreams import sync

pytestmark = pytest.mark.skipif(shutil.which('openssl') is None,
                                reason='needs the openssl command')


@pytest.fixture(scope='session')
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp('certs')

    def openssl(*args):
        subprocess.run(['openssl', *args], cwd=d, check=True,
                       capture_output=True)
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
            'ca.key', '-out', 'ca.pem', '-days', '2', '-subj',
            '/CN=uvstreams test CA')
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key',
            '-out', 'server.csr', '-subj', '/O=uvstreams/CN=localhost')
    (d / 'ext.cnf').write_text(
        'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2',
            '-extfile', 'ext.cnf')
    return {name: str(d / f'{name}.pem') for name in ('ca', 'server')} | {
        'key': str(d / 'server.key')}


def client_context(certs):
    return ssl.create_default_context(cafile=certs['ca'])


def server_context(certs):
    """Python's own server context (for Python's asyncio servers)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs['server'], certs['key'])
    return ctx


def uvs_server_context(certs):
    """A recording context: uvstreams can carry its certificate over."""
    ctx = uvstreams.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs['server'], certs['key'])
    return ctx


async def upper_handler(reader, writer):
    try:
        async for line in reader:
            writer.write(line.upper())
            await writer.drain()
    finally:
        writer.close()


async def exchange(reader, writer, text=b'hello tls\n'):
    writer.write(text)
    await writer.drain()
    return await reader.readline()


async def close(writer):
    writer.close()
    await writer.wait_closed()


def port_of(server):
    return server.sockets[0].getsockname()[1]


@pytest.mark.parametrize('server_ssl', ['recording', 'tlsconfig'])
def test_uvstreams_client_and_server(loop, run, certs, server_ssl):
    seen = {}

    async def handler(reader, writer):
        seen['peercert'] = writer.get_extra_info('peercert')
        seen['sslcontext'] = writer.get_extra_info('sslcontext')
        await upper_handler(reader, writer)

    async def go():
        sctx = (uvs_server_context(certs) if server_ssl == 'recording' else
                uvstreams.TLSConfig(server_side=True,
                                    certfile=certs['server'],
                                    keyfile=certs['key']))
        server = await uvstreams.start_server(handler, '127.0.0.1', 0,
                                              ssl=sctx)
        cctx = client_context(certs)
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port_of(server), ssl=cctx)
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        cert = writer.get_extra_info('peercert')
        assert cert['subject'] == ((('organizationName', 'uvstreams'),),
                                   (('commonName', 'localhost'),))
        assert cert['issuer'] == ((('commonName', 'uvstreams test CA'),),)
        assert cert['subjectAltName'] == (('DNS', 'localhost'),
                                          ('IP Address', '127.0.0.1'))
        assert cert['notBefore'].endswith(' GMT')
        assert cert['notAfter'].endswith(' GMT')
        name, version, bits = writer.get_extra_info('cipher')
        assert version in ('TLSv1.2', 'TLSv1.3') and bits >= 128
        assert writer.get_extra_info('sslcontext') is cctx
        assert writer.get_extra_info('ssl_object') is None
        assert not writer.can_write_eof()
        with pytest.raises(NotImplementedError):
            writer.write_eof()
        # 1 MiB both ways, through drain
        blob = (b'x' * 999 + b'\n') * 1024
        writer.write(blob)
        await writer.drain()
        assert await reader.readexactly(len(blob)) == blob.upper()
        await close(writer)
        server.close()
        await server.wait_closed()
        assert seen['peercert'] is None  # no client certificate
        assert seen['sslcontext'] is sctx
    run(go())
    assert loop.handler_calls == []


def test_uvstreams_client_against_python_ssl_server(loop, run, certs):
    async def go():
        server = await asyncio.start_server(upper_handler, '127.0.0.1', 0,
                                            ssl=server_context(certs))
        reader, writer = await uvstreams.open_connection(
            'localhost', port_of(server), ssl=client_context(certs))
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        writer.write(b'more\n')
        assert await reader.readline() == b'MORE\n'
        await close(writer)
        server.close()
        await server.wait_closed()
    run(go())


def test_python_ssl_client_against_uvstreams_server(loop, run, certs):
    async def go():
        server = await uvstreams.start_server(upper_handler, '127.0.0.1', 0,
                                              ssl=uvs_server_context(certs))
        reader, writer = await asyncio.open_connection(
            '127.0.0.1', port_of(server), ssl=client_context(certs))
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        assert writer.get_extra_info('peercert')['subject'][-1] == \
            (('commonName', 'localhost'),)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


@pytest.mark.parametrize('case', ['untrusted', 'wrong-host'])
def test_verification_failure(loop, run, certs, case):
    async def go():
        server = await uvstreams.start_server(upper_handler, '127.0.0.1', 0,
                                              ssl=uvs_server_context(certs))
        kwds = ({'ssl': True} if case == 'untrusted' else
                {'ssl': client_context(certs),
                 'server_hostname': 'wrong.example'})
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await uvstreams.open_connection('127.0.0.1', port_of(server),
                                            **kwds)
        # the server survives the failed handshake
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port_of(server), ssl=client_context(certs))
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        await close(writer)
        server.close()
        await server.wait_closed()
        return info.value
    exc = run(go())
    assert isinstance(exc, ssl.SSLError)
    assert exc.reason == 'CERTIFICATE_VERIFY_FAILED'
    assert 'certificate verify failed' in str(exc)
    reason = ('local issuer' if case == 'untrusted' else 'hostname mismatch')
    assert reason in str(exc) and reason in exc.verify_message


def test_no_host_check_without_check_hostname(loop, run, certs):
    async def go():
        server = await uvstreams.start_server(upper_handler, '127.0.0.1', 0,
                                              ssl=uvs_server_context(certs))
        ctx = client_context(certs)
        ctx.check_hostname = False
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port_of(server), ssl=ctx,
            server_hostname='wrong.example')
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        await close(writer)
        server.close()
        await server.wait_closed()
    run(go())


def test_handshake_with_a_plain_peer_is_an_ssl_error(loop, run):
    async def plain(reader, writer):
        writer.write(b'HTTP/1.0 400 Bad Request\r\n\r\n' * 4)
        await writer.drain()
        writer.close()

    async def go():
        server = await uvstreams.start_server(plain, '127.0.0.1', 0)
        with pytest.raises(ssl.SSLError) as info:
            await uvstreams.open_connection('127.0.0.1', port_of(server),
                                            ssl=True)
        server.close()
        await server.wait_closed()
        return info.value
    exc = run(go())
    assert not isinstance(exc, ssl.SSLCertVerificationError)
    assert str(exc)


def test_start_tls_both_sides(loop, run, certs):
    async def handler(reader, writer):
        assert await reader.readline() == b'STARTTLS\n'
        writer.write(b'GO\n')
        await writer.drain()
        await writer.start_tls(uvs_server_context(certs))
        assert writer.get_extra_info('cipher') is not None
        await upper_handler(reader, writer)

    async def go():
        server = await uvstreams.start_server(handler, '127.0.0.1', 0)
        reader, writer = await uvstreams.open_connection('127.0.0.1',
                                                         port_of(server))
        assert writer.get_extra_info('sslcontext') is None
        assert writer.can_write_eof()
        assert await exchange(reader, writer, b'STARTTLS\n') == b'GO\n'
        ctx = client_context(certs)
        await writer.start_tls(ctx, server_hostname='localhost')
        assert writer.get_extra_info('sslcontext') is ctx
        assert not writer.can_write_eof()
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        await close(writer)
        server.close()
        await server.wait_closed()
    run(go())
    assert loop.handler_calls == []


def test_start_tls_against_python_ssl(loop, run, certs):
    async def handler(reader, writer):
        await reader.readline()
        writer.write(b'GO\n')
        await writer.drain()
        await writer.start_tls(server_context(certs))
        await upper_handler(reader, writer)

    async def go():
        server = await asyncio.start_server(handler, '127.0.0.1', 0)
        reader, writer = await uvstreams.open_connection('127.0.0.1',
                                                         port_of(server))
        assert await exchange(reader, writer, b'STARTTLS\n') == b'GO\n'
        await writer.start_tls(uvstreams.TLSConfig(cafile=certs['ca']),
                               server_hostname='localhost')
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        await close(writer)
        server.close()
        await server.wait_closed()
    run(go())


def test_unix_variants_and_unified_api(loop, run, certs, tmp_path):
    path = str(tmp_path / 'tls.sock')

    async def go():
        server = await uvstreams.start_unix_server(
            upper_handler, path, ssl=uvs_server_context(certs))
        with pytest.raises(ValueError, match='server_hostname'):
            await uvstreams.open_unix_connection(path,
                                                 ssl=client_context(certs))
        reader, writer = await uvstreams.open_unix_connection(
            path, ssl=client_context(certs), server_hostname='localhost')
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        await close(writer)
        stream = await uvstreams.connect_unix(
            path, ssl=client_context(certs), server_hostname='localhost')
        stream.write(b'unified\n')
        assert await stream.readline() == b'UNIFIED\n'
        assert stream.get_extra_info('peercert')['subject']
        await stream.close()
        server.close()
        await server.wait_closed()
    run(go())


def test_what_an_ssl_context_cannot_carry_raises(loop, run, certs):
    async def go():
        plain_server = server_context(certs)  # cert chain not readable
        with pytest.raises(ValueError, match='certificate chain'):
            await uvstreams.start_server(upper_handler, '127.0.0.1', 0,
                                         ssl=plain_server)
        ctx = client_context(certs)
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        with pytest.raises(ValueError, match='verify_flags'):
            await uvstreams.open_connection('127.0.0.1', 1, ssl=ctx)
        ctx = client_context(certs)
        with pytest.warns(DeprecationWarning):
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(ValueError, match='TLS version'):
            await uvstreams.open_connection('127.0.0.1', 1, ssl=ctx)
        ctx = uvs_server_context(certs)
        with pytest.raises(ValueError, match='client'):
            await uvstreams.open_connection('127.0.0.1', 1, ssl=ctx)
        with pytest.raises(ValueError, match='client'):
            await uvstreams.start_server(upper_handler, '127.0.0.1', 0,
                                         ssl=uvstreams.TLSConfig())
    run(go())


def test_sync_tls(certs):
    server = sync.start_server(
        lambda s: s.write(s.readline(timeout=5).upper()), '127.0.0.1', 0,
        ssl=uvstreams.TLSConfig(server_side=True, certfile=certs['server'],
                                keyfile=certs['key']))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.sockets[0][1]
        with sync.connect('127.0.0.1', port, timeout=5,
                          ssl=client_context(certs)) as stream:
            stream.write(b'sync tls\n')
            assert stream.readline(timeout=5) == b'SYNC TLS\n'
            assert stream.get_extra_info('peercert')['subjectAltName']
            assert not stream.can_write_eof()
        with pytest.raises(ssl.SSLCertVerificationError,
                           match='local issuer'):
            sync.connect('127.0.0.1', port, timeout=5, ssl=True)
    finally:
        server.close()
        thread.join(5)
    assert not thread.is_alive()


def test_sync_start_tls_client_side(certs):
    """Against a blocking Python ssl server that reads exactly the line
    (so no ClientHello byte can be read as plaintext)."""
    import socket
    listener = socket.create_server(('127.0.0.1', 0))
    result = {}

    def serve():
        conn, _ = listener.accept()
        with conn:
            line = b''
            while not line.endswith(b'\n'):
                line += conn.recv(1)
            conn.sendall(b'GO\n')
            with server_context(certs).wrap_socket(
                    conn, server_side=True) as tls:
                result['line'] = tls.recv(100)
                tls.sendall(result['line'].upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with listener, sync.connect('127.0.0.1', listener.getsockname()[1],
                                timeout=5) as stream:
        stream.write(b'STARTTLS\n')
        assert stream.readline(timeout=5) == b'GO\n'
        stream.start_tls(uvstreams.create_default_context(cafile=certs['ca']),
                         server_hostname='localhost', timeout=5)
        assert stream.get_extra_info('cipher') is not None
        stream.write(b'upgraded\n')
        assert stream.readline(timeout=5) == b'UPGRADED\n'
    thread.join(5)
    assert result['line'] == b'upgraded\n'


def test_sync_start_tls_server_side(certs):
    done = threading.Event()

    def handler(stream):
        assert stream.readline(timeout=5) == b'STARTTLS\n'
        stream.write(b'GO\n')
        stream.start_tls(uvs_server_context(certs), timeout=5)
        stream.write(stream.readline(timeout=5).upper())
        done.set()

    server = sync.start_server(handler, '127.0.0.1', 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync.connect('127.0.0.1', server.sockets[0][1],
                          timeout=5) as stream:
            stream.write(b'STARTTLS\n')
            assert stream.readline(timeout=5) == b'GO\n'
            # the engine's I/O thread reads ahead: a ClientHello arriving
            # between the server's write() and start_tls() would be taken
            # as plaintext (the engine cannot pause reading; see README)
            time.sleep(0.1)
            stream.start_tls(client_context(certs),
                             server_hostname='localhost', timeout=5)
            stream.write(b'upgraded\n')
            assert stream.readline(timeout=5) == b'UPGRADED\n'
        assert done.wait(5)
    finally:
        server.close()
        thread.join(5)
