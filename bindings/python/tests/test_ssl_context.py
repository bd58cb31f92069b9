"""Plain ssl.SSLContext objects, as stdlib programs build them, through
uvstreams (issue 23): stdlib TLS servers and clients on plain asyncio
against uvstreams ones and the reverse, over TCP and Unix sockets and with
start_tls on both sides; every setting of a context that shapes a
connection (certificate chain and key, verify_mode, check_hostname, the CA
store however loaded, ciphers, versions, options, ALPN) observed on the
wire; the settings that cannot be honoured raising at the call, naming the
setting, with nothing left open; the conversion made once per context; the
engine's reference to a shared context dropped once it is done; and the
fallback conversion used when the ssl module and the engine do not share
one libssl. Certificates come from the openssl command at test time."""

import asyncio
import gc
import os
import shutil
import ssl
import subprocess
import weakref

import pytest

import uvstreams
from uvstreams import tls as uvs_tls

pytestmark = pytest.mark.skipif(shutil.which('openssl') is None,
                                reason='needs the openssl command')


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp('pki')

    def openssl(*args):
        subprocess.run(['openssl', *args], cwd=d, check=True,
                       capture_output=True)
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    openssl('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem',
            '-days', '2', '-subj', '/CN=uvstreams ssl-context test CA')
    (d / 'ext.cnf').write_text('subjectAltName=DNS:localhost,IP:127.0.0.1\n')
    for name, subject in (('server', '/CN=localhost'),
                          ('client', '/CN=uvstreams client')):
        openssl('req', *ec, '-keyout', f'{name}.key', '-out', f'{name}.csr',
                '-subj', subject)
        openssl('x509', '-req', '-in', f'{name}.csr', '-CA', 'ca.pem',
                '-CAkey', 'ca.key', '-CAcreateserial', '-out',
                f'{name}.pem', '-days', '2', '-extfile', 'ext.cnf')
    return {n: str(d / n) for n in ('ca.pem', 'server.pem', 'server.key',
                                    'client.pem', 'client.key')}


