"""asyncio's streams API (StreamReader, StreamWriter, Server, open_connection,
start_server and the Unix variants) on the uvstreams engine.

Design: every method maps to one C call on the stream's handle. A read
starts on the reader's reusable operation; when the engine completes it from
its buffer the bytes come back from that same call and the coroutine returns
without creating a future or yielding, as asyncio does when data is already
buffered.

Otherwise, on a connection the read stays pending in the engine (the
performance path: data arrives from the network, inside the engine) and
waits on a future that the loop's Hub resolves with the bytes when the
completion queue delivers the operation. Cancelling a waiting read cancels
the operation and gives back bytes that were delivered but not consumed
(uvs_op_unread: the operation still holds them), so no data is lost; the
operation is then reused (restarting it drops any completion still queued).

``StreamReader()`` built by hand is the library's standalone reader, fed
from Python with feed_data()/feed_eof()/set_exception() (also by
``StreamReaderProtocol`` from any asyncio transport). There a read that
cannot complete at once is cancelled in the engine (which consumes
nothing) and waits, as asyncio's _wait_for_data() does, on a future that
the next feed resolves; when the task resumes the read is issued again
from scratch. So a waiting read is evaluated when its task runs, after
every feed of that loop iteration, exactly as asyncio does.

The streams of a connection share its handle through the transport, which
frees it when the last of reader, writer and transport is gone (a
standalone reader frees its own).
"""

import asyncio
import functools
import logging
import os
import socket
import ssl as _ssl
import types
import warnings

from asyncio import events

from . import _core, _sockets, tls as _tls
from ._core import (_c, check, unpack, error, Redirect, IncompleteReadError,
                    LimitOverrunError, DEFAULT_LIMIT, READ, READEXACTLY,
                    READUNTIL, READLINE, PYTHON_EXCEPTION)

__all__ = ('StreamReader', 'StreamWriter', 'StreamReaderProtocol', 'Server',
           'open_connection', 'start_server', 'open_unix_connection',
           'start_unix_server', 'IncompleteReadError', 'LimitOverrunError')

logger = logging.getLogger('uvstreams')

_read = _c.uvs_py_read
_start = _c.uvs_py_start_read
_result = _c.uvs_py_result
_write = _c.uvs_py_write
_drain = _c.uvs_py_drain
_CLOSED = _c.UVS_ECLOSED
_LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5
# the extra-info mapping (asyncio's _extra) of our transports given none
_NO_EXTRA = types.MappingProxyType({})


# ---- StreamReader -----------------------------------------------------------


