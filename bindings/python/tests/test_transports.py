"""Pipes, adopted sockets, socket options, local_addr, Happy Eyeballs, name
resolution errors and a multi-loop engine, through the Python binding.

The Happy Eyeballs test runs a script in a child process with the resolver
seam tests/resolver/fake_hosts.c preloaded (no privilege needed, as in the C
suite): its getaddrinfo() names "he.test" as ::1 then 127.0.0.1 and passes
other names on. ::1 swallows connection attempts (its listener's accept queue
is full), so only overlapping attempts get through. The same script runs
against asyncio's own open_connection, which must behave the same.
"""

import asyncio
import errno
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import textwrap

import pytest

import uvstreams
from uvstreams import sync

MIB = 1024 * 1024


def _payload(n, seed=1):
    return hashlib.shake_256(str(seed).encode()).digest(n)


# ---- pipes ------------------------------------------------------------------


def test_subprocess_pipes_both_ways(loop, run):
    data = _payload(MIB)

    async def main():
        proc = subprocess.Popen(['cat'], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        pipes = await uvstreams.connect_subprocess(proc)
        assert pipes.stderr is None
        assert proc.stdin.closed and proc.stdout.closed  # owned by streams

        async def feed():
            pipes.stdin.write(data)
            await pipes.stdin.drain()
            await pipes.stdin.close()  # cat sees EOF

        feeder = asyncio.ensure_future(feed())
        echoed = await pipes.stdout.readexactly(MIB)
        await feeder
        assert await pipes.stdout.read() == b''
        await pipes.stdout.close()
        assert await loop.run_in_executor(None, proc.wait) == 0
        return echoed

    assert hashlib.sha256(run(main(), 30)).digest() == \
        hashlib.sha256(data).digest()


def test_pipe_streams_are_one_way(loop, run):
    async def main():
        r, w = os.pipe()
        reader = await uvstreams.connect_read_pipe(os.fdopen(r, 'rb'))
        writer = await uvstreams.connect_write_pipe(os.fdopen(w, 'wb'))
        with pytest.raises(RuntimeError):
            reader.write(b'x')
        with pytest.raises(RuntimeError):
            await writer.readline()
        writer.write(b'line\n')
        assert await reader.readline() == b'line\n'
        await writer.close()
        assert await reader.read() == b''
        await reader.close()

    run(main())


def test_sync_pipes_through_child():
    data = _payload(MIB, 2)
    proc = subprocess.Popen(['cat'], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    w = sync.connect_write_pipe(proc.stdin)
    r = sync.connect_read_pipe(proc.stdout)
    with pytest.raises(OSError) as refused:
        r.write(b'x')
    assert refused.value.errno == errno.EOPNOTSUPP
    w.write(data)
    assert r.readexactly(MIB, timeout=20) == data
    w.drain(timeout=10)
    w.close()
    assert r.read(timeout=10) == b''
    r.close()
    assert proc.wait(timeout=10) == 0


def test_write_pipe_whose_reader_left(loop, run):
    async def main():
        r, w = os.pipe()
        writer = await uvstreams.connect_write_pipe(os.fdopen(w, 'wb'))
        os.close(r)
        writer.write(b'lost')
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            await writer.drain()

    run(main())


# ---- adopted sockets ------------------------------------------------------------


async def _echo(reader, writer):
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


def test_adopted_listening_tcp_socket(loop, run):
    async def main():
        lsock = socket.socket()
        lsock.bind(('127.0.0.1', 0))
        address = lsock.getsockname()
        server = await uvstreams.start_server(_echo, sock=lsock)
        assert lsock.getsockname() == address  # still usable, as asyncio's
        assert server.sockets[0].getsockname() == address
        reader, writer = await uvstreams.open_connection(*address)
        writer.write(b'hello\n')
        assert await reader.readline() == b'hello\n'
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main())


def test_adopted_listening_unix_socket(loop, run, tmp_path):
    path = str(tmp_path / 's.sock')

    async def main():
        lsock = socket.socket(socket.AF_UNIX)
        lsock.bind(path)
        server = await uvstreams.start_unix_server(_echo, sock=lsock)
        reader, writer = await uvstreams.open_unix_connection(path)
        writer.write(b'unix\n')
        assert await reader.readline() == b'unix\n'
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main())
    assert not os.path.exists(path)  # removed on close, as asyncio does


def test_adopted_connected_and_socketpair(loop, run):
    async def main():
        a, b = socket.socketpair()
        reader, writer = await uvstreams.open_connection(sock=a)
        b.sendall(b'pair\n')
        assert await reader.readline() == b'pair\n'
        writer.write(b'back')
        await writer.drain()
        assert b.recv(4) == b'back'
        writer.close()
        await writer.wait_closed()
        b.close()

    run(main())


def test_adopting_a_datagram_socket_is_refused(loop, run):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError):
                await uvstreams.start_server(_echo, sock=udp)

    run(main())


# ---- options --------------------------------------------------------------------