def server_ctx(pki, alpn=None):
    """A stdlib server context, as stdlib programs make one."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki['server.pem'], pki['server.key'])
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def client_ctx(pki, alpn=None):
    ctx = ssl.create_default_context(cafile=pki['ca.pem'])
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


async def upper(reader, writer):
    """Echoes one line upper-cased, with the ALPN protocol it negotiated."""
    line = await reader.readline()
    alpn = writer.get_extra_info('ssl_object').selected_alpn_protocol()
    writer.write(line.upper().rstrip() + b' ' + str(alpn).encode() + b'\n')
    await writer.drain()
    writer.close()


async def talk(reader, writer):
    writer.write(b'hello\n')
    line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return line


def open_fds():
    return len(os.listdir('/proc/self/fd'))


# ---- interop: stdlib on plain asyncio against uvstreams --------------------

@pytest.mark.parametrize('transport', ['tcp', 'unix'])
def test_uvstreams_client_against_stdlib_server(loop, run, pki, tmp_path,
                                                transport):
    async def go():
        sctx = server_ctx(pki, ['h2', 'http/1.1'])
        cctx = client_ctx(pki, ['http/1.1'])
        if transport == 'tcp':
            server = await asyncio.start_server(upper, '127.0.0.1', 0,
                                                ssl=sctx)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await uvstreams.open_connection(
                'localhost', port, ssl=cctx)
        else:
            path = str(tmp_path / 's.sock')
            server = await asyncio.start_unix_server(upper, path, ssl=sctx)
            reader, writer = await uvstreams.open_unix_connection(
                path, ssl=cctx, server_hostname='localhost')
        obj = writer.get_extra_info('ssl_object')
        assert obj.selected_alpn_protocol() == 'http/1.1'
        assert writer.get_extra_info('sslcontext') is cctx
        assert writer.get_extra_info('peercert')['subject'] == (
            (('commonName', 'localhost'),),)
        assert await talk(reader, writer) == b'HELLO http/1.1\n'
        server.close()
        await server.wait_closed()
    run(go())


@pytest.mark.parametrize('transport', ['tcp', 'unix'])
def test_stdlib_client_against_uvstreams_server(loop, run, pki, tmp_path,
                                                transport):
    async def go():
        sctx = server_ctx(pki, ['h2', 'http/1.1'])
        sctx.options |= ssl.OP_NO_COMPRESSION
        cctx = client_ctx(pki, ['http/1.1'])
        if transport == 'tcp':
            server = await uvstreams.start_server(upper, '127.0.0.1', 0,
                                                  ssl=sctx)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection(
                '127.0.0.1', port, ssl=cctx, server_hostname='localhost')
        else:
            path = str(tmp_path / 's.sock')
            server = await uvstreams.start_unix_server(upper, path, ssl=sctx)
            reader, writer = await asyncio.open_unix_connection(
                path, ssl=cctx, server_hostname='localhost')
        assert writer.get_extra_info(
            'ssl_object').selected_alpn_protocol() == 'http/1.1'
        # the server's own view of ALPN, written back by upper()
        assert await talk(reader, writer) == b'HELLO http/1.1\n'
        server.close()
        await server.wait_closed()
    run(go())


def test_start_tls_both_sides_against_stdlib(loop, run, pki):
    """A STARTTLS-style upgrade: uvstreams server with asyncio client, then
    asyncio server with uvstreams client; plain contexts on both ends."""
    async def upgrading_server(start_tls_ctx, reader, writer):
        assert await reader.readline() == b'STARTTLS\n'
        writer.write(b'GO\n')
        await writer.drain()
        await writer.start_tls(start_tls_ctx)
        await upper(reader, writer)

    async def client(open_connection, reader_writer_port):
        reader, writer = await open_connection('127.0.0.1',
                                               reader_writer_port)
        writer.write(b'STARTTLS\n')
        assert await reader.readline() == b'GO\n'
        await writer.start_tls(client_ctx(pki, ['x']),
                               server_hostname='localhost')
        assert writer.get_extra_info('peercert') is not None
        return await talk(reader, writer)

    async def go():
        for serve, connect in ((uvstreams.start_server,
                                asyncio.open_connection),
                               (asyncio.start_server,
                                uvstreams.open_connection)):
            sctx = server_ctx(pki, ['x'])
            server = await serve(
                lambda r, w: upgrading_server(sctx, r, w), '127.0.0.1', 0)
            port = server.sockets[0].getsockname()[1]
            assert await client(connect, port) == b'HELLO x\n'
            server.close()
            await server.wait_closed()
    run(go())


# ---- each setting honoured -------------------------------------------------

async def uvs_pair(sctx, cctx, **kw):
    """A uvstreams server with sctx and a uvstreams client with cctx: the
    client's (reader, writer) and the server, or the client's exception."""
    server = await uvstreams.start_server(upper, '127.0.0.1', 0, ssl=sctx)
    port = server.sockets[0].getsockname()[1]
    try:
        return server, await uvstreams.open_connection(
            '127.0.0.1', port, ssl=cctx, **kw)
    except Exception as exc:
        server.close()
        await server.wait_closed()
        return None, exc


async def finish(server, rw):
    line = await talk(*rw)
    server.close()
    await server.wait_closed()
    return line


def test_versions_ciphers_and_options_reach_the_wire(loop, run, pki):
    async def go():
        sctx = server_ctx(pki)
        sctx.maximum_version = ssl.TLSVersion.TLSv1_2
        sctx.set_ciphers('ECDHE-ECDSA-AES128-GCM-SHA256')
        server, rw = await uvs_pair(sctx, client_ctx(pki),
                                    server_hostname='localhost')
        assert rw[1].get_extra_info('cipher')[:2] == (
            'ECDHE-ECDSA-AES128-GCM-SHA256', 'TLSv1.2')
        await finish(server, rw)

        sctx = server_ctx(pki)
        with pytest.warns(DeprecationWarning):
            sctx.options |= ssl.OP_NO_TLSv1_3
        server, rw = await uvs_pair(sctx, client_ctx(pki),
                                    server_hostname='localhost')
        assert rw[1].get_extra_info('ssl_object').version() == 'TLSv1.2'
        await finish(server, rw)

        cctx = client_ctx(pki)
        cctx.minimum_version = ssl.TLSVersion.TLSv1_3
        sctx = server_ctx(pki)
        sctx.maximum_version = ssl.TLSVersion.TLSv1_2
        server, exc = await uvs_pair(sctx, cctx, server_hostname='localhost')
        assert isinstance(exc, ssl.SSLError), exc
    run(go())


def test_verification_settings(loop, run, pki):
    async def go():
        # the CA store: system store only (no test CA) fails ...
        cctx = ssl.create_default_context()
        server, exc = await uvs_pair(server_ctx(pki), cctx,
                                     server_hostname='localhost')
        assert isinstance(exc, ssl.SSLCertVerificationError), exc
        # ... cadata as DER succeeds
        with open(pki['ca.pem']) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(cadata=der)
        server, rw = await uvs_pair(server_ctx(pki), cctx,
                                    server_hostname='localhost')
        assert await finish(server, rw) == b'HELLO None\n'
        # check_hostname: a wrong name fails, unless check_hostname is off
        server, exc = await uvs_pair(server_ctx(pki), client_ctx(pki),
                                     server_hostname='wrong.example')
        assert isinstance(exc, ssl.SSLCertVerificationError), exc
        cctx = client_ctx(pki)
        cctx.check_hostname = False
        server, rw = await uvs_pair(server_ctx(pki), cctx,
                                    server_hostname='wrong.example')
        assert rw[1].get_extra_info('peercert')  # still verified
        await finish(server, rw)
        # verify_mode CERT_REQUIRED on a server: mutual TLS
        sctx = server_ctx(pki)
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(pki['ca.pem'])
        cctx = client_ctx(pki)
        cctx.load_cert_chain(pki['client.pem'], pki['client.key'])
        seen = []

        async def record(reader, writer):
            seen.append(writer.get_extra_info('peercert')['subject'])
            await upper(reader, writer)
        server = await uvstreams.start_server(record, '127.0.0.1', 0,
                                              ssl=sctx)
        rw = await uvstreams.open_connection(
            '127.0.0.1', server.sockets[0].getsockname()[1], ssl=cctx,
            server_hostname='localhost')
        assert await finish(server, rw) == b'HELLO None\n'
        assert seen == [((('commonName', 'uvstreams client'),),)]
    run(go())


def test_sni_sent_without_check_hostname(loop, run, pki):
    """asyncio sends server_hostname as SNI even with check_hostname off."""
    async def go():
        names = []
        sctx = server_ctx(pki)
        sctx.sni_callback = lambda obj, name, ctx: names.append(name)
        server = await asyncio.start_server(upper, '127.0.0.1', 0, ssl=sctx)
        cctx = client_ctx(pki)
        cctx.check_hostname = False
        rw = await uvstreams.open_connection(
            '127.0.0.1', server.sockets[0].getsockname()[1], ssl=cctx,
            server_hostname='other.example')
        await finish(server, rw)
        assert names == ['other.example']
    run(go())


# ---- what cannot be honoured -----------------------------------------------

def test_unsupported_settings_raise_naming_them(loop, run, pki, tmp_path):
    async def go():
        before = open_fds()
        sctx = server_ctx(pki)
        sctx.sni_callback = lambda obj, name, ctx: None
        with pytest.raises(ValueError, match='sni_callback'):
            await uvstreams.start_server(upper, '127.0.0.1', 0, ssl=sctx)
        with pytest.raises(ValueError, match='sni_callback'):
            await uvstreams.start_unix_server(
                upper, str(tmp_path / 'u.sock'), ssl=sctx)
        assert not os.path.exists(tmp_path / 'u.sock')
        cctx = client_ctx(pki)
        cctx.keylog_filename = str(tmp_path / 'keys.log')
        with pytest.raises(ValueError, match='keylog_filename'):
            await uvstreams.open_connection('127.0.0.1', 1, ssl=cctx)
        cctx = client_ctx(pki)
        cctx.post_handshake_auth = True
        with pytest.raises(ValueError, match='post_handshake_auth'):
            await uvstreams.open_connection('127.0.0.1', 1, ssl=cctx)
        with pytest.raises(ValueError, match='PROTOCOL_TLS_SERVER'):
            await uvstreams.open_connection('127.0.0.1', 1, ssl=sctx)
        assert open_fds() <= before  # nothing left open
    run(go())


# ---- cost and lifetime -----------------------------------------------------

def test_context_converted_once_and_released(loop, run, pki):
    async def go():
        sctx = server_ctx(pki, ['x'])
        cctx = client_ctx(pki)
        assert uvs_tls.resolve(cctx, False) is uvs_tls.resolve(cctx, False)
        server = await uvstreams.start_server(upper, '127.0.0.1', 0,
                                              ssl=sctx)
        port = server.sockets[0].getsockname()[1]
        ref = weakref.ref(sctx)
        del sctx  # the server and the engine keep it
        gc.collect()
        for _ in range(3):
            rw = await uvstreams.open_connection(
                '127.0.0.1', port, ssl=cctx, server_hostname='localhost')
            assert await talk(*rw) == b'HELLO None\n'
        server.close()
        await server.wait_closed()
        del server
        for _ in range(50):  # the engine lets go on its own thread
            uvstreams._core._c.uvs_py_release_now()
            gc.collect()
            if ref() is None:
                break
            await asyncio.sleep(0.05)
        assert ref() is None
    if not uvs_tls.sharing()[0]:
        pytest.fail(f'no sharing here: {uvs_tls.sharing()[1]}')
    run(go())


def test_fallback_conversion(loop, run, pki, monkeypatch):
    """Without sharing, a client context is converted once (again if it
    changes); a plain server context raises naming its certificate chain."""
    monkeypatch.setattr(uvs_tls, '_sharing', (False, 'test'))

    async def go():
        server = await asyncio.start_server(upper, '127.0.0.1', 0,
                                            ssl=server_ctx(pki))
        port = server.sockets[0].getsockname()[1]
        cctx = ssl.create_default_context(cafile=pki['ca.pem'])
        first = uvs_tls.resolve(cctx, False)
        assert uvs_tls.resolve(cctx, False) is first
        rw = await uvstreams.open_connection('localhost', port, ssl=cctx)
        assert await talk(*rw) == b'HELLO None\n'
        cctx.load_verify_locations(pki['client.pem'])  # store changed
        assert uvs_tls.resolve(cctx, False) is not first
        server.close()
        await server.wait_closed()
        with pytest.raises(ValueError, match='certificate chain'):
            await uvstreams.start_server(upper, '127.0.0.1', 0,
                                         ssl=server_ctx(pki))
    run(go())


def test_sharing_is_on_here():
    """Debian's python3 and libuvstreams both use the system libssl.so.3."""
    ok, detail = uvs_tls.sharing()
    assert ok, detail
    import _ssl
    assert 'libssl' in detail and os.path.exists(detail)
    assert _ssl.__file__
