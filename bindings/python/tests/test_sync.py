"""uvstreams.sync, the blocking API: connect/read/write/close against a
threaded sync server, timeouts (TimeoutError, data kept), line iteration,
the limit rules shared with the asyncio API, and that waiting releases the
GIL: another Python thread progresses while one is blocked, and N threads
blocked on slow peers finish in about the time of one."""

import asyncio
import os
import signal
import socket
import threading
import time

import pytest

from uvstreams import sync


def echo(stream):
    for line in stream:
        stream.write(line)
        stream.drain()


@pytest.fixture
def echo_server():
    server = sync.start_server(echo, '127.0.0.1', 0)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield server.sockets[0][1]
    server.close()
    server.close_clients()
    thread.join(5)
    server.wait_closed(timeout=5)


def test_request_response(echo_server):
    with sync.connect('127.0.0.1', echo_server, timeout=5) as stream:
        assert stream.get_extra_info('peername') == ('127.0.0.1', echo_server)
        for i in range(100):
            stream.write(b'line %d\n' % i)
            stream.drain(timeout=5)
            assert stream.readline(timeout=5) == b'line %d\n' % i
        stream.writelines([b'a', bytearray(b'b'), memoryview(b'c\n')])
        assert stream.readuntil(b'\n', timeout=5) == b'abc\n'
        stream.write(b'12345\n')
        assert stream.readexactly(3, timeout=5) == b'123'
        assert stream.read(100, timeout=5) == b'45\n'
        stream.write_eof()
        assert stream.read(timeout=5) == b''
        assert stream.at_eof()


def test_timeout_keeps_the_data(echo_server):
    with sync.connect('127.0.0.1', echo_server, timeout=5) as stream:
        stream.write(b'part')
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            stream.readline(timeout=0.3)
        assert time.monotonic() - t0 > 0.25  # not before its time
        stream.write(b'ial\n')
        assert stream.readline(timeout=5) == b'partial\n'


def test_limit_and_incomplete(echo_server):
    with sync.connect('127.0.0.1', echo_server, timeout=5, limit=8) as s:
        s.write(b'0123456789abcdef\n')
        time.sleep(0.1)
        with pytest.raises(asyncio.LimitOverrunError) as info:
            s.readuntil(b'\n', timeout=5)
        assert str(info.value).startswith('Separator is found')
        assert s.read(info.value.consumed + 1, timeout=5) == \
            b'0123456789abcdef\n'
        s.write(b'tail')
        s.write_eof()
        with pytest.raises(asyncio.IncompleteReadError) as info:
            s.readexactly(10, timeout=5)
        assert info.value.partial == b'tail'


