"""The Python 3.8 betas' unified streams API (bpo-36889, reverted before
3.8.0) on uvstreams: connect, connect_unix, connect_read_pipe,
connect_write_pipe, StreamServer, UnixStreamServer, Stream and StreamMode.

Design: a Stream is the reader and the writer of one connection in one
object (composition over the classic StreamReader/StreamWriter, so every
behaviour is theirs), restricted by its StreamMode: a write method on a READ
stream raises RuntimeError("The stream is read-only"), a read method on a
WRITE stream "The stream is write-only". As the issue asks, write() stays a
plain method paired with drain(), as in the classic API; close() returns an
awaitable that may be ignored. StreamServer wraps the classic Server: its
callback receives one Stream and is run as a task; close()/abort() also wait
for the handlers (up to shutdown_timeout, then cancel them).
"""

import asyncio
import collections
import enum
import functools
import warnings
import weakref

from asyncio import events

from . import _core, streams
from ._core import DEFAULT_LIMIT

__all__ = ('Stream', 'StreamMode', 'StreamServer', 'UnixStreamServer',
           'connect', 'connect_unix', 'connect_read_pipe',
           'connect_write_pipe', 'connect_subprocess', 'SubprocessStreams')


class StreamMode(enum.Flag):
    READ = enum.auto()
    WRITE = enum.auto()
    READWRITE = READ | WRITE


def _needs(flag, message):
    def decorate(method):
        @functools.wraps(method)
        def check(self, *args, **kwds):
            if not self._mode & flag:
                raise RuntimeError(message)
            return method(self, *args, **kwds)
        return check
    return decorate


_readable = _needs(StreamMode.READ, 'The stream is write-only')
_writable = _needs(StreamMode.WRITE, 'The stream is read-only')


class _Closing:
    """What Stream.close() returns: awaiting it waits for the close."""

    __slots__ = ('_stream',)

    def __init__(self, stream):
        self._stream = stream

    def __await__(self):
        return self._stream.wait_closed().__await__()


class Stream:
    """A duplex (or read-only, or write-only) stream of the 3.8 API; made by
    connect*() and StreamServer, never directly."""

    def __init__(self, mode, reader, writer, *, is_server_side=False,
                 _asyncio_internal=False):
        if not _asyncio_internal:
            raise RuntimeError(f'{self.__class__} should be instantiated '
                               f'by asyncio internals only')
        self._mode = mode
        self._reader = reader
        self._writer = writer
        self._server_side = is_server_side

    def __repr__(self):
        info = [self.__class__.__name__, f'mode={self._mode}']
        if self._writer is not None:
            info.append(f'transport={self._writer.transport!r}')
        return '<{}>'.format(' '.join(info))

    @property
    def mode(self):
        return self._mode

    @property
    def transport(self):
        return self._writer.transport

    def is_server_side(self):
        return self._server_side

    # -- writing

    @_writable
    def write(self, data):
        self._writer.write(data)

    @_writable
    def writelines(self, data):
        self._writer.writelines(data)

    @_writable
    def write_eof(self):
        return self._writer.write_eof()

    @_writable
    def can_write_eof(self):
        return self._writer.can_write_eof()

    @_writable
    async def drain(self):
        await self._writer.drain()

    @_writable
    async def sendfile(self, file, offset=0, count=None, *, fallback=True):
        """Copies a file (opened in binary mode) into the stream."""
        file.seek(offset)
        left = count
        while left is None or left > 0:
            data = file.read(65536 if left is None else min(left, 65536))
            if not data:
                break
            self._writer.write(data)
            await self._writer.drain()
            if left is not None:
                left -= len(data)
        return file.tell() - offset

    async def start_tls(self, sslcontext, *, server_hostname=None,
                        ssl_handshake_timeout=None,
                        ssl_shutdown_timeout=None):
        """Upgrades the stream to TLS (see StreamWriter.start_tls)."""
        await self._writer.start_tls(
            sslcontext, server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)

    # -- reading

    @_readable
    async def read(self, n=-1):
        return await self._reader.read(n)

    @_readable
    async def readline(self):
        return await self._reader.readline()

    @_readable
    async def readuntil(self, separator=b'\n'):
        return await self._reader.readuntil(separator)

    @_readable
    async def readexactly(self, n):
        return await self._reader.readexactly(n)

    @_readable
    def at_eof(self):
        return self._reader.at_eof()

    def exception(self):
        return self._reader.exception()

    def __aiter__(self):
        if not self._mode & StreamMode.READ:
            raise RuntimeError('The stream is write-only')
        return self

    async def __anext__(self):
        line = await self.readline()
        if line == b'':
            raise StopAsyncIteration
        return line

    # -- closing and information

    def close(self):
        self._writer.close()
        return _Closing(self)

    async def abort(self):
        self._writer.transport.abort()
        await self.wait_closed()

    def is_closing(self):
        return self._writer.is_closing()

    async def wait_closed(self):
        await self._writer.wait_closed()

    def get_extra_info(self, name, default=None):
        return self._writer.get_extra_info(name, default)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


