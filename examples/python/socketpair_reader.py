"""Waits for data on an already open socket with uvstreams (asyncio's
"register an open socket to wait for data using streams" example).

    PYTHONPATH=build/python python3 examples/python/socketpair_reader.py
"""

import asyncio
import socket

import uvstreams


async def wait_for_data():
    loop = asyncio.get_running_loop()
    rsock, wsock = socket.socketpair()
    # The streams own rsock from now on.
    reader, writer = await uvstreams.open_connection(sock=rsock)
    # Simulate the reception of data from the network.
    loop.call_soon(wsock.send, 'abc'.encode())
    data = await reader.read(100)
    print('Received:', data.decode())
    writer.close()
    await writer.wait_closed()
    wsock.close()


if __name__ == '__main__':
    asyncio.run(wait_for_data())