class StreamReader:
    """asyncio.StreamReader on a uvstreams stream (see the module doc)."""

    # per-connection objects use slots (one block, no dict); __dict__ and
    # __weakref__ keep asyncio's: attributes may be added, weakly referenced
    __slots__ = ('_loop', '_hub', '_owner', '_s', '_limit', '_reads',
                 '_create_future', '_exception', '_transport', '_paused',
                 '_waits', '_waiter', '_op', '__dict__', '__weakref__')
    _source_traceback = None

    def __init__(self, limit=DEFAULT_LIMIT, loop=None):
        if limit <= 0:
            raise ValueError('Limit cannot be <= 0')
        if loop is None:
            loop = events.get_event_loop()
        hub = _core.hub_for(loop)
        opts = _core.make_options(limit=limit)
        try:
            s = unpack(_c.uvs_reader_new(hub.engine, opts))
        finally:
            _core.free_options(opts)
        self._setup(hub, s, None, limit, True)

    @classmethod
    def _for_stream(cls, hub, transport, limit):
        self = cls.__new__(cls)
        self._setup(hub, transport._s, transport, limit, False)
        return self

    def _setup(self, hub, s, owner, limit, fed):
        self._loop = hub.loop
        self._hub = hub
        # what frees the handle: the connection's transport; None when we
        # do (a standalone reader)
        self._owner = owner
        self._s = s
        self._limit = limit
        self._reads = hub.reads
        self._create_future = hub.create_future
        self._exception = None
        self._transport = None
        self._paused = False
        # fed from Python: reads never stay pending in the engine (its op
        # has no queue) and wait on _waiter, as asyncio's; a connection's
        # pending read waits on a future registered in hub.reads
        self._waits = None if fed else hub.reads
        self._waiter = None
        self._op = unpack(_c.uvs_op_new(None, 0)) if fed else hub.new_op()

    def __del__(self, _free=_c.uvs_op_free, _free_stream=_c.uvs_stream_free):
        op = getattr(self, '_op', None)
        if op is not None:
            _free(op)
        # a standalone reader's handle (_owner is unset if __init__ failed
        # before making one)
        if getattr(self, '_owner', False) is None:
            _free_stream(self._s)

    def __repr__(self):
        info = ['StreamReader']
        size = unpack(_c.uvs_stream_get_int(self._s, 'read_buffer_size'))
        if size:
            info.append(f'{size} bytes')
        if self.at_eof():
            info.append('eof')
        if self._limit != DEFAULT_LIMIT:
            info.append(f'limit={self._limit}')
        if self._waiter is not None:
            info.append(f'waiter={self._waiter!r}')
        elif self._op in self._reads:
            info.append(f'waiter={self._reads[self._op]!r}')
        exc = self.exception()
        if exc is not None:
            info.append(f'exception={exc!r}')
        if self._transport is not None:
            info.append(f'transport={self._transport!r}')
        if self._paused:
            info.append('paused')
        return '<{}>'.format(' '.join(info))

    # -- state

    def exception(self):
        if self._exception is not None:
            return self._exception
        code = _c.uvs_stream_error(self._s)
        if code < 0 and code != PYTHON_EXCEPTION:
            self._exception = error(code)
            return self._exception
        return None

    def set_exception(self, exc):
        self._exception = exc
        check(_c.uvs_reader_set_error(self._s, PYTHON_EXCEPTION))
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.cancelled():
                waiter.set_exception(exc)
        elif self._op in self._reads:
            # a connection's pending read: delivered before we return
            self._hub.run()

    def set_transport(self, transport):
        assert self._transport is None, 'Transport already set'
        self._transport = transport

    def at_eof(self):
        """True once EOF was received and the buffer is empty."""
        return _c.uvs_stream_at_eof(self._s) == 1

    # -- feeding (standalone readers)

    def feed_eof(self):
        self._fed(_c.uvs_reader_feed_eof(self._s))
        self._wakeup_waiter()

    def feed_data(self, data):
        try:
            rc = _c.uvs_reader_feed_data(self._s, data)
        except TypeError:
            rc = _c.uvs_reader_feed_data(self._s, bytes(data))
        if rc == _c.UVS_EINVAL:
            raise AssertionError('feed_data after feed_eof')
        self._fed(rc)
        if not len(data):
            return
        self._wakeup_waiter()
        if self._transport is not None and not self._paused:
            self._maybe_pause()

    def _fed(self, rc):
        if rc == _c.UVS_ENOTSUP:
            raise RuntimeError('only a StreamReader() created directly '
                               'can be fed; this one reads a connection')
        check(rc)

    def _wakeup_waiter(self):
        """Wakes the read waiting for data (asyncio's); it is evaluated
        again when its task runs."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.cancelled():
                waiter.set_result(None)

    def _maybe_pause(self):
        """asyncio's read flow control, for a transport feeding us: pause
        above 2 x limit (a read resumes it before waiting)."""
        size = unpack(_c.uvs_stream_get_int(self._s, 'read_buffer_size'))
        if size > 2 * self._limit:
            try:
                self._transport.pause_reading()
            except NotImplementedError:
                self._transport = None
            else:
                self._paused = True

    def _resume_before_wait(self):
        if self._paused:
            self._paused = False
            self._transport.resume_reading()

    # -- reading

    async def _wait_for_data(self, kind, n, sep):
        """A read of a reader fed from Python that could not complete: the
        engine forgets it (a cancelled read consumes nothing) and the task
        waits for the next feed, then issues the read again, as asyncio's
        _wait_for_data() loop does."""
        op = self._op
        _c.uvs_op_cancel(op)
        while True:
            if self._waiter is not None:
                raise RuntimeError(
                    f'{_core._READ_NAMES[kind]}() called while another '
                    f'coroutine is already waiting for incoming data')
            if self._paused:
                self._resume_before_wait()
            self._waiter = self._create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
            try:
                data = _read(self._s, op, kind, n, sep)
            except Redirect as e:
                if e.code == PYTHON_EXCEPTION:
                    raise self._exception from None
                raise
            if data is not None:
                return data
            _c.uvs_op_cancel(op)

    def _abandon(self, fut):
        """The task awaiting a connection's pending read stopped waiting
        (cancelled): unless the read itself failed, the engine forgets it
        and delivered bytes go back."""
        if not fut.done() or fut.cancelled() or fut.exception() is None:
            self._hub.abandon(self._op)

    async def _redirected(self, code, kind, n, sep):
        """A read that found our op busy (another task waits: this one may
        still complete from the buffer, or fails with RuntimeError), or the
        exception given to set_exception()."""
        if code == PYTHON_EXCEPTION:
            raise self._exception
        op = unpack(_c.uvs_op_new(None, 0))
        try:
            data = _read(self._s, op, kind, n, sep)
        except Redirect:
            raise self._exception from None
        finally:
            _c.uvs_op_free(op)
        return data

    # The four read methods are spelled out rather than sharing a helper
    # coroutine: a read then costs one C call and no extra coroutine frame,
    # whether the buffer serves it or it awaits the future that call made.

    async def read(self, n=-1):
        try:
            data = _start(self._s, self._op, READ, n, None,
                          self._create_future, self._waits)
            if data.__class__ is bytes:
                return data
            if data is None:
                return await self._wait_for_data(READ, n, None)
            try:
                return await data
            except BaseException:
                self._abandon(data)
                raise
        except Redirect as e:
            code = e.code
        return await self._redirected(code, READ, n, None)

    async def readline(self):
        try:
            data = _start(self._s, self._op, READLINE, 0, None,
                          self._create_future, self._waits)
            if data.__class__ is bytes:
                return data
            if data is None:
                return await self._wait_for_data(READLINE, 0, None)
            try:
                return await data
            except BaseException:
                self._abandon(data)
                raise
        except Redirect as e:
            code = e.code
        return await self._redirected(code, READLINE, 0, None)

    async def readexactly(self, n):
        try:
            data = _start(self._s, self._op, READEXACTLY, n, None,
                          self._create_future, self._waits)
            if data.__class__ is bytes:
                return data
            if data is None:
                return await self._wait_for_data(READEXACTLY, n, None)
            try:
                return await data
            except BaseException:
                self._abandon(data)
                raise
        except Redirect as e:
            code = e.code
        return await self._redirected(code, READEXACTLY, n, None)

    async def readuntil(self, separator=b'\n'):
        try:
            data = _start(self._s, self._op, READUNTIL, 0, separator,
                          self._create_future, self._waits)
            if data.__class__ is bytes:
                return data
            if data is None:
                return await self._wait_for_data(READUNTIL, 0, separator)
            try:
                return await data
            except BaseException:
                self._abandon(data)
                raise
        except Redirect as e:
            code = e.code
        return await self._redirected(code, READUNTIL, 0, separator)

    def __aiter__(self):
        return self

    async def __anext__(self):
        line = await self.readline()
        if line == b'':
            raise StopAsyncIteration
        return line


# ---- transport and writer -------------------------------------------------


class _Transport(asyncio.Transport):
    """The transport face of a uvstreams connection (writer.transport)."""

    __slots__ = ('_s', '_hub', '_protocol', '_names', '_sock', '_wrapped',
                 '_server_side', '_sslcontext', '_tls_cache', '__dict__',
                 '__weakref__')

    def __init__(self, hub, s, extra=None, server_side=False,
                 sslcontext=None):
        super().__init__(_NO_EXTRA if extra is None else extra)
        self._s = s  # ours: freed with us
        self._hub = hub
        self._protocol = None
        self._names = None  # peername, sockname: made on first use
        self._sock = None  # the caller's socket object (sock=): ours too
        self._wrapped = None  # get_extra_info('socket'), made on first use
        self._server_side = server_side
        self._sslcontext = sslcontext  # what ssl= was, once TLS is on
        self._tls_cache = None  # TLS extra info's, made on first use

    def __del__(self, _free=_c.uvs_stream_free):
        if self._sock is not None:
            self._sock.close()
        _free(self._s)

    def _close_socket(self):
        """Closes the caller's socket object (sock=) once the loop runs
        again, as asyncio's transport does; the engine's own duplicate
        keeps the connection until the engine has closed it."""
        if self._sock is not None:
            try:
                self._hub.loop.call_soon(self._sock.close)
            except RuntimeError:  # the loop is closed
                self._sock.close()

    def __repr__(self):
        state = 'closing' if self.is_closing() else 'open'
        return f'<uvstreams transport {state} s={self._s:#x}>'

    def get_extra_info(self, name, default=None):
        if name in ('peername', 'sockname'):
            names = self._names
            if names is None:
                names = self._names = {}
            if name not in names:
                names[name] = _core.address(self._s, name[:4])
            value = names[name]
            return default if value is None else value
        if name == 'socket':
            return self._socket() or default
        if name in _tls.TLS_EXTRA:
            if self._sslcontext is None:
                return default
            if self._tls_cache is None:
                self._tls_cache = {}
            value = _tls.extra_info(self._s, name, self._sslcontext,
                                    self._tls_cache)
            return default if value is None else value
        return super().get_extra_info(name, default)

    def _socket(self):
        if self._wrapped is None:
            if self._sock is not None:
                self._wrapped = asyncio.trsock.TransportSocket(self._sock)
            else:
                self._wrapped = _sockets.engine_socket(self._s)
        return self._wrapped

    def is_closing(self):
        # an error means the handle is gone (its engine was shut down)
        return _c.uvs_stream_is_closing(self._s) != 0

    def close(self):
        _c.uvs_stream_close(self._s)
        self._close_socket()

    def abort(self):
        _c.uvs_stream_abort(self._s)
        self._close_socket()

    def write(self, data):
        rc = _write(self._s, data)
        if rc:
            self._written(rc)

    def _written(self, rc):
        if rc > 0:
            self._hub.kick()
        elif rc != _CLOSED:
            raise error(rc, None, 0, _c.uvs_last_error())

    def writelines(self, list_of_data):
        rc = _c.uvs_stream_writev(self._s, list_of_data)
        if rc < 0:
            self._written(rc)

    def write_eof(self):
        if self._sslcontext is not None:
            raise NotImplementedError("SSL doesn't support half-closes")
        check(_c.uvs_stream_write_eof(self._s))

    def can_write_eof(self):
        return _c.uvs_stream_can_write_eof(self._s) == 1

    def get_write_buffer_size(self):
        return check(_c.uvs_stream_write_buffer_size(self._s))

    def get_write_buffer_limits(self):
        low = unpack(_c.uvs_stream_get_int(self._s, 'write_low'))
        high = unpack(_c.uvs_stream_get_int(self._s, 'write_high'))
        return (low, high)

    def set_write_buffer_limits(self, high=None, low=None):
        rc = _c.uvs_stream_set_write_limits(
            self._s, -1 if high is None else high, -1 if low is None else low)
        if rc == _c.UVS_EINVAL:
            raise ValueError(f'high ({high!r}) must be >= low ({low!r}) '
                             f'must be >= 0')
        check(rc)

    def get_read_buffer_size(self):
        return unpack(_c.uvs_stream_get_int(self._s, 'read_buffer_size'))

    # The engine applies asyncio's read flow control itself.
    def is_reading(self):
        return not self.is_closing()

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol


class StreamWriter:
    """asyncio.StreamWriter on a uvstreams connection."""

    __slots__ = ('_transport', '_protocol', '_reader', '_loop', '_s', '_hub',
                 '_create_future', '_futures', '_lost_writes', '__dict__',
                 '__weakref__')

    def __init__(self, transport, protocol, reader, loop):
        self._transport = transport
        self._protocol = protocol
        self._reader = reader
        self._loop = loop
        self._s = transport._s
        self._hub = transport._hub
        self._create_future = self._hub.create_future
        self._futures = self._hub.futures
        self._lost_writes = 0

    def __repr__(self):
        info = [self.__class__.__name__, f'transport={self._transport!r}']
        if self._reader is not None:
            info.append(f'reader={self._reader!r}')
        return '<{}>'.format(' '.join(info))

    @property
    def transport(self):
        return self._transport

    def write(self, data):
        rc = _write(self._s, data)
        if rc:
            self._written(rc)

    def _written(self, rc):
        if rc > 0:
            self._hub.kick()
        elif rc == _CLOSED:
            self._lost_writes += 1
            if self._lost_writes >= _LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning('socket.send() raised exception.')
        else:
            raise error(rc, None, 0, _c.uvs_last_error())

    def writelines(self, data):
        rc = _c.uvs_stream_writev(self._s, data)
        if rc < 0:
            self._written(rc)

    def write_eof(self):
        return self._transport.write_eof()

    def can_write_eof(self):
        return self._transport.can_write_eof()

    def close(self):
        return self._transport.close()

    def is_closing(self):
        # an error means the handle is gone (its engine was shut down)
        return _c.uvs_stream_is_closing(self._s) != 0

    def get_extra_info(self, name, default=None):
        return self._transport.get_extra_info(name, default)

    async def drain(self):
        # the hub's shared drain op: a drain that completes at once leaves
        # it idle for the next one; a drain that has to wait keeps it
        # (the hub takes a new one) and frees it when done
        hub = self._hub
        op = hub.drain_op
        try:
            fut = _drain(self._s, op, self._create_future, self._futures)
        except Redirect:
            pass
        else:
            if fut is not None:
                hub.drain_op = hub.new_op()
                try:
                    await fut
                    _result(op)
                finally:
                    hub.release(op)
            return
        # raised outside the handler: not chained to the Redirect
        raise self._reader._exception

    async def wait_closed(self):
        hub = self._hub
        op = hub.new_op()
        try:
            rc = check(_c.uvs_stream_wait_closed_start(self._s, op))
            if rc == _c.UVS_PENDING:
                await hub.waiter(op)
            _result(op)
        finally:
            hub.release(op)

    async def start_tls(self, sslcontext, *, server_hostname=None,
                        ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
        """Upgrades the connection to TLS (asyncio 3.11): the side is the
        connection's (accepted by a server or not). Bytes the reader
        already holds stay plaintext."""
        transport = self._transport
        if transport._sslcontext is not None:
            raise RuntimeError('the connection already uses TLS')
        config = _tls.resolve(sslcontext, transport._server_side)
        if (not transport._server_side and server_hostname is None
                and config.check_hostname):
            raise ValueError('check_hostname requires server_hostname')
        opts = _tls.options(None, config, server_hostname,
                            ssl_handshake_timeout, ssl_shutdown_timeout)
        hub = self._hub
        op = hub.new_op()
        try:
            rc = _c.uvs_stream_start_tls_start(self._s, opts, op)
        finally:
            _core.free_options(opts)
        await _finish_op(hub, op, rc, _c.UVS_OP_START_TLS)
        transport._sslcontext = sslcontext
        transport._tls_cache = None

    def __del__(self, warnings=warnings):
        try:
            if self.is_closing():
                return
            if self._loop.is_closed():
                warnings.warn('loop is closed', ResourceWarning)
            else:
                self.close()
                warnings.warn(f'unclosed {self!r}', ResourceWarning)
        except Exception:
            pass


# ---- feeding a reader from any asyncio transport ---------------------------


class StreamReaderProtocol(asyncio.streams.FlowControlMixin, asyncio.Protocol):
    """Feeds a uvstreams StreamReader from an asyncio transport (pipes,
    loop.create_connection, ...); the writer it makes for client_connected_cb
    is asyncio's own StreamWriter on that transport."""

    def __init__(self, stream_reader, client_connected_cb=None, loop=None):
        super().__init__(loop=loop)
        self._stream_reader = stream_reader
        self._client_connected_cb = client_connected_cb
        self._stream_writer = None
        self._task = None
        self._closed = self._loop.create_future()

    def connection_made(self, transport):
        self._stream_reader.set_transport(transport)
        if self._client_connected_cb is None:
            return
        writer = asyncio.StreamWriter(transport, self, None, self._loop)
        writer._reader = self._stream_reader
        self._stream_writer = writer
        res = self._client_connected_cb(self._stream_reader, writer)
        if asyncio.iscoroutine(res):
            self._task = self._loop.create_task(res)
            self._task.add_done_callback(
                lambda task: _handler_done(self._loop, transport, task))

    def connection_lost(self, exc):
        if exc is None:
            self._stream_reader.feed_eof()
        else:
            self._stream_reader.set_exception(exc)
        if not self._closed.done():
            if exc is None:
                self._closed.set_result(None)
            else:
                self._closed.set_exception(exc)
                self._closed.exception()  # retrieved: no "never retrieved"
        super().connection_lost(exc)
        self._stream_writer = None
        self._task = None

    def data_received(self, data):
        self._stream_reader.feed_data(data)

    def eof_received(self):
        self._stream_reader.feed_eof()
        return True

    def _get_close_waiter(self, stream):
        return self._closed