def _stream(mode, reader, writer, server_side=False):
    return Stream(mode, reader, writer, is_server_side=server_side,
                  _asyncio_internal=True)


class _ContextManagerHelper:
    """What connect*() return: await it for the Stream, or use it with
    async with (the stream is closed on exit)."""

    __slots__ = ('_coro', '_stream')

    def __init__(self, coro):
        self._coro = coro
        self._stream = None

    def __await__(self):
        return self._coro.__await__()

    async def __aenter__(self):
        self._stream = await self._coro
        return self._stream

    async def __aexit__(self, *exc):
        await self._stream.close()


def connect(host=None, port=None, *, limit=DEFAULT_LIMIT, **kwds):
    """A READWRITE Stream connected by TCP (awaitable, async with)."""
    async def go():
        reader, writer = await streams.open_connection(host, port,
                                                       limit=limit, **kwds)
        return _stream(StreamMode.READWRITE, reader, writer)
    return _ContextManagerHelper(go())


def connect_unix(path=None, *, limit=DEFAULT_LIMIT, **kwds):
    """A READWRITE Stream connected to a Unix socket."""
    async def go():
        reader, writer = await streams.open_unix_connection(
            path, limit=limit, **kwds)
        return _stream(StreamMode.READWRITE, reader, writer)
    return _ContextManagerHelper(go())


def _pipe_stream(pipe, limit, mode):
    """A one-way Stream owning the pipe (see _core.adopt_pipe)."""
    hub = _core.hub_for(events.get_running_loop())
    s = _core.adopt_pipe(hub.engine, pipe, limit, mode is StreamMode.WRITE)
    reader, writer = streams._streams(hub, s, limit, {'pipe': pipe})
    return _stream(mode, reader, writer)


def connect_read_pipe(pipe, *, limit=DEFAULT_LIMIT):
    """A READ Stream on the read end of a pipe."""
    async def go():
        return _pipe_stream(pipe, limit, StreamMode.READ)
    return _ContextManagerHelper(go())


def connect_write_pipe(pipe, *, limit=DEFAULT_LIMIT):
    """A WRITE Stream on the write end of a pipe."""
    async def go():
        return _pipe_stream(pipe, limit, StreamMode.WRITE)
    return _ContextManagerHelper(go())


SubprocessStreams = collections.namedtuple('SubprocessStreams',
                                           'stdin stdout stderr')


async def connect_subprocess(proc, *, limit=DEFAULT_LIMIT):
    """Streams on a subprocess.Popen's pipes: stdin as a WRITE Stream,
    stdout and stderr as READ Streams (None where the child's stream is
    not a pipe). The Streams own the pipes; wait for the process itself
    with proc.wait() (in an executor) or os.waitpid."""
    def adopt(pipe, mode):
        return None if pipe is None else _pipe_stream(pipe, limit, mode)
    return SubprocessStreams(adopt(proc.stdin, StreamMode.WRITE),
                             adopt(proc.stdout, StreamMode.READ),
                             adopt(proc.stderr, StreamMode.READ))


