"""Connections, writers and servers over real TCP and Unix sockets, each on
asyncio's default loop and on uvloop: request/response and echo exchanges,
drain and flow control, half-close, close/wait_closed (and its exception
after a reset), server lifecycle (close, wait_closed, close_clients,
abort_clients, serve_forever, start_serving, async with), error types,
handler failures, the unclosed-writer warning, cancellation without data
loss and uvstreams.install()."""

import asyncio
import errno
import gc
import os
import socket
import threading
import warnings

import pytest

import uvstreams


async def echo_handler(reader, writer):
    try:
        async for line in reader:
            writer.write(line)
            await writer.drain()
    finally:
        writer.close()


async def serve(handler=echo_handler, **kwds):
    server = await uvstreams.start_server(handler, '127.0.0.1', 0, **kwds)
    return server, server.sockets[0].getsockname()[1]


def test_open_connection_readline_then_read_to_eof(loop, run):
    async def handler(reader, writer):
        await reader.readline()
        writer.write(b'HTTP/1.0 200 OK\r\n\r\nTest message')
        writer.close()

    async def go():
        server, port = await serve(handler)
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.write(b'GET / HTTP/1.0\r\n\r\n')
        assert await reader.readline() == b'HTTP/1.0 200 OK\r\n'
        assert (await reader.read()).endswith(b'Test message')
        assert reader.at_eof()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())
    assert loop.handler_calls == []


def test_unix_connection_and_server(loop, run, tmp_path):
    path = str(tmp_path / 'sock')

    async def go():
        server = await uvstreams.start_unix_server(echo_handler, path)
        assert server.sockets[0].getsockname() == path
        reader, writer = await uvstreams.open_unix_connection(path)
        assert writer.get_extra_info('peername') == path
        writer.write(b'over unix\n')
        assert await reader.readline() == b'over unix\n'
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())
    assert not os.path.exists(path)  # cleanup_socket