def _client_done(loop, tasks, task):
    """The done callback of a server's client_connected_cb tasks (one
    partial per server, bound to its loop and its {task: transport} map:
    no object per connection, no reference back to the server): forgets
    the task and handles its end."""
    _handler_done(loop, tasks.pop(task), task)


def _handler_done(loop, transport, task):
    """asyncio 3.12's handling of a finished client_connected_cb task."""
    if task.cancelled():
        transport.close()
        return
    exc = task.exception()
    if exc is not None:
        _report_handler_error(loop, transport, exc)


def _report_handler_error(loop, transport, exc):
    loop.call_exception_handler({
        'message': 'Unhandled exception in client_connected_cb',
        'exception': exc,
        'transport': transport,
    })
    transport.close()


# ---- connections --------------------------------------------------------------


def _streams(hub, s, limit, extra=None, server_side=False, sslcontext=None):
    """(reader, writer) for a new connection handle."""
    transport = _Transport(hub, s, extra, server_side, sslcontext)
    reader = StreamReader._for_stream(hub, transport, limit)
    writer = StreamWriter(transport, None, reader, hub.loop)
    return reader, writer


async def _finish_op(hub, op, rc, kind):
    """The result of an op just started (rc), waiting if it is pending; the
    op is freed in every case (a connection nobody took is closed)."""
    try:
        check(rc, kind)
        if rc == _c.UVS_PENDING:
            await hub.waiter(op)
        return _result(op)
    finally:
        hub.release(op)


