"""uvstreams.sync: blocking streams for threads and scripts.

Design: one threaded engine (io_threads=1) per process does the I/O; a
blocking call starts the library's asynchronous operation on an op with no
completion queue and waits for it with uvs_op_wait in 200 ms slices, all
in one C call (the extension's uvs_py_sync_*: a read, a write and a drain
are one call each, on the thread's idle op, so that a thread holds the GIL
as briefly as one on a plain socket). The GIL is released inside each
slice, so other Python threads run while one waits, and Ctrl-C is noticed
between slices: the operation is then cancelled and a read that completed
meanwhile gives its bytes back (uvs_op_unread), so nothing is lost.
A timeout cancels the operation the same way and raises TimeoutError; reads
consume nothing on a timeout, so the data stays in the stream's buffer.
The semantics of every call (limits, separators, errors) are the engine's,
shared with the asyncio API. TLS takes the asyncio API's arguments (ssl=True,
an ssl.SSLContext or a uvstreams.TLSConfig; see uvstreams.tls).
"""

import atexit
import concurrent.futures
import errno
import os
import socket
import threading

from . import _core, tls as _tls
from ._core import (_c, check, unpack, error, DEFAULT_LIMIT, READ,
                    READEXACTLY, READUNTIL, READLINE)

__all__ = ('Stream', 'Server', 'connect', 'connect_unix', 'start_server',
           'start_unix_server', 'connect_read_pipe', 'connect_write_pipe',
           'configure')

# The blocking calls: each one C call that waits without the GIL (in 200 ms
# slices, running signal handlers between them) on its thread's idle op.
_sync_read = _c.uvs_py_sync_read
_sync_write = _c.uvs_py_sync_write
_sync_drain = _c.uvs_py_sync_drain
_sync_run = _c.uvs_py_sync_run
_engine = None
_engine_lock = threading.Lock()
_io_threads = 1


def configure(*, io_threads=1):
    """Sets the number of I/O threads (libuv loops) of the engine this
    module uses, before its first use: connections, accepted or made, are
    spread over them. RuntimeError once the engine runs."""
    global _io_threads
    if int(io_threads) < 1:
        raise ValueError('io_threads must be >= 1')
    with _engine_lock:
        if _engine is not None:
            raise RuntimeError('uvstreams.sync is already in use')
        _io_threads = int(io_threads)


def _get_engine():
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _core.new_engine(_io_threads)
            atexit.register(_shutdown)
        return _engine


def _shutdown():
    global _engine
    with _engine_lock:
        engine, _engine = _engine, None
    if engine is not None:
        _c.uvs_engine_free(engine)


def _forget_after_fork():
    """In a child of fork(): the parent's engine has no threads here, so it
    is left alone (freeing it would wait for them) and the first use makes
    a new one, as in a new process. The lock is new too: another of the
    parent's threads may have held it."""
    global _engine, _engine_lock
    _engine = None
    _engine_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


# Every stream of this module is read by the thread that waits for it (the
# engine's "direct_reads"): a blocking read costs no hop through the I/O
# thread, as a plain socket's recv.
_DIRECT = {'direct_reads': 1}


def _run(op, started, timeout, what):
    """Finishes an operation just started (started: the *_start status):
    its result, waiting if needed (in C: see uvs_py_sync_run)."""
    if started == _c.UVS_PENDING:
        return _sync_run(op, timeout, what)
    return _c.uvs_py_result(op)


class _Op:
    """A private operation for one blocking call that is not a read or a
    drain (with ... as op); freed after it."""

    __slots__ = ('op',)

    def __enter__(self):
        self.op = unpack(_c.uvs_op_new(None, 0))
        return self.op

    def __exit__(self, *exc):
        _c.uvs_op_free(self.op)


