"""The server of test_hypercorn.py: an ASGI app served by Debian's
hypercorn, as a user would run it.

    python3 hypercorn_server.py asyncio|uvstreams BIND

BIND is hypercorn's (127.0.0.1:0, unix:/path). With "uvstreams" the program
calls uvstreams.install() first and is otherwise the same; it says which
start_server asyncio has on stderr, where hypercorn then logs
"Running on http://ADDRESS" on stderr once it serves; the server stops
cleanly when its stdin closes.

The app answers what it was asked (method, path, query, the x-test header,
the request body's length and digest) plus n bytes of a pattern (query
n=...), in one body or, on /stream, in chunks (chunked encoding), so that
reads, large writes and keep-alive all take part.
"""

import asyncio
import hashlib
import sys
import urllib.parse

from hypercorn.asyncio import serve
from hypercorn.config import Config


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message['type'] == 'lifespan.startup':
            await send({'type': 'lifespan.startup.complete'})
        elif message['type'] == 'lifespan.shutdown':
            await send({'type': 'lifespan.shutdown.complete'})
            return


async def read_body(receive):
    body = bytearray()
    while True:
        message = await receive()
        body += message.get('body', b'')
        if not message.get('more_body'):
            return bytes(body)


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        await lifespan(receive, send)
        return
    body = await read_body(receive)
    query = urllib.parse.parse_qs(scope['query_string'].decode())
    size = int(query.get('n', ['0'])[0])
    asked = dict(scope['headers']).get(b'x-test', b'-')
    summary = (f"{scope['method']} {scope['path']} "
               f"{scope['query_string'].decode()} x-test={asked.decode()} "
               f"len={len(body)} sha={hashlib.sha256(body).hexdigest()}\n")
    payload = summary.encode() + bytes(i % 251 for i in range(size))
    chunked = scope['path'] == '/stream'
    headers = [(b'content-type', b'text/plain'), (b'x-echo', asked)]
    if not chunked:
        headers.append((b'content-length', str(len(payload)).encode()))
    await send({'type': 'http.response.start', 'status': 200,
                'headers': headers})
    step = 16384 if chunked else len(payload)
    for i in range(0, len(payload), step):
        await send({'type': 'http.response.body',
                    'body': payload[i:i + step], 'more_body': True})
    await send({'type': 'http.response.body', 'body': b''})


async def stdin_closed():
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    loop.add_reader(0, lambda: closed.done() or closed.set_result(None))
    await closed
    loop.remove_reader(0)


def main():
    mode, bind = sys.argv[1], sys.argv[2]
    if mode == 'uvstreams':
        import uvstreams
        uvstreams.install()
    print(f'start_server: {asyncio.start_server.__module__}', file=sys.stderr)
    config = Config()
    config.bind = [bind]
    asyncio.run(serve(app, config, shutdown_trigger=stdin_closed))


if __name__ == '__main__':
    main()