def _port_number(port):
    if isinstance(port, str) and not port.isdigit():
        return socket.getservbyname(port, 'tcp')
    return int(port)


async def _adopt(hub, sock, limit, tls=None, sslarg=None,
                 server_hostname=None, handshake_timeout=None,
                 shutdown_timeout=None):
    """Streams for a connected socket object (closed with the transport),
    with TLS started on it when tls is given."""
    opts = _core.make_options(limit=limit)
    try:
        s = unpack(_c.uvs_stream_open_fd(hub.engine, _sockets.adopt(sock),
                                         opts))
    finally:
        _core.free_options(opts)
    reader, writer = _streams(hub, s, limit)
    writer._transport._sock = sock
    if tls is not None:
        try:
            await writer.start_tls(
                tls, server_hostname=server_hostname,
                ssl_handshake_timeout=handshake_timeout,
                ssl_shutdown_timeout=shutdown_timeout)
        except BaseException:
            writer.transport.abort()
            raise
        writer._transport._sslcontext = sslarg
    return reader, writer


async def _local_address(loop, local_addr, family, flags):
    """local_addr as the numeric (host, port) the engine binds: a name is
    resolved here first (its first address, as the engine tries only
    remote addresses of that address's family)."""
    host, port = local_addr[0], local_addr[1]
    infos = await loop.getaddrinfo(host, port, family=family,
                                   type=socket.SOCK_STREAM, flags=flags)
    if not infos:
        raise OSError(f'getaddrinfo({host!r}) returned empty list')
    address = infos[0][4]
    return address[0], address[1]


