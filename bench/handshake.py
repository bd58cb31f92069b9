"""handshake.py - the cost of new TLS connections, per stack.

A server process and a client process of the same stack (uvstreams on
asyncio's loop, asyncio + ssl, uvloop + ssl), both with plain ssl.SSLContext
objects as stdlib programs make them: the server's PROTOCOL_TLS_SERVER with
load_cert_chain, the client's ssl.create_default_context() (the system
trust store) plus the test CA, made once and reused for every connection.
Each connection connects, completes the handshake, sends a line, reads the
echo and closes; `--concurrency` of them run at a time. Both processes
measure their own CPU time (getrusage, every thread: the engine's loop
threads included) around the measured connections only, after a warm-up
(so a conversion made once per context is not counted, a per-connection one
is); the driver asks the server for its figure over its stdin.

    python3 bench/handshake.py --count 200          # every stack, a table
    (run.py calls run_all() for the `make bench` handshake row)
"""

import argparse
import asyncio
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time

STACKS = ('uvstreams', 'asyncio', 'uvloop')
PYTHON = '/usr/bin/python3'
HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def stack_api(stack):
    """(start_server, open_connection, loop factory) of a stack."""
    if stack == 'uvstreams':
        import uvstreams
        return (uvstreams.start_server, uvstreams.open_connection,
                asyncio.new_event_loop)
    if stack == 'uvloop':
        import uvloop
        return asyncio.start_server, asyncio.open_connection, uvloop.new_event_loop
    return asyncio.start_server, asyncio.open_connection, asyncio.new_event_loop


async def echo_one(reader, writer):
    try:
        writer.write(await reader.readline())
        await writer.drain()
    finally:
        writer.close()


def serve(args):
    start_server, _, new_loop = stack_api(args.stack)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)

    async def main():
        server = await start_server(echo_one, '127.0.0.1', 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        print(f'serving on 127.0.0.1:{port}', flush=True)
        loop = asyncio.get_running_loop()
        # One command per stdin line: "cpu" answers the CPU time so far;
        # EOF stops the server.
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            print(json.dumps({'cpu_s': cpu_s()}), flush=True)
        server.close()
    loop = new_loop()
    loop.run_until_complete(main())


def connect_many(args):
    _, open_connection, new_loop = stack_api(args.stack)
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(args.ca)

    async def one():
        reader, writer = await open_connection(
            '127.0.0.1', args.port, ssl=ctx, server_hostname='localhost')
        writer.write(b'x\n')
        if await reader.readline() != b'x\n':
            raise RuntimeError('wrong echo')
        writer.close()
        await writer.wait_closed()

    async def batch(n):
        left = [n]

        async def worker():
            while left[0] > 0:
                left[0] -= 1
                await one()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))

    async def main():
        await batch(args.warmup)
        print('warm', flush=True)
        sys.stdin.readline()  # the driver has sampled the server
        c0, t0 = cpu_s(), time.perf_counter()
        await batch(args.count)
        return cpu_s() - c0, time.perf_counter() - t0
    loop = new_loop()
    cpu, wall = loop.run_until_complete(main())
    print(json.dumps({'cpu_s': cpu, 'wall_s': wall, 'count': args.count}),
          flush=True)


def make_certificate(d):
    def openssl(*a):
        subprocess.run(['openssl', *a], cwd=d, check=True,
                       capture_output=True)
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    openssl('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem',
            '-days', '2', '-subj', '/CN=handshake bench CA')
    with open(os.path.join(d, 'ext.cnf'), 'w') as f:
        f.write('subjectAltName=DNS:localhost\n')
    openssl('req', *ec, '-keyout', 'server.key', '-out', 'server.csr',
            '-subj', '/CN=localhost')
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2',
            '-extfile', 'ext.cnf')
    return {n: os.path.join(d, n) for n in ('ca.pem', 'server.pem',
                                            'server.key')}


