"""TLS through every API, on asyncio's default loop and on uvloop, with
certificates made at test time by the openssl command (a CA and a server
certificate for localhost and 127.0.0.1, a client certificate, and the bad
ones: expired, self-signed, issued by another CA): uvstreams against
uvstreams, against Python's own ssl over asyncio as server and as client,
against `openssl s_server` and `openssl s_client` processes, verification
failures (expired, self-signed, unknown CA, host-name mismatch) as
ssl.SSLCertVerificationError with OpenSSL's reason, other handshake failures
as ssl.SSLError, mutual TLS, ALPN, the handshake timeout against a silent
peer, a 64 MiB echo, drain's back-pressure, a peer closing without
close_notify, start_tls on both sides, the extra info (peercert as the ssl
module's dict, cipher, sslcontext, ssl_object), write_eof over TLS, what an
ssl.SSLContext can and cannot carry over, the Unix variants, the 3.8 API and
uvstreams.sync."""

import asyncio
import hashlib
import shutil
import socket
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
    # a client certificate from the same CA
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key',
            '-out', 'client.csr', '-subj', '/CN=uvstreams client')
    openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2')
    # the server's key in certificates that fail verification
    openssl('req', '-x509', '-key', 'server.key', '-out', 'self-signed.pem',
            '-days', '2', '-subj', '/CN=localhost', '-addext',
            'subjectAltName=DNS:localhost,IP:127.0.0.1')
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
            'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj',
            '/CN=another CA')
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'other-ca.pem',
            '-CAkey', 'other-ca.key', '-CAcreateserial', '-out',
            'unknown-ca.pem', '-days', '2', '-extfile', 'ext.cnf')
    # expired: `openssl ca` takes explicit dates (x509 -days cannot go back)
    (d / 'index.txt').write_text('')
    (d / 'serial').write_text('1000\n')
    (d / 'ca.cnf').write_text(
        '[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\n'
        'new_certs_dir = .\nserial = serial\ndefault_md = sha256\n'
        'policy = any\ncopy_extensions = copy\n[any]\n'
        'commonName = supplied\n')
    openssl('ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem',
            '-keyfile', 'ca.key', '-in', 'server.csr', '-out', 'expired.pem',
            '-startdate', '20200101000000Z', '-enddate', '20200102000000Z',
            '-extfile', 'ext.cnf', '-notext')
    names = ('ca', 'server', 'client', 'self-signed', 'unknown-ca', 'expired')
    return {name: str(d / f'{name}.pem') for name in names} | {
        'key': str(d / 'server.key'), 'client-key': str(d / 'client.key')}


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
        obj = writer.get_extra_info('ssl_object')
        assert obj.version() == version
        assert obj.cipher() == (name, version, bits)
        assert obj.getpeercert() == cert
        assert ssl.DER_cert_to_PEM_cert(obj.getpeercert(True)) == \
            open(certs['server']).read()
        assert obj.selected_alpn_protocol() is None  # none offered
        assert obj.compression() is None
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


# case: (the server's certificate, the client's ssl=, OpenSSL's reason)
VERIFY_CASES = {
    'untrusted': ('server', 'system store', 'unable to get local issuer'),
    'unknown-ca': ('unknown-ca', 'test CA', 'unable to get local issuer'),
    'self-signed': ('self-signed', 'test CA', 'self-signed certificate'),
    'expired': ('expired', 'test CA', 'certificate has expired'),
    'wrong-host': ('server', 'test CA', 'hostname mismatch'),
}


@pytest.mark.parametrize('case', sorted(VERIFY_CASES))
def test_verification_failure(loop, run, certs, case):
    cert, trust, reason = VERIFY_CASES[case]

    async def go():
        bad = uvstreams.TLSConfig(server_side=True, certfile=certs[cert],
                                  keyfile=certs['key'])
        server = await uvstreams.start_server(upper_handler, '127.0.0.1', 0,
                                              ssl=bad)
        kwds = {'ssl': True if trust == 'system store'
                else client_context(certs)}
        if case == 'wrong-host':
            kwds['server_hostname'] = 'wrong.example'
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await uvstreams.open_connection('127.0.0.1', port_of(server),
                                            **kwds)
        server.close()
        await server.wait_closed()
        # a good server on the same loop still works afterwards
        server = await uvstreams.start_server(upper_handler, '127.0.0.1', 0,
                                              ssl=uvs_server_context(certs))
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