def _connect_options(limit, tls, server_hostname, handshake_timeout,
                     shutdown_timeout, family, flags, happy_eyeballs_delay,
                     interleave, local):
    delay = (None if happy_eyeballs_delay is None
             else max(0, round(happy_eyeballs_delay * 1000)))
    opts = _tls.options(limit, tls, server_hostname, handshake_timeout,
                        shutdown_timeout, family=_core.family_option(family),
                        flags=flags or None, happy_eyeballs_delay=delay,
                        interleave=interleave,
                        local_port=None if local is None else local[1])
    if local is not None:
        rc = _c.uvs_options_set_str(opts, 'local_host', local[0])
        if rc < 0:
            _core.free_options(opts)
            check(rc)
    return opts


def _prologue(limit, ssl, server_hostname, handshake_timeout,
              shutdown_timeout, server_side):
    """What every opening function checks first, in asyncio's order: the
    TLS arguments, then the limit. Returns (loop, hub, TLS config or None)."""
    loop = events.get_running_loop()
    hub = _core.hub_for(loop)
    _tls.check_arguments(ssl, server_hostname, handshake_timeout,
                         shutdown_timeout)
    if limit <= 0:
        raise ValueError('Limit cannot be <= 0')
    return loop, hub, _tls.resolve(ssl, server_side) if ssl else None


