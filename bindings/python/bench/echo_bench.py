"""Echo benchmark: the server's CPU time per request, uvstreams vs asyncio.

As uvloop's own benchmark (examples/bench/echoserver.py --streams with
echoclient.py): the server under test runs in a child process with one
implementation (asyncio streams on asyncio's default loop or on uvloop,
uvstreams on either loop) and echoes with ``data = await reader.read(...);
writer.write(data); await writer.drain()``; client processes with plain
blocking sockets each send SIZE-byte messages and wait for the echo. The
server's user + system CPU per request is the figure of merit, reported with
its ratio to asyncio streams on uvloop. The variants run interleaved,
REPEAT times each, and the best run of each is reported (the machine is
shared with the client processes, so the minimum is the stable figure). A line mode (HTTP-like: the request
is LINES lines read with readline(), the reply one write) is also measured.

--own-reader builds the server as websockets' legacy protocol and aiosmtpd
do, which uvstreams.install() does not switch: loop.create_server() with a
StreamReaderProtocol(StreamReader()) made by the program; the uvstreams
rows then use uvstreams' StreamReader and StreamReaderProtocol on the
loop's own transport (what install() would switch if it replaced those
classes), so the only difference is the reader. There the asyncio rows
import uvstreams too, as a program calling install() has: loading the
extension changes glibc's malloc thresholds for the whole process (some
large block freed early raises them), and on asyncio's selector loop,
whose transport reads with recv(256 KiB), that alone takes a 1 KiB echo
from ~155 to ~30 us of CPU here (no mmap/munmap per read, no first touch
of new pages; MALLOC_MMAP_THRESHOLD_=524288 MALLOC_TRIM_THRESHOLD_=8388608
does the same). Without --own-reader the asyncio rows do not import it.

    PYTHONPATH=build/python /usr/bin/python3 bindings/python/bench/echo_bench.py \
        [--requests N] [--size BYTES] [--clients C] [--lines L] [--repeat R]
        [--own-reader]
"""

import argparse
import asyncio
import multiprocessing
import os
import resource
import socket
import time

VARIANTS = (
    ('asyncio streams, default loop', 'asyncio', False),
    ('asyncio streams, uvloop', 'asyncio', True),
    ('uvstreams, default loop', 'uvstreams', False),
    ('uvstreams, uvloop', 'uvstreams', True),
)


def _own_reader_server(api, loop, handler):
    """start_server as a program that builds its own reader does it."""
    def protocol():
        reader = api.StreamReader(limit=2 ** 16)
        return api.StreamReaderProtocol(reader, handler)
    return loop.create_server(protocol, '127.0.0.1', 0)


def _server(api_name, use_uvloop, lines, conn, own_reader=False):
    if api_name == 'uvstreams':
        import uvstreams as api
    else:
        api = asyncio
        if own_reader:
            import uvstreams  # noqa: F401 (same allocator state, see above)
    if use_uvloop:
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.SelectorEventLoop()

    async def echo(reader, writer):
        while True:
            data = await reader.read(1000000)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    async def lines_echo(reader, writer):
        while True:
            request = [await reader.readline() for _ in range(lines)]
            if not request[0]:
                break
            writer.write(b''.join(request))
            await writer.drain()
        writer.close()

    async def main():
        handler = lines_echo if lines else echo
        if own_reader:
            server = await _own_reader_server(api, loop, handler)
        else:
            server = await api.start_server(handler, '127.0.0.1', 0)
        conn.send(server.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, conn.recv)  # start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start = usage.ru_utime + usage.ru_stime
        await loop.run_in_executor(None, conn.recv)  # stop
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(usage.ru_utime + usage.ru_stime - start)
        server.close()

    loop.run_until_complete(main())


def _client(port, n, message, barrier):
    sock = socket.create_connection(('127.0.0.1', port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    barrier.wait()
    size = len(message)
    for _ in range(n):
        sock.sendall(message)
        got = 0
        while got < size:
            got += len(sock.recv(size - got))
    sock.close()


def run_variant(api_name, use_uvloop, args):
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=_server,
        args=(api_name, use_uvloop, args.lines, child, args.own_reader))
    server.start()
    port = parent.recv()
    if args.lines:
        line = b'x' * (args.size // args.lines - 1) + b'\n'
        message = line * args.lines
    else:
        message = os.urandom(args.size)
    per_client = args.requests // args.clients
    barrier = multiprocessing.Barrier(args.clients + 1)
    clients = [multiprocessing.Process(
        target=_client, args=(port, per_client, message, barrier))
        for _ in range(args.clients)]
    for c in clients:
        c.start()
    parent.send('start')
    barrier.wait()
    t0 = time.perf_counter()
    for c in clients:
        c.join()
    wall = time.perf_counter() - t0
    parent.send('stop')
    cpu = parent.recv()
    server.join()
    total = per_client * args.clients
    return total / wall, cpu / total * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--requests', type=int, default=40000)
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--clients', type=int, default=1)
    parser.add_argument('--lines', type=int, default=0)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--own-reader', action='store_true')
    args = parser.parse_args()
    multiprocessing.set_start_method('fork')
    runs = {label: [] for label, _, _ in VARIANTS}
    for _ in range(args.repeat):
        for label, api, uv in VARIANTS:
            runs[label].append(run_variant(api, uv, args))
    results = [(label, (max(r[0] for r in runs[label]),
                        min(r[1] for r in runs[label])))
               for label, _, _ in VARIANTS]
    base = dict(results)['asyncio streams, uvloop'][1]
    mode = f'{args.lines} lines' if args.lines else 'read(1000000)'
    shape = ', own StreamReaderProtocol' if args.own_reader else ''
    print(f'echo server{shape}, {args.requests} requests of {args.size} '
          f'bytes ({mode}), {args.clients} client(s)')
    print(f'{"server":32} {"req/s":>9} {"CPU us/req":>11} {"vs uvloop":>10}')
    for label, (rate, cpu) in results:
        print(f'{label:32} {rate:9.0f} {cpu:11.2f} {cpu / base:10.2f}')


if __name__ == '__main__':
    main()