class Stream:
    """A connection with blocking asyncio-style reads and writes; every call
    that can wait takes timeout (seconds, None: forever)."""

    def __init__(self, s, limit=DEFAULT_LIMIT, server_side=False,
                 sslcontext=None):
        self._s = s
        self._e = _get_engine()
        self._limit = limit
        self._sock = None
        self._server_side = server_side
        self._sslcontext = sslcontext
        self._tls_cache = {}

    def __repr__(self):
        state = 'closing' if self.is_closing() else 'open'
        return f'<uvstreams.sync.Stream {state} {self._peer()!r}>'

    def _peer(self):
        return self.get_extra_info('peername')

    def __del__(self, _free=_c.uvs_stream_free):
        s = getattr(self, '_s', None)
        if s is not None:
            if self._sock is not None:
                self._sock.close()
            _free(s)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        try:
            self.wait_closed(timeout=5)
        except (OSError, TimeoutError):
            pass

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    # -- reading

    def read(self, n=-1, timeout=None):
        return _sync_read(self._s, READ, n, None, timeout, 'read')

    def readline(self, timeout=None):
        return _sync_read(self._s, READLINE, 0, None, timeout, 'readline')

    def readexactly(self, n, timeout=None):
        return _sync_read(self._s, READEXACTLY, n, None, timeout,
                          'readexactly')

    def readuntil(self, separator=b'\n', timeout=None):
        return _sync_read(self._s, READUNTIL, 0, separator, timeout,
                          'readuntil')

    def at_eof(self):
        return _c.uvs_stream_at_eof(self._s) == 1

    def exception(self):
        code = _c.uvs_stream_error(self._s)
        return error(code) if code < 0 else None

    # -- writing

    def _wrote(self, rc):
        if rc == _c.UVS_ECLOSED:
            raise BrokenPipeError(errno.EPIPE, 'the stream is closed')
        check(rc)

    def write(self, data):
        rc = _sync_write(self._s, data)
        if rc:
            self._wrote(rc)

    def writelines(self, data):
        self._wrote(_c.uvs_stream_writev(self._s, list(data)))

    def drain(self, timeout=None):
        _sync_drain(self._s, timeout)

    def write_eof(self):
        if self._sslcontext is not None:
            raise NotImplementedError("SSL doesn't support half-closes")
        check(_c.uvs_stream_write_eof(self._s))

    def can_write_eof(self):
        return _c.uvs_stream_can_write_eof(self._s) == 1

    def get_write_buffer_size(self):
        return check(_c.uvs_stream_write_buffer_size(self._s))

    def start_tls(self, sslcontext, *, server_hostname=None,
                  ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
                  timeout=None):
        """Upgrades the stream to TLS (the side is the stream's: accepted
        by a server or not); returns once the handshake is done."""
        if self._sslcontext is not None:
            raise RuntimeError('the stream already uses TLS')
        config = _tls.resolve(sslcontext, self._server_side)
        if (not self._server_side and server_hostname is None
                and config.check_hostname):
            raise ValueError('check_hostname requires server_hostname')
        opts = _tls.options(None, config, server_hostname,
                            ssl_handshake_timeout, ssl_shutdown_timeout)
        try:
            with _Op() as op:
                rc = check(_c.uvs_stream_start_tls_start(self._s, opts, op))
                _run(op, rc, timeout, 'start_tls')
        finally:
            _core.free_options(opts)
        self._sslcontext = sslcontext
        self._tls_cache.clear()

    # -- closing

    def close(self):
        _c.uvs_stream_close(self._s)

    def abort(self):
        _c.uvs_stream_abort(self._s)

    def is_closing(self):
        return _c.uvs_stream_is_closing(self._s) != 0

    def wait_closed(self, timeout=None):
        with _Op() as op:
            rc = check(_c.uvs_stream_wait_closed_start(self._s, op))
            _run(op, rc, timeout, 'wait_closed')

    # -- information

    def get_extra_info(self, name, default=None):
        if name in ('peername', 'sockname'):
            return _core.address(self._s, name[:4]) or default
        if name == 'socket':
            if self._sock is None:
                rc, fd = _c.uvs_stream_get_int(self._s, 'fd')
                if rc < 0 or fd < 0:
                    return default
                self._sock = socket.socket(fileno=os.dup(fd))
            return self._sock
        if name in _tls.TLS_EXTRA and self._sslcontext is not None:
            value = _tls.extra_info(self._s, name, self._sslcontext,
                                    self._tls_cache)
            return default if value is None else value
        return default


def _connect(start, timeout, what, limit, sslcontext):
    with _Op() as op:
        rc = check(start(op), _core.CONNECT)
        s = _run(op, rc, timeout, what)
    return Stream(s, limit, sslcontext=sslcontext)