def measure(stack, pki, count, concurrency, warmup, env):
    """One stack's figures, or {'error': ...}."""
    me = os.path.abspath(__file__)
    srv = subprocess.Popen(
        [PYTHON, me, '--role', 'server', '--stack', stack, '--cert',
         pki['server.pem'], '--key', pki['server.key']],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env)
    cli = None
    try:
        line = srv.stdout.readline()
        if not line.startswith('serving on'):
            return {'error': 'server: ' + (line + srv.stderr.read()).strip()}
        port = line.rsplit(':', 1)[1].strip()
        cli = subprocess.Popen(
            [PYTHON, me, '--role', 'client', '--stack', stack, '--port', port,
             '--ca', pki['ca.pem'], '--count', str(count), '--concurrency',
             str(concurrency), '--warmup', str(warmup)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env)
        if cli.stdout.readline().strip() != 'warm':
            return {'error': 'client: ' + cli.stderr.read().strip()}
        srv.stdin.write('cpu\n')
        srv.stdin.flush()
        s0 = json.loads(srv.stdout.readline())['cpu_s']
        cli.stdin.write('go\n')
        cli.stdin.flush()
        out, err = cli.communicate(timeout=600)
        if cli.returncode != 0:
            return {'error': 'client: ' + err.strip().splitlines()[-1]}
        c = json.loads(out)
        srv.stdin.write('cpu\n')
        srv.stdin.flush()
        s1 = json.loads(srv.stdout.readline())['cpu_s']
        return {'conns_per_s': count / c['wall_s'],
                'client_cpu_ms': 1000 * c['cpu_s'] / count,
                'server_cpu_ms': 1000 * (s1 - s0) / count,
                'count': count, 'concurrency': concurrency}
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        return {'error': str(e)}
    finally:
        for p in (cli, srv):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def run_all(count, concurrency=4, warmup=10, env=None, stacks=STACKS):
    """{stack: figures} for every stack, measured one after the other."""
    with tempfile.TemporaryDirectory(prefix='uvstreams-handshake-') as d:
        pki = make_certificate(d)
        return {s: measure(s, pki, count, concurrency, warmup, env)
                for s in stacks}


def print_table(results, out=sys.stdout):
    ref = results.get('asyncio', {})
    print('new TLS connections (connect, handshake, one line each way, '
          'close; CPU per connection)', file=out)
    print(f'{"stack":12s} {"conns/s":>9s} {"client ms":>10s} '
          f'{"server ms":>10s} {"client/asyncio":>15s} '
          f'{"server/asyncio":>15s}', file=out)
    for stack, r in results.items():
        if 'error' in r:
            print(f'{stack:12s} unavailable: {r["error"]}', file=out)
            continue

        def ratio(field):
            if 'error' in ref or not ref.get(field):
                return '-'
            return f'{r[field] / ref[field]:.2f}x'
        print(f'{stack:12s} {r["conns_per_s"]:9.0f} '
              f'{r["client_cpu_ms"]:10.2f} {r["server_cpu_ms"]:10.2f} '
              f'{ratio("client_cpu_ms"):>15s} {ratio("server_cpu_ms"):>15s}',
              file=out)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--role', choices=('server', 'client', 'driver'),
                   default='driver')
    p.add_argument('--stack', choices=STACKS)
    p.add_argument('--stacks', default=','.join(STACKS))
    p.add_argument('--cert')
    p.add_argument('--key')
    p.add_argument('--ca')
    p.add_argument('--port', type=int)
    p.add_argument('--count', type=int, default=200)
    p.add_argument('--concurrency', type=int, default=4)
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--json', action='store_true')
    a = p.parse_args()
    if a.role == 'server':
        return serve(a)
    if a.role == 'client':
        return connect_many(a)
    results = run_all(a.count, a.concurrency, a.warmup,
                      stacks=a.stacks.split(','))
    if a.json:
        print(json.dumps(results, indent=1))
    else:
        print_table(results)
    return 1 if any('error' in r for r in results.values()) else 0


if __name__ == '__main__':
    sys.exit(main())
