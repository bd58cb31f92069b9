"""sock= and get_extra_info('socket') as asyncio has them (issue 23 item 1).

Each scenario runs against asyncio's own functions as the reference and
against uvstreams (the ``impl`` parameter), so an assertion that asyncio
does not satisfy fails here instead of encoding a guess. What is checked:
the caller's socket object stays usable (getsockname, getsockopt, fileno)
while the server or transport is open, an option set on it reaches the
connection's real socket, and it is closed with the server (at close()) or
the transport (by wait_closed()); the socket is then really gone (the port
refuses, the peer reads EOF). get_extra_info('socket') returns one object
per transport and uses no descriptor of its own, however many connections
ask for it.
"""

import asyncio
import os
import socket

import pytest

import uvstreams
from uvstreams import _uvstreams_c as _c
from uvstreams import unified

IMPLS = {'asyncio': asyncio, 'uvstreams': uvstreams}


# asyncio's own functions on asyncio's loop are the reference (on uvloop
# they would be uvloop's transports); uvstreams runs on both loops.
AGAINST_ASYNCIO = pytest.mark.parametrize(
    'loop, impl', [('asyncio', 'asyncio'), ('asyncio', 'uvstreams'),
                   ('uvloop', 'uvstreams')], indirect=True)


@pytest.fixture
def impl(request):
    return IMPLS[request.param]


def _open_fds():
    return len(os.listdir('/proc/self/fd'))


async def _echo(reader, writer):
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


async def _round_trip(impl, opener, *args):
    reader, writer = await opener(*args)
    writer.write(b'ping\n')
    assert await reader.readline() == b'ping\n'
    writer.close()
    await writer.wait_closed()


def _assert_listening_socket_usable(sock, address):
    assert sock.fileno() >= 0
    assert sock.getsockname() == address
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    assert sock.gettimeout() == 0.0  # made non-blocking, as asyncio does


# ---- servers ----------------------------------------------------------------


@AGAINST_ASYNCIO
def test_start_server_keeps_the_callers_socket(impl, run):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    address = sock.getsockname()

    async def main():
        server = await impl.start_server(_echo, sock=sock)
        _assert_listening_socket_usable(sock, address)
        assert server.sockets[0].getsockname() == address
        await _round_trip(impl, impl.open_connection, *address)
        assert sock.getsockname() == address
        server.close()
        assert sock.fileno() == -1  # closed by close(), as asyncio's
        await server.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            await impl.open_connection(*address)

    run(main())


@AGAINST_ASYNCIO
@pytest.mark.parametrize('opener', ['start_unix_server', 'start_server'])
def test_unix_server_keeps_the_callers_socket(impl, run, tmp_path, opener):
    """start_server given an AF_UNIX socket is how hypercorn serves a
    unix: bind; start_unix_server is the ordinary way."""
    path = str(tmp_path / 's.sock')
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)

    async def main():
        server = await getattr(impl, opener)(_echo, sock=sock)
        _assert_listening_socket_usable(sock, path)
        await _round_trip(impl, impl.open_unix_connection, path)
        server.close()
        assert sock.fileno() == -1
        await server.wait_closed()

    run(main())


def test_unified_server_keeps_the_callers_socket(loop, run):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    address = sock.getsockname()

    async def handler(stream):
        stream.write(await stream.readline())
        await stream.drain()

    async def main():
        async with unified.StreamServer(handler, sock=sock) as server:
            await server.start_serving()
            _assert_listening_socket_usable(sock, address)
            async with unified.connect(*address) as stream:
                stream.write(b'3.8\n')
                assert await stream.readline() == b'3.8\n'
        assert sock.fileno() == -1

    run(main())


# ---- connections ------------------------------------------------------------


def _connected_pair():
    """(client, server side) of a loopback TCP connection, both blocking."""
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
    return client, peer


def _assert_engine_sees_keep_alive(impl, writer, expected):
    if impl is uvstreams:  # the engine's own descriptor, read by the engine
        rc, value = _c.uvs_stream_get_int(writer.transport._s, 'keep_alive')
        assert (rc, bool(value)) == (0, expected)