async def open_connection(host=None, port=None, *, limit=DEFAULT_LIMIT,
                          ssl=None, family=0, proto=0, flags=0, sock=None,
                          local_addr=None, server_hostname=None,
                          ssl_handshake_timeout=None,
                          ssl_shutdown_timeout=None,
                          happy_eyeballs_delay=None, interleave=None,
                          all_errors=False):
    """Connects by TCP and returns (StreamReader, StreamWriter)."""
    loop, hub, tls = _prologue(
        limit, ssl, server_hostname, ssl_handshake_timeout,
        ssl_shutdown_timeout,
        server_side=False)
    if tls is not None and server_hostname is None and (
            sock is not None or not host):
        raise ValueError('You must set server_hostname when using ssl '
                         'without a host')
    if sock is not None:
        if host is not None or port is not None:
            raise ValueError(
                'host/port and sock can not be specified at the same time')
        return await _adopt(hub, sock, limit, tls, ssl, server_hostname,
                            ssl_handshake_timeout, ssl_shutdown_timeout)
    if host is None and port is None:
        raise ValueError(
            'host and port was not specified and no sock specified')
    local = (await _local_address(loop, local_addr, family, flags)
             if local_addr is not None else None)
    port = _port_number(port)
    opts = _connect_options(limit, tls, server_hostname,
                            ssl_handshake_timeout, ssl_shutdown_timeout,
                            family, flags, happy_eyeballs_delay, interleave,
                            local)
    op = hub.new_op()
    try:
        rc = _c.uvs_connect_tcp_start(hub.engine, host, port, opts, op)
    finally:
        _core.free_options(opts)
    try:
        s = await _finish_op(hub, op, rc, _core.CONNECT)
    except (socket.gaierror, _ssl.SSLError):
        raise
    except OSError as exc:
        _raise_handshake_timeout(exc, tls, ssl_handshake_timeout)
        raise OSError(exc.errno, f'Connect call failed {(host, port)!r}') \
            from None
    return _streams(hub, s, limit, sslcontext=ssl if tls else None)


def _raise_handshake_timeout(exc, tls, handshake_timeout):
    """asyncio reports a TLS handshake that outlasts ssl_handshake_timeout
    as ConnectionAbortedError (the engine: ETIMEDOUT, "TLS handshake")."""
    if tls is not None and isinstance(exc, TimeoutError) and \
            'handshake' in str(exc):
        seconds = 60.0 if handshake_timeout is None else handshake_timeout
        raise ConnectionAbortedError(
            f'SSL handshake is taking longer than {seconds} seconds: '
            f'aborting the connection') from None


async def open_unix_connection(path=None, *, limit=DEFAULT_LIMIT, ssl=None,
                               sock=None, server_hostname=None,
                               ssl_handshake_timeout=None,
                               ssl_shutdown_timeout=None):
    """Connects to a Unix socket and returns (StreamReader, StreamWriter)."""
    _, hub, tls = _prologue(
        limit, ssl, server_hostname, ssl_handshake_timeout,
        ssl_shutdown_timeout,
        server_side=False)
    if tls is not None and server_hostname is None:
        raise ValueError('you have to pass server_hostname when using ssl')
    if sock is not None:
        if path is not None:
            raise ValueError('path and sock can not be specified '
                             'at the same time')
        return await _adopt(hub, sock, limit, tls, ssl, server_hostname,
                            ssl_handshake_timeout, ssl_shutdown_timeout)
    if path is None:
        raise ValueError('no path and sock were specified')
    path = os.fspath(path)
    opts = _tls.options(limit, tls, server_hostname, ssl_handshake_timeout,
                        ssl_shutdown_timeout)
    op = hub.new_op()
    try:
        rc = _c.uvs_connect_unix_start(hub.engine, path, opts, op)
    finally:
        _core.free_options(opts)
    try:
        s = await _finish_op(hub, op, rc, _core.CONNECT)
    except OSError as exc:
        _raise_handshake_timeout(exc, tls, ssl_handshake_timeout)
        raise
    return _streams(hub, s, limit, sslcontext=ssl if tls else None)