def test_echo_1000_messages(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        for i in range(1000):
            msg = b'message %d %s\n' % (i, b'x' * (i % 50))
            writer.write(msg)
            await writer.drain()
            assert await reader.readline() == msg
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


def test_start_server_with_sock_and_plain_callback(loop, run):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    tasks = []

    def plain_cb(reader, writer):  # not a coroutine: starts its own task
        tasks.append(asyncio.ensure_future(echo_handler(reader, writer)))

    async def go():
        server = await uvstreams.start_server(plain_cb, sock=sock)
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.writelines([b'one ', bytearray(b'two '), memoryview(b'3\n')])
        assert await reader.readline() == b'one two 3\n'
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        await asyncio.gather(*tasks)
    run(go())


def test_extra_info(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        peer = writer.get_extra_info('peername')
        local = writer.get_extra_info('sockname')
        assert peer == ('127.0.0.1', port)
        assert local[0] == '127.0.0.1'
        sock = writer.get_extra_info('socket')
        assert sock.getsockname() == local
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert writer.get_extra_info('sslcontext') is None
        assert writer.get_extra_info('nothing', 'dflt') == 'dflt'
        assert writer.transport.get_extra_info('peername') == peer
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


def test_half_close_with_write_eof(loop, run):
    async def handler(reader, writer):
        data = await reader.read()  # until the client's EOF
        writer.write(b'got %d bytes' % len(data))
        await writer.drain()
        writer.close()

    async def go():
        server, port = await serve(handler)
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        assert writer.can_write_eof()
        writer.write(b'x' * 100000)
        writer.write_eof()
        with pytest.raises(RuntimeError, match='write_eof'):
            writer.write(b'more')
        assert await reader.read() == b'got 100000 bytes'
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


def test_drain_waits_for_a_slow_reader(loop, run):
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(reader, writer):
        started.set()
        await release.wait()
        total = len(await reader.read())
        writer.write(b'%d' % total)
        writer.close()

    async def go():
        server, port = await serve(handler)
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.transport.set_write_buffer_limits(high=16384)
        assert writer.transport.get_write_buffer_limits() == (4096, 16384)
        await started.wait()
        chunk = b'y' * 65536
        drain = None
        for _ in range(200):  # fill the socket buffers, then ours
            writer.write(chunk)
            drain = asyncio.ensure_future(writer.drain())
            await asyncio.sleep(0)
            if not drain.done():
                break
        assert not drain.done()
        assert writer.transport.get_write_buffer_size() > 16384
        release.set()
        await drain
        writer.write_eof()
        total = int(await reader.read())
        assert total % 65536 == 0 and total >= 65536
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


def test_bad_write_buffer_limits(loop, run):
    async def go():
        server, port = await serve()
        _, writer = await uvstreams.open_connection('127.0.0.1', port)
        with pytest.raises(ValueError, match='must be >= low'):
            writer.transport.set_write_buffer_limits(high=1, low=2)
        writer.close()
        server.close()
    run(go())


def test_write_drain_loop_ends_when_peer_closes(loop, run):
    listener = socket.create_server(('127.0.0.1', 0))
    port = listener.getsockname()[1]

    def accept_and_close():
        conn, _ = listener.accept()
        conn.close()
        listener.close()
    thread = threading.Thread(target=accept_and_close)
    thread.start()

    async def go():
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        with pytest.raises((ConnectionResetError, ConnectionAbortedError,
                            BrokenPipeError)):
            for _ in range(10000):
                writer.write(b'a' * 65536)
                await writer.drain()
                await asyncio.sleep(0.001)
        writer.close()
    run(go())
    thread.join()


def test_wait_closed_on_close(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.write(b'unread data\n')
        await asyncio.sleep(0.01)
        assert not writer.is_closing()
        writer.close()
        assert writer.is_closing()
        await writer.wait_closed()
        await writer.wait_closed()  # again: completes again
        assert reader.at_eof() or await reader.read() in (b'', b'unread data\n')
        server.close()
        await server.wait_closed()
    run(go())


def test_eof_fed_to_reader_when_writer_closes(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.close()
        await writer.wait_closed()
        assert reader.at_eof()
        assert await reader.read() == b''
        server.close()
        await server.wait_closed()
    run(go())


def test_write_and_drain_after_close_raise(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.close()
        writer.write(b'dropped')  # silently dropped, as asyncio does
        with pytest.raises(ConnectionResetError):
            await writer.drain()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


def test_reset_by_peer_surfaces_in_read_and_wait_closed(loop, run):
    async def handler(reader, writer):
        await reader.readline()
        writer.transport.abort()  # RST

    async def go():
        server, port = await serve(handler)
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.write(b'hello\n')
        with pytest.raises(ConnectionResetError):
            await reader.read()
        assert isinstance(reader.exception(), ConnectionResetError)
        with pytest.raises(ConnectionResetError):
            await writer.wait_closed()
        with pytest.raises(ConnectionResetError):
            await writer.drain()
        server.close()
        await server.wait_closed()
    run(go())


def test_readexactly_incomplete_over_tcp(loop, run):
    async def handler(reader, writer):
        writer.write(b'only 10 b.')
        writer.close()

    async def go():
        server, port = await serve(handler)
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await reader.readexactly(100)
        assert info.value.partial == b'only 10 b.'
        assert info.value.expected == 100
        writer.close()
        server.close()
        await server.wait_closed()
    run(go())


def test_readline_limit_over_tcp(loop, run):
    async def handler(reader, writer):
        writer.write(b'a' * 50 + b'\nshort\n')
        writer.close()

    async def go():
        server, port = await serve(handler)
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port, limit=10)
        await asyncio.sleep(0.05)
        with pytest.raises(ValueError):
            await reader.readline()
        assert await reader.readline() == b'short\n'
        writer.close()
        server.close()
        await server.wait_closed()
    run(go())


def test_second_concurrent_read_on_a_connection(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        first = asyncio.ensure_future(reader.readline())
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match='already waiting'):
            await reader.read(10)
        writer.write(b'line\n')
        assert await first == b'line\n'
        writer.close()
        server.close()
        await server.wait_closed()
    run(go())


def test_cancelled_read_loses_no_data_over_tcp(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        for i in range(20):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.readexactly(6 * 20), 0.002)
            writer.write(b'%05d\n' % i)
        got = await reader.readexactly(6 * 20)
        assert got == b''.join(b'%05d\n' % i for i in range(20))
        writer.close()
        server.close()
        await server.wait_closed()
    run(go())


def test_read_cancelled_while_its_completion_is_queued(loop, run):
    """The dispatcher finds the read's future already cancelled (its task
    has not run yet): the bytes are not lost, the next read gets them."""
    async def go():
        a, b = socket.socketpair()
        reader, writer = await uvstreams.open_connection(sock=a)
        task = asyncio.ensure_future(reader.read(100))
        await asyncio.sleep(0)  # the read is now pending in the engine
        b.sendall(b'hello')
        task.cancel()
        uvstreams._core.hub_for(asyncio.get_running_loop()).run()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await reader.read(100) == b'hello'
        writer.close()
        await writer.wait_closed()
        b.close()
    run(go())


def test_set_exception_is_raised_without_internal_context(loop, run):
    """drain() and a read raise the object given to set_exception() as
    asyncio does: not chained to any exception of the implementation."""
    async def go():
        a, b = socket.socketpair()
        reader, writer = await uvstreams.open_connection(sock=a)
        reader.set_exception(ValueError('boom'))
        with pytest.raises(ValueError) as info:
            await writer.drain()
        assert info.value.__context__ is None
        with pytest.raises(ValueError) as info:
            await reader.read(10)
        assert info.value.__context__ is None
        writer.close()
        b.close()
    run(go())


def test_connection_refused(loop, run):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()

    async def go():
        with pytest.raises(ConnectionRefusedError) as info:
            await uvstreams.open_connection('127.0.0.1', port)
        assert info.value.errno == errno.ECONNREFUSED
    run(go())


def test_address_in_use(loop, run):
    async def go():
        server, port = await serve()
        with pytest.raises(OSError) as info:
            await uvstreams.start_server(echo_handler, '127.0.0.1', port,
                                         reuse_address=False)
        assert info.value.errno == errno.EADDRINUSE
        server.close()
        await server.wait_closed()
    run(go())


def test_unix_connect_missing_path(loop, run, tmp_path):
    async def go():
        with pytest.raises(FileNotFoundError):
            await uvstreams.open_unix_connection(str(tmp_path / 'none'))
    run(go())


def test_argument_errors(loop, run):
    async def go():
        with pytest.raises(ValueError):
            await uvstreams.open_connection()
        with pytest.raises(ValueError):
            await uvstreams.start_server(echo_handler)
        with pytest.raises(ValueError, match='only meaningful with ssl'):
            await uvstreams.open_connection('127.0.0.1', 1,
                                            server_hostname='x')
        with pytest.raises(ValueError, match='positive'):
            await uvstreams.open_connection('127.0.0.1', 1, ssl=True,
                                            ssl_handshake_timeout=0)
        with pytest.raises(TypeError):
            await uvstreams.start_server(echo_handler, '127.0.0.1', 0,
                                         ssl=True)
    run(go())


def test_server_lifecycle_close_clients(loop, run):
    async def go():
        server, port = await serve()
        assert server.is_serving()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.write(b'ping\n')
        assert await reader.readline() == b'ping\n'
        server.close()
        assert not server.is_serving()
        assert server.sockets == ()
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # a client is still connected
        server.close_clients()
        assert await reader.read() == b''
        await asyncio.wait_for(waiter, 5)
        writer.close()
    run(go())


def test_server_abort_clients(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.write(b'ping\n')
        assert await reader.readline() == b'ping\n'
        server.close()
        server.abort_clients()
        try:
            assert await reader.read() == b''
        except ConnectionResetError:
            pass
        await asyncio.wait_for(server.wait_closed(), 5)
        writer.close()
    run(go())


def test_serve_forever_cancel_closes(loop, run):
    async def go():
        server = await uvstreams.start_server(
            echo_handler, '127.0.0.1', 0, start_serving=False)
        assert not server.is_serving()
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0.01)
        assert server.is_serving()
        with pytest.raises(RuntimeError, match='already being awaited'):
            await server.serve_forever()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert server.sockets == ()
        with pytest.raises(RuntimeError, match='is closed'):
            await server.serve_forever()
    run(go())


def test_server_async_with(loop, run):
    async def go():
        async with await uvstreams.start_server(
                echo_handler, '127.0.0.1', 0) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await uvstreams.open_connection('127.0.0.1', port)
            writer.write(b'x\n')
            assert await reader.readline() == b'x\n'
            writer.close()
            await writer.wait_closed()
        assert not server.is_serving()
    run(go())


def test_start_serving_later(loop, run):
    async def go():
        server = await uvstreams.start_server(
            echo_handler, '127.0.0.1', 0, start_serving=False)
        port = server.sockets[0].getsockname()[1]
        await server.start_serving()
        assert server.is_serving()
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        writer.write(b'late\n')
        assert await reader.readline() == b'late\n'
        writer.close()
        server.close()
        await server.wait_closed()
    run(go())


@pytest.mark.parametrize('plain', [False, True])
def test_handler_exception_is_reported(loop, run, plain):
    def failing_plain(reader, writer):
        raise ZeroDivisionError

    async def failing(reader, writer):
        raise ZeroDivisionError

    async def go():
        server, port = await serve(failing_plain if plain else failing)
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        assert await reader.read() == b''  # the server closed it
        writer.close()
        server.close()
        await server.wait_closed()
    run(go())
    messages = [c['message'] for c in loop.handler_calls]
    assert messages == ['Unhandled exception in client_connected_cb']
    assert isinstance(loop.handler_calls[0]['exception'], ZeroDivisionError)


def test_handler_cancelling_itself_is_not_reported(loop, run):
    async def handler(reader, writer):
        asyncio.current_task().cancel()
        await asyncio.sleep(0)

    async def go():
        server, port = await serve(handler)
        reader, writer = await uvstreams.open_connection('127.0.0.1', port)
        assert await reader.read() == b''
        writer.close()
        server.close()
        await server.wait_closed()
    run(go())
    assert loop.handler_calls == []


def test_unclosed_writer_warns(loop, run):
    async def go():
        server, port = await serve()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            reader, writer = await uvstreams.open_connection('127.0.0.1',
                                                             port)
            del reader, writer
            gc.collect()
        server.close()
        return [w for w in caught if issubclass(w.category, ResourceWarning)]
    found = run(go())
    assert len(found) == 1
    assert str(found[0].message).startswith('unclosed <StreamWriter')


def test_connect_with_an_open_socket(loop, run):
    async def go():
        server, port = await serve()
        sock = socket.create_connection(('127.0.0.1', port))
        reader, writer = await uvstreams.open_connection(sock=sock)
        writer.write(b'adopted\n')
        assert await reader.readline() == b'adopted\n'
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


def test_connect_with_local_addr(loop, run):
    async def go():
        server, port = await serve()
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port, local_addr=('127.0.0.1', 0))
        writer.write(b'bound\n')
        assert await reader.readline() == b'bound\n'
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


def test_install_switches_asyncio(loop, run):
    uvstreams.install()
    try:
        assert asyncio.open_connection is uvstreams.open_connection
        assert asyncio.start_server is uvstreams.start_server

        async def go():
            server = await asyncio.start_server(echo_handler, '127.0.0.1', 0)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
            assert isinstance(writer, uvstreams.StreamWriter)
            writer.write(b'installed\n')
            assert await reader.readline() == b'installed\n'
            writer.close()
            server.close()
            await server.wait_closed()
        run(go())
    finally:
        uvstreams.uninstall()
    assert asyncio.open_connection is not uvstreams.open_connection


def test_stream_reader_protocol_with_a_pipe(loop, run):
    async def go():
        rfd, wfd = os.pipe()
        reader = uvstreams.StreamReader(limit=1)
        protocol = uvstreams.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_read_pipe(
            lambda: protocol, os.fdopen(rfd, 'rb', 0))
        data = os.urandom(100000)

        def feed():
            with os.fdopen(wfd, 'wb') as pipe:
                pipe.write(data)
        thread = threading.Thread(target=feed)
        thread.start()
        got = await reader.read(-1)
        thread.join()
        transport.close()
        assert got == data
    run(go())


def test_server_on_every_interface_and_ipv6(loop, run):
    has_ipv6 = socket.has_ipv6
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        has_ipv6 = False

    async def go():
        server = await uvstreams.start_server(echo_handler, None, 0)
        families = {s.family for s in server.sockets}
        assert socket.AF_INET in families
        port = server.sockets[0].getsockname()[1]
        hosts = ['127.0.0.1'] + (['::1'] if has_ipv6 and
                                  socket.AF_INET6 in families else [])
        for host in hosts:
            reader, writer = await uvstreams.open_connection(host, port)
            peer = writer.get_extra_info('peername')
            assert peer[0] == host and peer[1] == port
            assert len(peer) == (4 if ':' in host else 2)
            writer.write(b'%s\n' % host.encode())
            assert await reader.readline() == b'%s\n' % host.encode()
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()
    run(go())


def test_writer_collected_after_loop_closed_warns():
    loop = asyncio.SelectorEventLoop()
    try:
        async def go():
            server, port = await serve(lambda r, w: w.close())
            streams = await uvstreams.open_connection('127.0.0.1', port)
            server.close()
            return streams
        reader, writer = loop.run_until_complete(go())
    finally:
        loop.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        del reader, writer
        gc.collect()
    messages = [str(w.message) for w in caught
                if issubclass(w.category, ResourceWarning)]
    assert 'loop is closed' in messages
