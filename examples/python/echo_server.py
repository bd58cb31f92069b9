"""TCP echo server with uvstreams (asyncio's streams example, switched).

    PYTHONPATH=build/python python3 examples/python/echo_server.py [HOST] [PORT]

Prints "serving on HOST:PORT", then echoes each line back until the client
closes; runs until interrupted. Add --uvloop to run on uvloop.
"""

import asyncio
import sys

import uvstreams


async def handle_echo(reader, writer):
    addr = writer.get_extra_info('peername')
    async for line in reader:
        print(f'received {line!r} from {addr!r}', flush=True)
        writer.write(line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main(host, port):
    server = await uvstreams.start_server(handle_echo, host, port)
    host, port = server.sockets[0].getsockname()[:2]
    print(f'serving on {host}:{port}', flush=True)
    async with server:
        await server.serve_forever()


if __name__ == '__main__':
    args = [a for a in sys.argv[1:] if a != '--uvloop']
    if '--uvloop' in sys.argv:
        import uvloop
        uvloop.install()
    try:
        asyncio.run(main(args[0] if args else '127.0.0.1',
                         int(args[1]) if len(args) > 1 else 8888))
    except KeyboardInterrupt:
        pass