# ---- servers --------------------------------------------------------------------


class _ListeningSocket:
    """What Server.sockets holds: the address of one listening socket (the
    C API does not hand out listening descriptors)."""

    type = socket.SOCK_STREAM
    proto = 0

    def __init__(self, family, address):
        self.family = family
        self._address = address

    def getsockname(self):
        return self._address

    def fileno(self):
        return -1

    def __repr__(self):
        return (f'<uvstreams listening socket family={self.family!r} '
                f'laddr={self._address!r}>')


class Server(events.AbstractServer):
    """asyncio.Server for uvstreams listeners (one handle per address)."""

    def __init__(self, hub, handles, client_connected_cb, limit,
                 unix=False, sslcontext=None, adopted=()):
        self._loop = hub.loop
        self._adopted = adopted  # the caller's socket objects (sock=)
        self._sslcontext = sslcontext
        self._hub = hub
        self._handles = handles
        self._cb = client_connected_cb
        self._limit = limit
        self._unix = unix
        self._closed = False
        self._serving_forever_fut = None
        # the client_connected_cb tasks (kept alive, as asyncio's protocol
        # keeps its task) and the transport of each
        self._tasks = {}
        self._task_done = functools.partial(_client_done, self._loop,
                                            self._tasks)
        self._accepts = []
        for h in handles:
            self._listen(h)

    def __repr__(self):
        return f'<{self.__class__.__name__} sockets={self.sockets!r}>'

    # -- accepting

    def _listen(self, h):
        op = self._hub.new_op()
        self._accepts.append(op)
        self._hub.callbacks[op] = lambda: self._accepted(h, op)
        rc = _c.uvs_server_accept_start(h, op)
        if rc == _c.UVS_COMPLETED:
            self._accepted(h, op)

    def _accepted(self, h, op):
        """An accept completed: hands the connection to the callback and
        accepts again (taking every connection already queued)."""
        while True:
            try:
                s = _result(op)
            except Exception:
                return  # the server was closed
            self._new_client(s)
            rc = _c.uvs_server_accept_start(h, op)
            if rc != _c.UVS_COMPLETED:
                return

    def _new_client(self, s):
        reader, writer = _streams(self._hub, s, self._limit,
                                  server_side=True,
                                  sslcontext=self._sslcontext)
        transport = writer._transport
        try:
            res = self._cb(reader, writer)
        except Exception as exc:
            _report_handler_error(self._loop, transport, exc)
            return
        if asyncio.iscoroutine(res):
            task = self._loop.create_task(res)
            self._tasks[task] = transport
            task.add_done_callback(self._task_done)

    # -- asyncio.Server API

    def get_loop(self):
        return self._loop

    @property
    def sockets(self):
        if self._closed:
            return ()
        if self._adopted:
            return tuple(asyncio.trsock.TransportSocket(sock)
                         for sock in self._adopted)
        out = []
        for h in self._handles:
            for i in range(max(0, _c.uvs_server_num_addresses(h))):
                rc, host, port = _c.uvs_server_address(h, i)
                if rc < 0:
                    continue
                if self._unix:
                    out.append(_ListeningSocket(socket.AF_UNIX, host))
                elif ':' in host:
                    out.append(_ListeningSocket(socket.AF_INET6,
                                                (host, port, 0, 0)))
                else:
                    out.append(_ListeningSocket(socket.AF_INET, (host, port)))
        return tuple(out)

    def is_serving(self):
        return any(_c.uvs_server_is_serving(h) == 1 for h in self._handles)

    async def start_serving(self):
        if self._closed:
            raise RuntimeError(f'server {self!r} is closed')
        for h in self._handles:
            check(_c.uvs_server_start_serving(h))
        await asyncio.sleep(0)

    def close(self):
        if self._closed:
            return
        self._closed = True
        for h in self._handles:
            _c.uvs_server_close(h)
        for sock in self._adopted:
            sock.close()
        for op in self._accepts:
            self._hub.callbacks.pop(op, None)
            self._hub.release(op)
        self._accepts = []
        if (self._serving_forever_fut is not None
                and not self._serving_forever_fut.done()):
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None

    def close_clients(self):
        for h in self._handles:
            _c.uvs_server_close_clients(h)

    def abort_clients(self):
        for h in self._handles:
            _c.uvs_server_abort_clients(h)

    async def wait_closed(self):
        hub = self._hub
        for h in self._handles:
            op = hub.new_op()
            rc = _c.uvs_server_wait_closed_start(h, op)
            await _finish_op(hub, op, rc, 0)

    async def serve_forever(self):
        if self._serving_forever_fut is not None:
            raise RuntimeError(
                f'server {self!r} is already being awaited on '
                f'serve_forever()')
        if self._closed:
            raise RuntimeError(f'server {self!r} is closed')
        await self.start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    def __del__(self, _free=_c.uvs_server_free):
        for h in getattr(self, '_handles', ()):
            _free(h)  # closes it if needed