def test_what_a_converted_ssl_context_cannot_carry_raises(loop, run, certs,
                                                          monkeypatch):
    # The fallback conversion, used when the ssl module and the engine do
    # not run on the same libssl (test_ssl_context.py covers sharing).
    monkeypatch.setattr(uvstreams.tls, '_sharing', (False, 'test'))

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
            # at once: sync streams read only when a read waits (direct
            # reads), so a ClientHello arriving before the server's
            # start_tls() waits in the socket, not in the plaintext buffer
            stream.start_tls(client_context(certs),
                             server_hostname='localhost', timeout=5)
            stream.write(b'upgraded\n')
            assert stream.readline(timeout=5) == b'UPGRADED\n'
        assert done.wait(5)
    finally:
        server.close()
        thread.join(5)


def mtls_server_config(certs):
    return uvstreams.TLSConfig(server_side=True, certfile=certs['server'],
                               keyfile=certs['key'], cafile=certs['ca'],
                               verify_mode=ssl.CERT_REQUIRED)


def test_mutual_tls_with_a_client_certificate(loop, run, certs):
    seen = {}

    async def handler(reader, writer):
        seen['peercert'] = writer.get_extra_info('peercert')
        await upper_handler(reader, writer)

    async def go():
        server = await uvstreams.start_server(handler, '127.0.0.1', 0,
                                              ssl=mtls_server_config(certs))
        ctx = uvstreams.create_default_context(cafile=certs['ca'])
        ctx.load_cert_chain(certs['client'], certs['client-key'])
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port_of(server), ssl=ctx)
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        await close(writer)
        server.close()
        await server.wait_closed()
    run(go())
    assert seen['peercert']['subject'] == ((('commonName',
                                             'uvstreams client'),),)


async def connect_without_client_certificate(certs, called):
    """TLS 1.3: the client's handshake completes before the server has
    judged its (missing) certificate; the server's alert then fails the
    first read. Returns that exception."""
    async def handler(reader, writer):
        called.append(1)
        await upper_handler(reader, writer)

    server = await uvstreams.start_server(handler, '127.0.0.1', 0,
                                          ssl=mtls_server_config(certs))
    try:
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port_of(server), ssl=client_context(certs))
        try:
            await exchange(reader, writer)
        finally:
            writer.close()
    except ssl.SSLError as e:
        return e
    finally:
        server.close()
        await server.wait_closed()
    raise AssertionError('the exchange succeeded without a certificate')


def test_mutual_tls_without_a_client_certificate(loop, run, certs):
    called = []
    exc = run(connect_without_client_certificate(certs, called))
    assert not isinstance(exc, ssl.SSLCertVerificationError)
    assert called == []  # the handler never sees the connection


def test_mutual_tls_failure_names_the_reason(loop, run, certs):
    exc = run(connect_without_client_certificate(certs, []))
    assert 'certificate required' in str(exc)


@pytest.mark.parametrize('client_protocols, chosen', [
    (['h2', 'http/1.1'], 'h2'),
    (['spdy/3', 'http/1.1'], 'http/1.1'),
    (['spdy/3'], None),
])
def test_alpn(loop, run, certs, client_protocols, chosen):
    """The server picks by its own preference among the client's offers;
    no overlap: no protocol (OpenSSL's servers do not fail then)."""
    seen = {}

    async def handler(reader, writer):
        seen['server'] = writer.get_extra_info(
            'ssl_object').selected_alpn_protocol()
        await upper_handler(reader, writer)

    async def go():
        sconf = uvstreams.TLSConfig(server_side=True,
                                    certfile=certs['server'],
                                    keyfile=certs['key'],
                                    alpn_protocols=['h2', 'http/1.1'])
        server = await uvstreams.start_server(handler, '127.0.0.1', 0,
                                              ssl=sconf)
        ctx = uvstreams.create_default_context(cafile=certs['ca'])
        ctx.set_alpn_protocols(client_protocols)
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port_of(server), ssl=ctx)
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        got = writer.get_extra_info('ssl_object').selected_alpn_protocol()
        await close(writer)
        server.close()
        await server.wait_closed()
        return got
    assert run(go()) == chosen
    assert seen['server'] == chosen