def connect(host, port, *, timeout=None, limit=DEFAULT_LIMIT, family=0,
            sock=None, ssl=None, server_hostname=None,
            ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
    """Connects by TCP (with TLS when ssl is given); a Stream."""
    _tls.check_arguments(ssl, server_hostname, ssl_handshake_timeout,
                         ssl_shutdown_timeout)
    tls = _tls.resolve(ssl, False) if ssl else None
    if sock is not None:
        if tls is not None and server_hostname is None:
            raise ValueError('You must set server_hostname when using ssl '
                             'without a host')
        opts = _core.make_options(limit=limit, **_DIRECT)
        try:
            s = unpack(_c.uvs_stream_open_fd(_get_engine(), sock.detach(),
                                             opts))
        finally:
            _core.free_options(opts)
        stream = Stream(s, limit)
        if tls is not None:
            try:
                stream.start_tls(tls, server_hostname=server_hostname,
                                 ssl_handshake_timeout=ssl_handshake_timeout,
                                 ssl_shutdown_timeout=ssl_shutdown_timeout,
                                 timeout=timeout)
            except BaseException:
                stream.abort()
                raise
            stream._sslcontext = ssl
        return stream
    engine = _get_engine()
    opts = _tls.options(limit, tls, server_hostname, ssl_handshake_timeout,
                        ssl_shutdown_timeout,
                        family=_core.family_option(family), **_DIRECT)
    try:
        return _connect(
            lambda op: _c.uvs_connect_tcp_start(engine, host, int(port), opts,
                                                op),
            timeout, f'connect to {host}:{port}', limit,
            ssl if tls else None)
    finally:
        _core.free_options(opts)


def connect_read_pipe(pipe, *, limit=DEFAULT_LIMIT):
    """A read-only Stream owning a pipe (a file object or descriptor):
    writes raise UvstreamsError (ENOTSUP)."""
    return Stream(_core.adopt_pipe(_get_engine(), pipe, limit, False,
                                    **_DIRECT), limit)


def connect_write_pipe(pipe, *, limit=DEFAULT_LIMIT):
    """A write-only Stream owning a pipe (a file object or descriptor)."""
    return Stream(_core.adopt_pipe(_get_engine(), pipe, limit, True,
                                    **_DIRECT), limit)


def connect_unix(path, *, timeout=None, limit=DEFAULT_LIMIT, ssl=None,
                 server_hostname=None, ssl_handshake_timeout=None,
                 ssl_shutdown_timeout=None):
    """Connects to a Unix socket (with TLS when ssl is given: then
    server_hostname is required, as in asyncio); a Stream."""
    _tls.check_arguments(ssl, server_hostname, ssl_handshake_timeout,
                         ssl_shutdown_timeout)
    tls = _tls.resolve(ssl, False) if ssl else None
    if tls is not None and server_hostname is None:
        raise ValueError('you have to pass server_hostname when using ssl')
    engine = _get_engine()
    path = os.fspath(path)
    opts = _tls.options(limit, tls, server_hostname, ssl_handshake_timeout,
                        ssl_shutdown_timeout, **_DIRECT)
    try:
        return _connect(
            lambda op: _c.uvs_connect_unix_start(engine, path, opts, op),
            timeout, f'connect to {path}', limit, ssl if tls else None)
    finally:
        _core.free_options(opts)


class _ThreadPerConnection:
    """Runs each submitted call on a new thread, as
    socketserver.ThreadingMixIn does: no cap, so idle connections never
    keep a new one waiting. shutdown(wait=True) joins the live ones."""

    def __init__(self):
        self._lock = threading.Lock()
        self._threads = set()

    def submit(self, fn, *args):
        thread = threading.Thread(target=self._run, args=(fn, *args),
                                  name='uvstreams-handler')
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run(self, fn, *args):
        try:
            fn(*args)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def shutdown(self, wait=True):
        if not wait:
            return
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join()


def _handler_threads(max_workers):
    """A thread per connection (max_workers None), or a pool of max_workers
    threads whose queue holds the connections accepted beyond it."""
    if max_workers is None:
        return _ThreadPerConnection()
    if max_workers <= 0:
        raise ValueError('max_workers must be None or greater than 0')
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=max_workers, thread_name_prefix='uvstreams-handler')