def _wait_child(pid, seconds):
    """The child's exit status, or None (after killing it) if it hangs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_usable_in_a_forked_child(echo_server):
    """A child of fork() makes an engine of its own on first use (the
    parent's has no threads in the child); its first call used to wait
    forever, whatever its timeout. The parent's streams keep working."""
    with sync.connect('127.0.0.1', echo_server, timeout=5) as stream:
        stream.write(b'parent\n')
        assert stream.readline(timeout=5) == b'parent\n'
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with sync.connect('127.0.0.1', echo_server, timeout=5) as mine:
                    mine.write(b'child\n')
                    code = 0 if mine.readline(timeout=5) == b'child\n' else 2
            finally:
                os._exit(code)
        assert _wait_child(pid, 30) == 0
        stream.write(b'again\n')
        assert stream.readline(timeout=5) == b'again\n'


def test_connect_refused_and_timeout():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        sync.connect('127.0.0.1', port, timeout=5)


def test_unix(tmp_path):
    path = tmp_path / 'sync.sock'
    with sync.start_unix_server(echo, path) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        with sync.connect_unix(path, timeout=5) as stream:
            stream.write(b'unix\n')
            assert stream.readline(timeout=5) == b'unix\n'
        server.close()
        thread.join(5)


def test_gil_released_while_blocked():
    listener = socket.create_server(('127.0.0.1', 0))
    port = listener.getsockname()[1]
    stream = sync.connect('127.0.0.1', port, timeout=5)
    conn, _ = listener.accept()
    result = []
    reader = threading.Thread(
        target=lambda: result.append(stream.readline(timeout=10)))
    reader.start()
    count = 0
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # pure Python work on this thread
        count += 1
    assert reader.is_alive()
    conn.sendall(b'done\n')
    reader.join(5)
    assert result == [b'done\n']
    assert count > 100000
    stream.close()
    conn.close()
    listener.close()


def test_threads_wait_concurrently():
    """Every handler waits at a barrier that only opens when all n are
    there at once: served one at a time, they would break it (no timing)."""
    n = 8
    barrier = threading.Barrier(n, timeout=20)

    def slow(stream):
        barrier.wait()
        stream.write(b'late\n')
        stream.drain()

    with sync.start_server(slow, '127.0.0.1', 0, max_workers=n) as server:
        port = server.sockets[0][1]
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        results = []

        def client():
            with sync.connect('127.0.0.1', port, timeout=5) as stream:
                results.append(stream.readline(timeout=5))
        threads = [threading.Thread(target=client) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        server.close()
        serving.join(5)
    assert results == [b'late\n'] * n
    assert not barrier.broken


def test_idle_clients_do_not_starve_the_next_one(echo_server):
    """A thread per connection by default (socketserver.ThreadingMixIn):
    with more idle clients connected than cpus + 4 (a default pool's
    size), one more client is still answered."""
    idle = [sync.connect('127.0.0.1', echo_server, timeout=5)
            for _ in range(max(8, (os.cpu_count() or 1) + 5))]
    try:
        with sync.connect('127.0.0.1', echo_server, timeout=5) as stream:
            stream.write(b'still served\n')
            assert stream.readline(timeout=20) == b'still served\n'
    finally:
        for s in idle:
            s.close()


def test_max_workers_caps_and_queues():
    """max_workers=1: the second client waits for the first to leave,
    then is served (queued, not refused)."""
    with sync.start_server(echo, '127.0.0.1', 0, max_workers=1) as server:
        port = server.sockets[0][1]
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        first = sync.connect('127.0.0.1', port, timeout=5)
        first.write(b'one\n')
        assert first.readline(timeout=20) == b'one\n'
        with sync.connect('127.0.0.1', port, timeout=5) as second:
            second.write(b'two\n')
            with pytest.raises(TimeoutError):
                second.readline(timeout=0.5)  # queued behind the first
            first.close()
            assert second.readline(timeout=20) == b'two\n'
        server.close()
        serving.join(5)


def test_write_after_close_raises(echo_server):
    stream = sync.connect('127.0.0.1', echo_server, timeout=5)
    stream.close()
    with pytest.raises(BrokenPipeError):
        stream.write(b'x')
    stream.wait_closed(timeout=5)



def test_timeout_arguments(echo_server):
    with sync.connect('127.0.0.1', echo_server, timeout=5) as stream:
        # a timeout already over: TimeoutError at once, named after the call
        with pytest.raises(TimeoutError, match='readline timed out after -1'):
            stream.readline(timeout=-1)
        with pytest.raises(ValueError):
            stream.read(10, timeout=float('nan'))
        with pytest.raises(TypeError):
            stream.read(10, timeout='1')
        stream.write(b'kept\n')
        stream.drain(timeout=0)
        assert stream.readline(timeout=5) == b'kept\n'


def test_signal_handler_reads_while_a_read_waits(echo_server):
    """A handler that runs between two slices of a wait and makes a
    blocking call of its own on the same thread: each call keeps its op."""
    import signal
    with sync.connect('127.0.0.1', echo_server, timeout=5) as outer, \
            sync.connect('127.0.0.1', echo_server, timeout=5) as inner:
        seen = []

        def handler(signum, frame):
            inner.write(b'inner\n')
            seen.append(inner.readline(timeout=5))
            outer.write(b'outer\n')

        previous = signal.signal(signal.SIGUSR1, handler)
        timer = threading.Timer(0.3, signal.pthread_kill,
                                (threading.main_thread().ident,
                                 signal.SIGUSR1))
        timer.start()
        try:
            assert outer.readline(timeout=30) == b'outer\n'
        finally:
            timer.join()
            signal.signal(signal.SIGUSR1, previous)
        assert seen == [b'inner\n']

def test_ctrl_c_interrupts_a_blocked_read_without_losing_data():
    import _thread
    import signal
    # Ctrl-C as Python handles it by default, whatever was inherited (a
    # shell starts its background jobs with SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    listener = socket.create_server(('127.0.0.1', 0))
    stream = sync.connect('127.0.0.1', listener.getsockname()[1], timeout=5)
    conn, _ = listener.accept()
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        # KeyboardInterrupt, not the TimeoutError the 30 s would give
        with pytest.raises(KeyboardInterrupt):
            stream.readexactly(10, timeout=30)
        conn.sendall(b'0123456789')
        assert stream.readexactly(10, timeout=5) == b'0123456789'
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
        stream.close()
        conn.close()
        listener.close()


def _reads_directly(stream):
    rc, value = sync._c.uvs_stream_get_int(stream._s, 'direct_reads')
    assert rc == 0
    return value


def test_streams_are_read_by_the_waiting_thread(echo_server, tmp_path):
    """Every sync stream uses the engine's direct reads (no I/O-thread hop
    per read): client, accepted and pipe streams."""
    accepted = []

    def handler(stream):
        accepted.append(_reads_directly(stream))
        stream.write(stream.readline())
        stream.drain()

    with sync.start_server(handler, '127.0.0.1', 0) as server:
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        with sync.connect('127.0.0.1', server.sockets[0][1],
                          timeout=5) as stream:
            assert _reads_directly(stream) == 1
            stream.write(b'ping\n')
            assert stream.readline(timeout=5) == b'ping\n'
        server.close()
        serving.join(5)
    assert accepted == [1]
    r, w = socket.socketpair()
    pipe = sync.connect_read_pipe(r)
    assert _reads_directly(pipe) == 1
    w.sendall(b'piped\n')
    assert pipe.readline(timeout=5) == b'piped\n'
    pipe.close()
    w.close()


def test_close_from_another_thread_ends_a_blocked_read():
    listener = socket.create_server(('127.0.0.1', 0))
    stream = sync.connect('127.0.0.1', listener.getsockname()[1], timeout=5)
    conn, _ = listener.accept()
    result = []
    reader = threading.Thread(target=lambda: result.append(stream.read(10)))
    reader.start()
    time.sleep(0.1)
    stream.close()
    reader.join(10)
    assert not reader.is_alive()
    assert result == [b'']  # our own close ends reading with EOF
    stream.wait_closed(timeout=5)
    conn.close()
    listener.close()


def test_read_n_loses_and_repeats_nothing():
    """read(n) fills the bytes object it returns in place (the waiting
    thread reads the socket into it): sizes that never line up with the
    sender's, reads above the in-place cap, and zero timeouts that give up
    in the middle (consuming nothing) still see every byte once, in order."""
    total = 4 << 20
    pattern = bytes(range(251)) * (total // 251 + 1)
    r, w = socket.socketpair()
    sender = threading.Thread(target=lambda: (w.sendall(pattern[:total]),
                                              w.close()))
    sender.start()
    stream = sync.connect_read_pipe(r)
    got = []
    size = 1
    while True:
        try:
            chunk = stream.read(size, timeout=0 if size % 3 == 0 else 5)
        except TimeoutError:
            chunk = None
        if chunk == b'':
            break
        if chunk is not None:
            assert 0 < len(chunk) <= size
            got.append(chunk)
        size = size * 7 % ((1 << 20) + 4096) + 1
    sender.join(5)
    stream.close()
    assert b''.join(got) == pattern[:total]