def test_socket_options_and_local_addr(loop, run):
    async def main():
        accepted = asyncio.get_running_loop().create_future()

        async def keep(reader, writer):
            accepted.set_result(writer)
            await reader.read()
            writer.close()

        server = await uvstreams.start_server(keep, '127.0.0.1', 0,
                                              keep_alive=True)
        port = server.sockets[0].getsockname()[1]
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            local_port = probe.getsockname()[1]
        reader, writer = await uvstreams.open_connection(
            '127.0.0.1', port, local_addr=('localhost', local_port),
            happy_eyeballs_delay=0.25, interleave=1)
        assert writer.get_extra_info('sockname') == ('127.0.0.1', local_port)
        client = writer.get_extra_info('socket')
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        server_side = (await accepted).get_extra_info('socket')
        assert server_side.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert server_side.getpeername() == ('127.0.0.1', local_port)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main())


def test_unresolvable_name_is_gaierror(loop, run):
    async def main():
        with pytest.raises(socket.gaierror):
            await uvstreams.open_connection('no-such-host.invalid', 80)

    run(main())


def test_connect_attempt_cancelled_by_timeout(loop, run):
    """A connection attempt into a full accept queue hangs; wait_for
    cancels it (the engine closes the attempt) and nothing leaks."""
    async def main():
        hole = socket.socket()
        hole.bind(('127.0.0.1', 0))
        hole.listen(0)
        fillers = []
        for _ in range(2):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(hole.getsockname())
            fillers.append(s)
        await asyncio.sleep(0.1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                uvstreams.open_connection(*hole.getsockname()), 0.5)
        for s in fillers + [hole]:
            s.close()

    run(main())


# ---- Happy Eyeballs -------------------------------------------------------------

_HE_SCRIPT = textwrap.dedent('''
    import asyncio, socket, sys, time
    impl = sys.argv[1]
    if impl == 'uvstreams':
        import uvstreams as streams
    else:
        streams = asyncio

    async def main():
        hole = socket.socket(socket.AF_INET6)
        hole.bind(('::1', 0))
        hole.listen(0)
        port = hole.getsockname()[1]
        fillers = []
        for _ in range(2):
            s = socket.socket(socket.AF_INET6)
            s.setblocking(False)
            s.connect_ex(('::1', port))
            fillers.append(s)
        await asyncio.sleep(0.1)

        async def cb(reader, writer):
            writer.close()

        server = await streams.start_server(cb, '127.0.0.1', port)
        try:
            await asyncio.wait_for(streams.open_connection('he.test', port),
                                   1.0)
            print('FAIL: connected one address at a time')
            return 1
        except asyncio.TimeoutError:
            pass
        t0 = time.monotonic()
        reader, writer = await asyncio.wait_for(
            streams.open_connection('he.test', port,
                                    happy_eyeballs_delay=0.1), 20)
        took = time.monotonic() - t0
        peer = writer.get_extra_info('peername')
        writer.close()
        server.close()
        print(f'peer {peer[0]} after {took:.3f}s')
        return 0 if peer[0] == '127.0.0.1' else 1

    sys.exit(asyncio.run(main()))
''')


def _fake_hosts_so():
    """The resolver seam's shared object: make test-python passes its path;
    run by hand, the build tree's is used. Missing, it is a failure that
    says how to build it (never a skip)."""
    default = os.path.join(os.path.dirname(__file__), '..', '..', '..',
                           'build', 'tests', 'fake_hosts.so')
    path = os.path.abspath(os.environ.get('UVST_FAKE_HOSTS_SO', default))
    assert os.path.exists(path), (
        f'{path} is missing: `make build/tests/fake_hosts.so` builds it '
        f'(`make test-python` does)')
    return path


@pytest.mark.parametrize('impl', ['uvstreams', 'asyncio'])
def test_happy_eyeballs_through_the_fake_resolver(impl, tmp_path):
    script = tmp_path / 'he.py'
    script.write_text(_HE_SCRIPT)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
    env['LD_PRELOAD'] = _fake_hosts_so()
    env['UVST_FAKE_HOSTS'] = 'he.test ::1 127.0.0.1'
    proc = subprocess.run([sys.executable, str(script), impl],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, (
        f'Happy Eyeballs check failed:\n{proc.stdout}{proc.stderr}')
    assert 'peer 127.0.0.1' in proc.stdout


# ---- several loops --------------------------------------------------------------

_LOOPS_SCRIPT = textwrap.dedent('''
    import hashlib, socket, sys, threading
    from uvstreams import sync
    sync.configure(io_threads=2)
    loops = []

    def handler(stream):
        loops.append(sync._c.uvs_stream_get_int(stream._s, 'loop')[1])
        while True:
            data = stream.read(65536)
            if not data:
                break
            stream.write(data)
            stream.drain()

    server = sync.start_server(handler, '127.0.0.1', 0)
    port = server.sockets[0][1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    failures = []

    def client(i):
        data = hashlib.shake_256(bytes([i])).digest(256 * 1024)
        # plain sockets: the engine's loop counter serves the server alone
        with socket.create_connection(('127.0.0.1', port), 10) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got = b''.join(iter(lambda: s.recv(65536), b''))
        if got != data:
            failures.append(i)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.close()
    print('loops', sorted(loops), 'failures', failures)
    sys.exit(0 if not failures and sorted(loops) == [0] * 5 + [1] * 5 else 1)
''')


def test_sync_server_spreads_over_two_loops(tmp_path):
    script = tmp_path / 'loops.py'
    script.write_text(_LOOPS_SCRIPT)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_configure_after_use_is_refused():
    sync._get_engine()
    with pytest.raises(RuntimeError):
        sync.configure(io_threads=2)
    with pytest.raises(ValueError):
        sync.configure(io_threads=0)