class Server:
    """Accepts connections and runs handler(stream) for each on a thread of
    its own (or, with max_workers=N, on a pool of N threads where further
    connections queue); serve_forever() accepts until close()."""

    def __init__(self, h, handler, limit, max_workers, unix,
                 sslcontext=None):
        self._sslcontext = sslcontext
        self._h = h
        self._handler = handler
        self._limit = limit
        self._unix = unix
        self._closed = False
        self._pool = _handler_threads(max_workers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self._pool.shutdown(wait=True)

    def __del__(self, _free=_c.uvs_server_free):
        h = getattr(self, '_h', None)
        if h is not None:
            _free(h)

    @property
    def sockets(self):
        """The listening addresses ((host, port) pairs, or paths)."""
        if self._closed:
            return ()
        out = []
        for i in range(max(0, _c.uvs_server_num_addresses(self._h))):
            rc, host, port = _c.uvs_server_address(self._h, i)
            if rc == 0:
                out.append(host if self._unix else (host, port))
        return tuple(out)

    def accept(self, timeout=None):
        """The next connection as a Stream (without calling the handler)."""
        with _Op() as op:
            rc = check(_c.uvs_server_accept_start(self._h, op), _core.ACCEPT)
            return Stream(_run(op, rc, timeout, 'accept'), self._limit,
                          server_side=True, sslcontext=self._sslcontext)

    def serve_forever(self):
        """Accepts connections until close(), handing each to a handler
        thread."""
        while not self._closed:
            try:
                stream = self.accept()
            except Exception:
                if self._closed:
                    return
                raise
            self._pool.submit(self._serve, stream)

    def _serve(self, stream):
        with stream:
            self._handler(stream)

    def close(self):
        """Stops listening (serve_forever returns); connections stay open."""
        self._closed = True
        _c.uvs_server_close(self._h)

    def close_clients(self):
        _c.uvs_server_close_clients(self._h)

    def abort_clients(self):
        _c.uvs_server_abort_clients(self._h)

    def wait_closed(self, timeout=None):
        with _Op() as op:
            rc = check(_c.uvs_server_wait_closed_start(self._h, op))
            _run(op, rc, timeout, 'wait_closed')


def _listen_options(limit, backlog, reuse_address, reuse_port, tls=None,
                    handshake_timeout=None, shutdown_timeout=None, **more):
    return _tls.options(
        limit, tls, None, handshake_timeout, shutdown_timeout,
        backlog=backlog,
        reuse_address=None if reuse_address is None else bool(reuse_address),
        reuse_port=None if reuse_port is None else bool(reuse_port),
        **_DIRECT, **more)


def start_server(handler, host=None, port=0, *, max_workers=None,
                 limit=DEFAULT_LIMIT, backlog=100, reuse_address=None,
                 reuse_port=None, family=0, ssl=None,
                 ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
    """Listens on host:port (with TLS when ssl is given); call
    serve_forever() to run handler(stream) for each connection on a thread
    of its own. max_workers=N caps the handler threads at N: connections
    accepted beyond them wait in a queue until a handler returns."""
    _tls.check_arguments(ssl, None, ssl_handshake_timeout,
                         ssl_shutdown_timeout)
    tls = _tls.resolve(ssl, True) if ssl else None
    opts = _listen_options(limit, backlog, reuse_address, reuse_port, tls,
                           ssl_handshake_timeout, ssl_shutdown_timeout,
                           family=_core.family_option(family))
    try:
        h = unpack(_c.uvs_server_listen_tcp(_get_engine(), host, int(port),
                                            opts))
    finally:
        _core.free_options(opts)
    return Server(h, handler, limit, max_workers, unix=False,
                  sslcontext=ssl if tls else None)


def start_unix_server(handler, path, *, max_workers=None,
                      limit=DEFAULT_LIMIT, backlog=100, ssl=None,
                      ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
    """A Server listening on a Unix socket path."""
    _tls.check_arguments(ssl, None, ssl_handshake_timeout,
                         ssl_shutdown_timeout)
    tls = _tls.resolve(ssl, True) if ssl else None
    opts = _listen_options(limit, backlog, None, None, tls,
                           ssl_handshake_timeout, ssl_shutdown_timeout)
    try:
        h = unpack(_c.uvs_server_listen_unix(_get_engine(), os.fspath(path),
                                             opts))
    finally:
        _core.free_options(opts)
    return Server(h, handler, limit, max_workers, unix=True,
                  sslcontext=ssl if tls else None)