@AGAINST_ASYNCIO
def test_open_connection_keeps_the_callers_socket(impl, run):
    client, peer = _connected_pair()
    address = client.getsockname()

    async def main():
        reader, writer = await impl.open_connection(sock=client)
        assert client.fileno() >= 0
        assert client.getsockname() == address
        assert client.gettimeout() == 0.0
        assert writer.get_extra_info('sockname') == address
        wrapped = writer.get_extra_info('socket')
        assert wrapped is writer.get_extra_info('socket')
        assert isinstance(wrapped, asyncio.trsock.TransportSocket)
        assert wrapped.fileno() == client.fileno()
        # an option set on the caller's object applies to the connection
        client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        assert wrapped.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        _assert_engine_sees_keep_alive(impl, writer, True)
        peer.sendall(b'data\n')
        assert await reader.readline() == b'data\n'
        writer.write(b'back')
        await writer.drain()
        assert peer.recv(4) == b'back'
        writer.close()
        await writer.wait_closed()
        assert client.fileno() == -1
        assert wrapped.fileno() == -1
        with pytest.raises(OSError):
            wrapped.getsockname()

    try:
        run(main())
        peer.settimeout(10)
        assert peer.recv(10) == b''  # every descriptor is closed: EOF
    finally:
        client.close()
        peer.close()


@AGAINST_ASYNCIO
@pytest.mark.parametrize('opener', ['open_unix_connection', 'open_connection'])
def test_unix_connection_keeps_the_callers_socket(impl, run, opener):
    a, b = socket.socketpair()

    async def main():
        reader, writer = await getattr(impl, opener)(sock=a)
        assert a.fileno() >= 0 and a.getsockname() == ''
        assert writer.get_extra_info('socket').fileno() == a.fileno()
        b.sendall(b'pair\n')
        assert await reader.readline() == b'pair\n'
        writer.transport.abort()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert a.fileno() == -1  # closed soon after abort(), as asyncio's

    try:
        run(main())
        b.settimeout(10)
        assert b.recv(10) == b''
    finally:
        a.close()
        b.close()


def test_unified_connect_keeps_the_callers_socket(loop, run):
    client, peer = _connected_pair()
    address = client.getsockname()

    async def main():
        stream = await unified.connect(sock=client)
        assert client.getsockname() == address
        assert stream.get_extra_info('socket').fileno() == client.fileno()
        peer.sendall(b'x\n')
        assert await stream.readline() == b'x\n'
        await stream.close()
        assert client.fileno() == -1

    try:
        run(main())
    finally:
        client.close()
        peer.close()


# ---- get_extra_info('socket') ------------------------------------------------


@AGAINST_ASYNCIO
def test_extra_info_socket_uses_no_descriptor(impl, run):
    """uvloop's echo benchmark idiom: every accepted connection asks for its
    socket and sets TCP_NODELAY. Counted with every connection open: asking
    adds no descriptor (asyncio's wraps the transport's own socket)."""
    count = 200
    accepted = []

    async def keep(reader, writer):
        accepted.append(writer)

    async def main():
        server = await impl.start_server(keep, '127.0.0.1', 0)
        address = server.sockets[0].getsockname()
        clients = [await impl.open_connection(*address)
                   for _ in range(count)]
        while len(accepted) < count:
            await asyncio.sleep(0.01)
        before = _open_fds()
        names = set()
        for writer in accepted:
            wrapped = writer.get_extra_info('socket')
            wrapped.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            assert wrapped.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert wrapped.family == socket.AF_INET
            assert wrapped.type == socket.SOCK_STREAM
            assert wrapped.getsockname() == address
            names.add(wrapped.getpeername())
            assert writer.get_extra_info('socket') is wrapped
        assert _open_fds() == before
        assert names == {w.get_extra_info('sockname') for _, w in clients}
        first = accepted[0].get_extra_info('socket')
        assert f'laddr={address}' in repr(first)
        for _, writer in clients:
            writer.close()
        for writer in accepted:
            writer.close()
            await writer.wait_closed()
        assert first.fileno() == -1
        with pytest.raises(OSError):
            first.getsockname()
        server.close()
        await server.wait_closed()

    run(main(), timeout=60)


@AGAINST_ASYNCIO
def test_extra_info_socket_first_asked_after_close(impl, run):
    """asyncio's transport keeps its socket wrapper after closing: asked for
    the first time then, it is there with fileno() -1."""
    accepted = []

    async def keep(reader, writer):
        accepted.append(writer)

    async def main():
        server = await impl.start_server(keep, '127.0.0.1', 0)
        address = server.sockets[0].getsockname()
        reader, writer = await impl.open_connection(*address)
        writer.close()
        await writer.wait_closed()
        wrapped = writer.get_extra_info('socket')
        assert isinstance(wrapped, asyncio.trsock.TransportSocket)
        assert wrapped.fileno() == -1
        assert (wrapped.family, wrapped.type) == (socket.AF_INET,
                                                  socket.SOCK_STREAM)
        with pytest.raises(OSError):
            wrapped.getpeername()
        while not accepted:
            await asyncio.sleep(0.01)
        accepted[0].close()
        server.close()
        await server.wait_closed()

    run(main())
