"""The 3.8 unified API: connect/StreamServer/Stream with modes, over TCP,
Unix sockets and pipes, on both loops."""

import asyncio
import os
import warnings

import pytest

import uvstreams
from uvstreams import StreamMode


async def echo(stream):
    async for line in stream:
        stream.write(line)
        await stream.drain()
    await stream.close()


def test_stream_mode_is_a_flag():
    assert StreamMode.READWRITE == StreamMode.READ | StreamMode.WRITE
    assert StreamMode.READ & StreamMode.READWRITE


def test_server_and_connect(loop, run):
    async def go():
        async with uvstreams.StreamServer(echo, '127.0.0.1', 0) as server:
            assert server.is_bound() and not server.is_serving()
            await server.start_serving()
            assert server.is_serving()
            port = server.sockets[0].getsockname()[1]
            async with uvstreams.connect('127.0.0.1', port) as stream:
                assert stream.mode is StreamMode.READWRITE
                assert not stream.is_server_side()
                stream.write(b'hello\n')
                await stream.drain()
                assert await stream.readline() == b'hello\n'
            assert stream.is_closing()
        assert server.sockets == ()
    run(go())


def test_unix_server_and_stream_await(loop, run, tmp_path):
    path = str(tmp_path / 's')

    async def go():
        server = uvstreams.UnixStreamServer(echo, path)
        await server.start_serving()
        stream = await uvstreams.connect_unix(path)
        stream.write(b'unix\n')
        assert await stream.readuntil(b'\n') == b'unix\n'
        await stream.close()
        await server.close()
    run(go())


def test_pipes_and_modes(loop, run):
    async def go():
        rfd, wfd = os.pipe()
        rpipe = os.fdopen(rfd, 'rb', 0)
        reader = await uvstreams.connect_read_pipe(rpipe)
        writer = await uvstreams.connect_write_pipe(os.fdopen(wfd, 'wb', 0))
        assert reader.mode is StreamMode.READ
        assert writer.mode is StreamMode.WRITE
        assert reader.get_extra_info('pipe') is rpipe
        assert not reader.is_server_side()
        assert reader.get_extra_info('peername', 'none') == 'none'
        with pytest.raises(RuntimeError, match='read-only'):
            reader.write(b'x')
        with pytest.raises(RuntimeError, match='write-only'):
            await writer.read()
        writer.write(b'through a pipe')
        await writer.drain()
        await writer.close()
        assert await reader.read() == b'through a pipe'
        await reader.close()
    run(go())


def test_server_close_waits_for_and_cancels_handlers(loop, run):
    started = asyncio.Event()

    async def stuck(stream):
        started.set()
        await asyncio.sleep(3600)

    async def go():
        server = uvstreams.StreamServer(stuck, '127.0.0.1', 0,
                                        shutdown_timeout=0.1)
        await server.start_serving()
        port = server.sockets[0].getsockname()[1]
        stream = await uvstreams.connect('127.0.0.1', port)
        await started.wait()
        await server.close()
        assert await stream.read() == b''
        await stream.close()
    run(go())
    assert loop.handler_calls == []


def test_server_cannot_be_subclassed():
    with pytest.raises(TypeError):
        class Mine(uvstreams.StreamServer):
            pass


def test_callback_must_be_a_coroutine_function(loop, run):
    async def go():
        with pytest.raises(TypeError):
            uvstreams.StreamServer(lambda stream: None, '127.0.0.1', 0)
    run(go())


def test_stream_not_constructible():
    with pytest.raises(RuntimeError, match='internals only'):
        uvstreams.Stream(StreamMode.READ, None, None)


def test_unclosed_server_warns(loop, run):
    async def go():
        server = uvstreams.StreamServer(echo, '127.0.0.1', 0)
        await server.bind()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            server.__del__()
        await server.close()
        return caught
    caught = run(go())
    assert any('unclosed stream server' in str(w.message) for w in caught)
