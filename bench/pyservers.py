"""The Python echo servers of the benchmark, one per process.

    /usr/bin/python3 bench/pyservers.py KIND [--loop asyncio|uvloop]
        [--handler read|readline] [--host H] [--port P] [--workers N]
        [--tls-cert PEM --tls-key PEM]

KIND:
  asyncio-streams  asyncio.start_server (on --loop asyncio: the stock
                   selector loop; on --loop uvloop: "uvloop streams")
  uvstreams        uvstreams.start_server (the drop-in), on either loop
  uvstreams-sync   uvstreams.sync.start_server: blocking handler in a
                   thread pool of --workers threads
  plain-threads    socket.socket accept loop + the same kind of thread pool,
                   recv/sendall

Handlers (the same code for every asyncio-style server):
  read      data = await reader.read(65536); writer.write(data);
            await writer.drain()   (until EOF)
  readline  line = await reader.readline(); writer.write(line);
            await writer.drain()   (the server's limit is 1 MiB so that
            100 KiB lines fit; asyncio's default of 64 KiB would refuse them)

--tls-cert/--tls-key (asyncio-streams, uvstreams): serve TLS, the same way
each library is asked to in an application: asyncio/uvloop with
ssl.create_default_context(Purpose.CLIENT_AUTH) + load_cert_chain,
uvstreams with uvstreams.create_default_context (its recording twin, so
the certificate chain carries over to the engine). The handlers are the
same.

Prints "serving on HOST:PORT" once listening; SIGTERM or SIGINT exits 0.
The descriptor limit is raised to its hard maximum (10,000 idle clients).
"""

import argparse
import asyncio
import os
import resource
import signal
import socket
import ssl
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

READ_SIZE = 65536
LINE_LIMIT = 1 << 20


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def announce(host, port):
    print(f'serving on {host}:{port}', flush=True)


# ---- asyncio-style servers ---------------------------------------------------

async def echo_read(reader, writer):
    try:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def echo_readline(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def server_tls_context(api, cert, key):
    """The server's TLS context, made the library's own way."""
    make = (api.create_default_context if api is not asyncio
            else ssl.create_default_context)
    ctx = make(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def run_async(kind, loop_name, handler_name, host, port, tls=None):
    if kind == 'uvstreams':
        import uvstreams as api
    else:
        api = asyncio
    if loop_name == 'uvloop':
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.SelectorEventLoop()
    asyncio.set_event_loop(loop)
    handler = echo_readline if handler_name == 'readline' else echo_read
    kwargs = {'limit': LINE_LIMIT} if handler_name == 'readline' else {}
    if tls:
        kwargs['ssl'] = server_tls_context(api, *tls)

    async def main():
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = await api.start_server(handler, host, port, backlog=1024,
                                        **kwargs)
        announce(*server.sockets[0].getsockname()[:2])
        await stop.wait()
        server.close()

    loop.run_until_complete(main())


# ---- threaded servers --------------------------------------------------------

def run_uvstreams_sync(host, port, workers):
    from uvstreams import sync

    def echo(stream):
        try:
            while True:
                data = stream.read(READ_SIZE)
                if not data:
                    break
                stream.write(data)
                stream.drain()
        except (ConnectionError, OSError):
            pass

    server = sync.start_server(echo, host, port, max_workers=workers,
                               backlog=1024)
    announce(*server.sockets[0][:2])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


def run_plain_threads(host, port, workers):
    def echo(conn):
        try:
            with conn:
                while True:
                    data = conn.recv(READ_SIZE)
                    if not data:
                        break
                    conn.sendall(data)
        except OSError:
            pass

    lsock = socket.create_server((host, port), backlog=1024)
    announce(*lsock.getsockname()[:2])
    pool = ThreadPoolExecutor(max_workers=workers)

    def accept_loop():
        while True:
            conn, _ = lsock.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pool.submit(echo, conn)

    threading.Thread(target=accept_loop, daemon=True).start()
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('kind', choices=('asyncio-streams', 'uvstreams',
                                    'uvstreams-sync', 'plain-threads'))
    p.add_argument('--loop', choices=('asyncio', 'uvloop'), default='asyncio')
    p.add_argument('--handler', choices=('read', 'readline'), default='read')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--workers', type=int, default=256,
                   help='thread pool size of the threaded servers '
                        '(one thread per connection is needed)')
    p.add_argument('--tls-cert', help='certificate chain, PEM (with --tls-key)')
    p.add_argument('--tls-key', help='private key, PEM')
    a = p.parse_args()
    tls = (a.tls_cert, a.tls_key) if a.tls_cert or a.tls_key else None
    if tls and not all(tls):
        p.error('--tls-cert and --tls-key go together')
    if tls and a.kind not in ('asyncio-streams', 'uvstreams'):
        p.error(f'--tls-cert: not implemented for {a.kind}')
    raise_fd_limit()
    if a.kind in ('uvstreams-sync', 'plain-threads'):
        # The signals are taken by sigwait in the main thread; blocked
        # before any thread starts, so every thread inherits the mask.
        signal.pthread_sigmask(signal.SIG_BLOCK,
                               {signal.SIGINT, signal.SIGTERM})
        if a.kind == 'uvstreams-sync':
            run_uvstreams_sync(a.host, a.port, a.workers)
        else:
            run_plain_threads(a.host, a.port, a.workers)
        # Handler threads may still be blocked in reads: leave at once.
        sys.stdout.flush()
        os._exit(0)
    run_async(a.kind, a.loop, a.handler, a.host, a.port, tls)


if __name__ == '__main__':
    main()
