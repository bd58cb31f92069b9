"""A user program of the uvstreams API that `mypy --strict` must accept
(test_packaging.py), and that runs an echo round trip each way (blocking,
asyncio, the 3.8 Stream API) when executed: the installed wheel's test."""

import asyncio
import threading

import uvstreams
from uvstreams import sync


def echo(stream: sync.Stream) -> None:
    stream.write(stream.readline(timeout=20))


def sync_round_trip() -> bytes:
    server = sync.start_server(echo, '127.0.0.1', 0)
    port: int = server.sockets[0][1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync.connect('127.0.0.1', port, timeout=20) as stream:
        stream.write(b'blocking\n')
        line = stream.readline(timeout=20)
    server.close()
    return line


async def handle(reader: uvstreams.StreamReader,
                 writer: uvstreams.StreamWriter) -> None:
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def asyncio_round_trip() -> tuple[bytes, bytes, bytes]:
    server = await uvstreams.start_server(handle, '127.0.0.1', 0)
    port: int = server.sockets[0].getsockname()[1]
    reader, writer = await uvstreams.open_connection('127.0.0.1', port)
    writer.write(b'asyncio\n')
    line = await asyncio.wait_for(reader.readline(), 20)
    try:
        await reader.readexactly(100)
        partial = b'(no EOF?)'
    except uvstreams.IncompleteReadError as e:
        partial = e.partial
    writer.close()
    await writer.wait_closed()
    async with uvstreams.connect('127.0.0.1', port) as stream:
        stream.write(b'unified\n')
        unified = await stream.readline()
    server.close()
    await server.wait_closed()
    return line, partial, unified


def main() -> None:
    config = uvstreams.TLSConfig(server_side=False, alpn_protocols=['h2'])
    assert not config.server_side
    blocking = sync_round_trip()
    line, partial, unified = asyncio.run(asyncio_round_trip())
    assert (blocking, line, partial, unified) == (
        b'blocking\n', b'asyncio\n', b'', b'unified\n'), (
            blocking, line, partial, unified)
    print('uvstreams %s from %s: echoed %r %r %r' % (
        uvstreams.__version__, uvstreams.__file__, blocking, line, unified))


if __name__ == '__main__':
    main()