def test_alpn_against_python_ssl(loop, run, certs):
    async def go():
        sctx = server_context(certs)
        sctx.set_alpn_protocols(['x-other', 'x-uvs'])
        server = await asyncio.start_server(upper_handler, '127.0.0.1', 0,
                                            ssl=sctx)
        reader, writer = await uvstreams.open_connection(
            'localhost', port_of(server),
            ssl=uvstreams.TLSConfig(cafile=certs['ca'],
                                    alpn_protocols=['x-uvs']))
        assert await exchange(reader, writer) == b'HELLO TLS\n'
        got = writer.get_extra_info('ssl_object').selected_alpn_protocol()
        await close(writer)
        server.close()
        await server.wait_closed()
        return got
    assert run(go()) == 'x-uvs'


# ---- interop with the openssl command ------------------------------------

def start_s_server(certs, *args):
    """`openssl s_server -rev` (answers each line reversed) on a free port;
    returns (process, port)."""
    with socket.socket() as s:  # a free port (s_server cannot report one)
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ['openssl', 's_server', '-accept', f'127.0.0.1:{port}', '-cert',
         certs['server'], '-key', certs['key'], '-rev', '-naccept', '1',
         *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    for line in proc.stdout:  # "ACCEPT" once it listens
        if line.startswith(b'ACCEPT'):
            return proc, port
    raise AssertionError(f's_server did not start: {proc.wait()}')


def test_client_against_openssl_s_server(loop, run, certs):
    proc, port = start_s_server(certs, '-alpn', 'x-uvs')
    try:
        async def go():
            reader, writer = await uvstreams.open_connection(
                'localhost', port,
                ssl=uvstreams.TLSConfig(cafile=certs['ca'],
                                        alpn_protocols=['x-uvs']))
            assert await exchange(reader, writer, b'uvstreams\n') == \
                b'smaertsvu\n'
            assert await exchange(reader, writer, b'abc\n') == b'cba\n'
            assert writer.get_extra_info('ssl_object') \
                .selected_alpn_protocol() == 'x-uvs'
            assert writer.get_extra_info('peercert')['subject'][-1] == \
                (('commonName', 'localhost'),)
            await close(writer)
        run(go())
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def s_client_exchange(certs, port, lines):
    """Runs `openssl s_client` (verifying the server), sends each line and
    reads its answer before the next; returns the answers."""
    proc = subprocess.Popen(
        ['openssl', 's_client', '-connect', f'127.0.0.1:{port}',
         '-servername', 'localhost', '-CAfile', certs['ca'],
         '-verify_return_error', '-quiet'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        answers = []
        for line in lines:
            proc.stdin.write(line)
            proc.stdin.flush()
            answers.append(proc.stdout.readline())
        return answers
    finally:
        proc.kill()
        proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()


def test_openssl_s_client_against_the_server(loop, run, certs):
    async def go():
        server = await uvstreams.start_server(upper_handler, '127.0.0.1', 0,
                                              ssl=uvs_server_context(certs))
        answers = await loop.run_in_executor(
            None, s_client_exchange, certs, port_of(server),
            [b'from s_client\n', b'second line\n'])
        server.close()
        await server.wait_closed()
        return answers
    assert run(go()) == [b'FROM S_CLIENT\n', b'SECOND LINE\n']


# ---- timeouts, large transfers, flow control, endings ----------------------

def test_handshake_timeout_against_a_silent_peer(loop, run):
    """A TCP server that accepts and never answers the ClientHello: the
    connect fails as asyncio's does (ConnectionAbortedError)."""
    accepted = []

    async def silent(reader, writer):
        accepted.append(writer)
        await reader.read()

    async def go():
        server = await asyncio.start_server(silent, '127.0.0.1', 0)
        try:
            with pytest.raises(ConnectionAbortedError, match='handshake'):
                await asyncio.wait_for(uvstreams.open_connection(
                    '127.0.0.1', port_of(server), ssl=True,
                    ssl_handshake_timeout=0.2), 5)
        finally:
            for w in accepted:
                w.close()
            server.close()
            await server.wait_closed()
    run(go())
    assert len(accepted) == 1


def test_sync_handshake_timeout_against_a_silent_peer():
    with socket.create_server(('127.0.0.1', 0)) as silent:
        with pytest.raises(TimeoutError, match='handshake'):
            sync.connect('127.0.0.1', silent.getsockname()[1], ssl=True,
                         timeout=30, ssl_handshake_timeout=0.2)


async def echo_handler(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def test_64_mib_echo(loop, run, certs):
    """64 MiB written in 1 MiB pieces (each different) while the echo is
    read back concurrently; the SHA-256 of both sides must match."""
    total, piece = 64 << 20, 1 << 20

    async def send(writer, digest):
        for i in range(total // piece):
            block = i.to_bytes(4, 'big') * (piece // 4)
            digest.update(block)
            writer.write(block)
            await writer.drain()

    async def receive(reader, digest):
        got = 0
        while got < total:
            data = await reader.read(1 << 18)
            assert data, f'EOF after {got} bytes'
            digest.update(data)
            got += len(data)
        return got

    async def go():
        server = await uvstreams.start_server(echo_handler, '127.0.0.1', 0,
                                              ssl=uvs_server_context(certs))
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port_of(server), ssl=client_context(certs))
        sent, echoed = hashlib.sha256(), hashlib.sha256()
        _, got = await asyncio.gather(send(writer, sent),
                                      receive(reader, echoed))
        await close(writer)
        server.close()
        await server.wait_closed()
        return got, sent.hexdigest(), echoed.hexdigest()
    got, a, b = run(go(), timeout=120)
    assert got == 64 << 20
    assert a == b


def test_drain_back_pressure(loop, run, certs):
    """The server reads nothing until told: 32 MiB cannot all fit in the
    kernel's buffers, so drain() must still be waiting when the server is
    released (and must finish once it reads everything)."""
    total = 32 << 20
    release = asyncio.Event()
    received = []

    async def lazy(reader, writer):
        await release.wait()
        digest, n = hashlib.sha256(), 0
        while n < total:
            data = await reader.read(1 << 18)
            if not data:
                break
            digest.update(data)
            n += len(data)
        received.append((n, digest.hexdigest()))
        writer.close()

    async def go():
        server = await uvstreams.start_server(lazy, '127.0.0.1', 0,
                                              ssl=uvs_server_context(certs))
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port_of(server), ssl=client_context(certs))
        blob = bytes(range(256)) * (total // 256)
        writer.write(blob)
        assert writer.transport.get_write_buffer_size() > 0
        drain = asyncio.ensure_future(writer.drain())
        await asyncio.sleep(0.2)
        assert not drain.done(), 'drain returned while the peer read nothing'
        release.set()
        await drain
        await reader.read()  # the server closes once it has it all
        await close(writer)
        server.close()
        await server.wait_closed()
        return hashlib.sha256(blob).hexdigest()
    digest = run(go(), timeout=60)
    assert received == [(total, digest)]


def test_peer_closing_without_close_notify(loop, run, certs):
    """Python's ssl server sends a line and closes the TCP connection
    without a TLS close_notify: the line arrives intact, then the reader
    sees the end of the stream (as asyncio does; it is not an error)."""
    listener = socket.create_server(('127.0.0.1', 0))

    def serve():
        conn, _ = listener.accept()
        tls = server_context(certs).wrap_socket(conn, server_side=True)
        tls.sendall(b'last words\n')
        tls.recv(1)  # the client's request to hang up
        tls.shutdown(socket.SHUT_RDWR)  # TCP FIN, no close_notify
        tls.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def go():
        reader, writer = await uvstreams.open_connection(
            'localhost', listener.getsockname()[1], ssl=client_context(certs))
        assert await reader.readline() == b'last words\n'
        writer.write(b'x')
        rest = await reader.read()
        await close(writer)
        return rest
    try:
        assert run(go()) == b''
    finally:
        thread.join(5)
        listener.close()
    assert not thread.is_alive()