class _BaseStreamServer:
    """StreamServer and UnixStreamServer: bind, serve, close with handlers."""

    def __init_subclass__(cls, **kwds):
        if not cls.__module__ == __name__:
            raise TypeError(f'{cls.__name__} is not intended to be '
                            f'subclassed')
        super().__init_subclass__(**kwds)

    def __init__(self, client_connected_cb, limit, shutdown_timeout):
        if not asyncio.iscoroutinefunction(client_connected_cb):
            raise TypeError('client_connected_cb must be a coroutine '
                            'function')
        self._loop = events.get_event_loop()
        self._cb = client_connected_cb
        self._limit = limit
        self._shutdown_timeout = shutdown_timeout
        self._server = None
        self._streams = weakref.WeakSet()
        self._tasks = {}  # the handler tasks and their transports
        self._task_done = functools.partial(streams._client_done, self._loop,
                                            self._tasks)

    def __repr__(self):
        info = [self.__class__.__name__]
        if self.is_serving():
            info.append('serving')
        if self.sockets:
            info.append(f'sockets={self.sockets!r}')
        return '<{}>'.format(' '.join(info))

    def __del__(self, warnings=warnings):
        if getattr(self, '_server', None) is not None:
            warnings.warn(f'unclosed stream server {self!r}', ResourceWarning)

    def _on_client(self, reader, writer):
        stream = _stream(StreamMode.READWRITE, reader, writer, True)
        self._streams.add(stream)
        task = self._loop.create_task(self._cb(stream))
        self._tasks[task] = writer.transport
        task.add_done_callback(self._task_done)

    def is_bound(self):
        return self._server is not None

    @property
    def sockets(self):
        return () if self._server is None else self._server.sockets

    def is_serving(self):
        return self._server is not None and self._server.is_serving()

    async def bind(self):
        if self._server is None:
            self._server = await self._listen()

    async def start_serving(self):
        await self.bind()
        await self._server.start_serving()

    async def serve_forever(self):
        await self.bind()
        await self._server.serve_forever()

    async def close(self):
        await self._shutdown(lambda stream: stream.close())

    async def abort(self):
        await self._shutdown(lambda stream: stream.abort())

    async def _shutdown(self, end):
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await asyncio.gather(*(end(s) for s in list(self._streams)),
                             return_exceptions=True)
        await server.wait_closed()
        if self._tasks:
            await asyncio.wait(list(self._tasks),
                               timeout=self._shutdown_timeout)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks),
                               timeout=self._shutdown_timeout)
        for task in list(self._tasks):
            self._loop.call_exception_handler({
                'message': f'{task!r} ignored cancellation request from a '
                           f'closing {self!r}',
                'stream_server': self})

    async def __aenter__(self):
        await self.bind()
        return self

    async def __aexit__(self, *exc):
        await self.close()


class StreamServer(_BaseStreamServer):
    """A TCP server of the 3.8 API: client_connected_cb(stream)."""

    def __init__(self, client_connected_cb, /, host=None, port=None, *,
                 limit=DEFAULT_LIMIT, shutdown_timeout=60, **kwds):
        super().__init__(client_connected_cb, limit, shutdown_timeout)
        self._host = host
        self._port = port
        self._kwds = kwds

    def _listen(self):
        return streams.start_server(self._on_client, self._host, self._port,
                                    limit=self._limit, start_serving=False,
                                    **self._kwds)


class UnixStreamServer(_BaseStreamServer):
    """A Unix-socket server of the 3.8 API: client_connected_cb(stream)."""

    def __init__(self, client_connected_cb, /, path=None, *,
                 limit=DEFAULT_LIMIT, shutdown_timeout=60, **kwds):
        super().__init__(client_connected_cb, limit, shutdown_timeout)
        self._path = path
        self._kwds = kwds

    def _listen(self):
        return streams.start_unix_server(self._on_client, self._path,
                                         limit=self._limit,
                                         start_serving=False, **self._kwds)