def _listen_options(limit, backlog, reuse_address, reuse_port, start_serving,
                    tls=None, handshake_timeout=None, shutdown_timeout=None,
                    **more):
    return _tls.options(
        limit, tls, None, handshake_timeout, shutdown_timeout,
        backlog=backlog,
        reuse_address=None if reuse_address is None else bool(reuse_address),
        reuse_port=None if reuse_port is None else bool(reuse_port),
        start_serving=bool(start_serving), **more)


def _listen_all(listen, addresses, opts):
    """One handle per address, or none (the error names the address)."""
    handles = []
    try:
        for addr in addresses:
            rc, h = listen(addr)
            if rc < 0:
                exc = error(rc, None, 0, _c.uvs_last_error())
                if isinstance(exc, OSError) and exc.errno:
                    raise OSError(exc.errno, f'error while attempting to bind '
                                  f'on address {addr!r}: '
                                  f'{os.strerror(exc.errno).lower()}') \
                        from None
                raise exc
            handles.append(h)
    except BaseException:
        for h in handles:
            _c.uvs_server_free(h)
        raise
    finally:
        _core.free_options(opts)
    return handles


def _adopt_listening(hub, sock, opts):
    """A server handle for a bound socket object we are given (the engine
    listens on a duplicate; Server.close() closes sock, as asyncio's)."""
    try:
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f'A Stream Socket was expected, got {sock!r}')
        fd = _sockets.adopt(sock)
    except BaseException:
        _core.free_options(opts)
        raise
    return _listen_all(
        lambda fd: _c.uvs_server_listen_fd(hub.engine, fd, opts), [fd], opts)


async def start_server(client_connected_cb, host=None, port=None, *,
                       limit=DEFAULT_LIMIT, family=socket.AF_UNSPEC,
                       flags=socket.AI_PASSIVE, sock=None, backlog=100,
                       ssl=None, reuse_address=None, reuse_port=None,
                       keep_alive=None, ssl_handshake_timeout=None,
                       ssl_shutdown_timeout=None, start_serving=True):
    """Starts a TCP server calling client_connected_cb(reader, writer)."""
    _, hub, tls = _prologue(
        limit, ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout,
        server_side=True)
    if sock is not None:
        if host is not None or port is not None:
            raise ValueError(
                'host/port and sock can not be specified at the same time')
    elif host is None and port is None:
        raise ValueError('Neither host/port nor sock were specified')
    opts = _listen_options(limit, backlog, reuse_address, reuse_port,
                           start_serving, tls, ssl_handshake_timeout,
                           ssl_shutdown_timeout,
                           family=_core.family_option(family),
                           keep_alive=bool(keep_alive))
    if sock is not None:
        handles = _adopt_listening(hub, sock, opts)
    else:
        hosts = [host] if host is None or isinstance(host, str) \
            else list(host)
        port = _port_number(port or 0)
        handles = _listen_all(
            lambda h: _c.uvs_server_listen_tcp(hub.engine, h, port, opts),
            hosts, opts)
    server = Server(hub, handles, client_connected_cb, limit,
                    sslcontext=ssl if tls else None,
                    adopted=() if sock is None else (sock,))
    if start_serving:
        await asyncio.sleep(0)
    return server


async def start_unix_server(client_connected_cb, path=None, *,
                            limit=DEFAULT_LIMIT, sock=None, backlog=100,
                            ssl=None, ssl_handshake_timeout=None,
                            ssl_shutdown_timeout=None, start_serving=True,
                            cleanup_socket=True):
    """Starts a Unix-socket server calling client_connected_cb."""
    _, hub, tls = _prologue(
        limit, ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout,
        server_side=True)
    if sock is not None:
        if path is not None:
            raise ValueError('path and sock can not be specified '
                             'at the same time')
    elif path is None:
        raise ValueError('path was not specified, and no sock specified')
    opts = _listen_options(limit, backlog, None, None, start_serving, tls,
                           ssl_handshake_timeout, ssl_shutdown_timeout,
                           cleanup_socket=bool(cleanup_socket))
    if sock is not None:
        handles = _adopt_listening(hub, sock, opts)
    else:
        handles = _listen_all(
            lambda p: _c.uvs_server_listen_unix(hub.engine, p, opts),
            [os.fspath(path)], opts)
    server = Server(hub, handles, client_connected_cb, limit, unix=True,
                    sslcontext=ssl if tls else None,
                    adopted=() if sock is None else (sock,))
    if start_serving:
        await asyncio.sleep(0)
    return server
