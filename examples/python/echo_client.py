"""TCP echo client with uvstreams (asyncio's streams example, switched).

    PYTHONPATH=build/python python3 examples/python/echo_client.py [HOST] [PORT] [MESSAGE]

Sends MESSAGE (one line) and prints what comes back.
"""

import asyncio
import sys

import uvstreams


async def tcp_echo_client(host, port, message):
    reader, writer = await uvstreams.open_connection(host, port)
    print(f'send: {message!r}')
    writer.write(message.encode() + b'\n')
    await writer.drain()
    data = await reader.readline()
    print(f'received: {data.decode().rstrip()!r}')
    writer.close()
    await writer.wait_closed()


if __name__ == '__main__':
    args = sys.argv[1:]
    asyncio.run(tcp_echo_client(args[0] if args else '127.0.0.1',
                                int(args[1]) if len(args) > 1 else 8888,
                                args[2] if len(args) > 2 else 'Hello World!'))
