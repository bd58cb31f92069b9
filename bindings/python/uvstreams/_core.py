"""The glue every uvstreams API shares: errors, options, engines.

Design: the C library already implements the stream semantics; this module
only maps its int status codes to Python exceptions (``error`` is the one
place that does it, also registered with the extension so that its fused
hot-path helpers raise the same exceptions), builds option objects, and
runs host-driven engines inside asyncio loops.

``Hub`` is the per-event-loop engine (io_threads=0) with one completion
queue whose descriptor the loop watches: ``add_reader`` calls the
extension's dispatcher, which lets the engine do its I/O and resolves the
futures of the operations that completed (keyed by op handle: a read's
future gets its bytes, the others None). A call made from Python that
gives libuv work wakes the engine itself (the descriptor turns readable);
after each run the dispatcher tells the Hub's ``rearm`` (the registered
"kicker") when the engine's next timer is due.
"""

import asyncio
import importlib
import importlib.util
import os
import socket
import ssl
import weakref

from . import _uvstreams_c as _c

IncompleteReadError = asyncio.IncompleteReadError
LimitOverrunError = asyncio.LimitOverrunError

DEFAULT_LIMIT = 2 ** 16

# Read kinds, as the C helpers take them.
READ = _c.UVS_OP_READ
READEXACTLY = _c.UVS_OP_READEXACTLY
READUNTIL = _c.UVS_OP_READUNTIL
READLINE = _c.UVS_OP_READLINE
CONNECT = _c.UVS_OP_CONNECT
ACCEPT = _c.UVS_OP_ACCEPT
DRAIN = _c.UVS_OP_DRAIN
WAIT_CLOSED = _c.UVS_OP_WAIT_CLOSED

# The code a reader stores when Python code gave it an exception object
# (set_exception); the object itself lives on the Python reader. Outside
# the library's ranges (errno values, -3000s, -30001..-30099).
PYTHON_EXCEPTION = -39001

_READ_NAMES = {READ: 'read', READEXACTLY: 'readexactly',
               READUNTIL: 'readuntil', READLINE: 'readuntil'}
LIMIT_NOT_FOUND = 'Separator is not found, and chunk exceed the limit'

_GAI = {
    _c.UVS_EAI_AGAIN: socket.EAI_AGAIN, _c.UVS_EAI_FAIL: socket.EAI_FAIL,
    _c.UVS_EAI_FAMILY: socket.EAI_FAMILY, _c.UVS_EAI_NODATA: socket.EAI_NODATA,
    _c.UVS_EAI_NONAME: socket.EAI_NONAME,
    _c.UVS_EAI_SERVICE: socket.EAI_SERVICE,
}


class Redirect(Exception):
    """Internal: a read that must take the slow path (not user-visible)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class UvstreamsError(RuntimeError):
    """A library condition with no asyncio counterpart (e.g. a freed handle).

    ``code`` and ``name`` are the library's error code and its name."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.name = _c.uvs_err_name(code)


def _op_partial(op):
    rc, data = _c.uvs_op_data(op)
    return data if rc == 0 else b''


def _value_error(code, kind, detail):
    if kind == READEXACTLY:
        return ValueError('readexactly size can not be less than zero')
    if kind in (READUNTIL, READLINE):
        if 'element' in detail:
            return ValueError('Separator should contain at least one element')
        return ValueError('Separator should be at least one-byte string')
    return ValueError(detail or _c.uvs_strerror(code))


def error(code, op=None, kind=0, detail=''):
    """The exception for a negative library code: the one mapping.

    op is the completed operation (for the partial bytes of
    IncompleteReadError and LimitOverrunError.consumed), kind the operation
    kind (it picks asyncio's exact exception and message), detail the
    library's message for a call that failed before starting."""
    if code == _c.UVS_EINCOMPLETE:
        expected = _c.uvs_op_expected(op) if op is not None else -1
        return IncompleteReadError(
            _op_partial(op) if op is not None else b'',
            None if expected < 0 else expected)
    if code == _c.UVS_ELIMIT:
        # the engine gives asyncio's message (found / not found)
        message = detail or LIMIT_NOT_FOUND
        if kind == READLINE:
            return ValueError(message)
        consumed = _c.uvs_op_consumed(op) if op is not None else 0
        return LimitOverrunError(message, consumed)
    if code == _c.UVS_ETLSVERIFY:
        return tls_verify_error(detail)
    if code == _c.UVS_ETLS:
        return tls_error(detail)
    if code == _c.UVS_EBUSY:
        return RuntimeError(
            f'{_READ_NAMES.get(kind, "read")}() called while another '
            f'coroutine is already waiting for incoming data')
    if code == _c.UVS_EOPBUSY or code == PYTHON_EXCEPTION:
        return Redirect(code)
    if code == _c.UVS_EINVAL:
        return _value_error(code, kind, detail)
    if code == _c.UVS_EWRITEEOF:
        return RuntimeError('Cannot call write() after write_eof()')
    if code == _c.UVS_ECANCELED:
        return asyncio.CancelledError()
    if code == _c.UVS_ECONNRESET and kind == DRAIN:
        return ConnectionResetError('Connection lost')
    if code in _GAI:
        return socket.gaierror(_GAI[code], detail or _c.uvs_strerror(code))
    if -3000 < code < 0:  # errno values: OSError picks the subclass
        return OSError(-code, detail or os.strerror(-code))
    if code == _c.UVS_EOF:
        return EOFError(detail or 'end of file')
    return UvstreamsError(code, detail or _c.uvs_strerror(code))


_VERIFY_PREFIX = 'certificate verify failed: '


def tls_verify_error(detail):
    """ssl.SSLCertVerificationError for a failed peer verification, shaped
    as the ssl module's own (reason, verify_message in the message)."""
    detail = detail or 'certificate verify failed'
    verify_message = detail.split(_VERIFY_PREFIX, 1)[-1]
    exc = ssl.SSLCertVerificationError(
        1, f'[SSL: CERTIFICATE_VERIFY_FAILED] {detail}')
    exc.reason = 'CERTIFICATE_VERIFY_FAILED'
    exc.library = 'SSL'
    exc.verify_message = verify_message
    exc.verify_code = None
    return exc


def tls_error(detail):
    """ssl.SSLError for any other TLS failure (the reason is OpenSSL's)."""
    detail = detail or _c.uvs_strerror(_c.UVS_ETLS)
    exc = ssl.SSLError(1, detail)
    exc.library = 'SSL'
    exc.reason = detail
    return exc


_c.uvs_py_set_error_factory(error)


def check(rc, kind=0):
    """rc when it is not negative, else raises its exception."""
    if rc < 0:
        raise error(rc, None, kind, _c.uvs_last_error())
    return rc


def unpack(ret, kind=0):
    """The value of a [status, value] SWIG result, or raises."""
    if ret[0] < 0:
        raise error(ret[0], None, kind, _c.uvs_last_error())
    return ret[1]


def make_options(**values):
    """A uvs_options handle with the given integer settings (None: unset);
    the caller frees it with free_options()."""
    opts = unpack(_c.uvs_options_new())
    try:
        for key, value in values.items():
            if value is not None:
                check(_c.uvs_options_set_int(opts, key.replace('__', '.'),
                                             int(value)))
    except BaseException:
        _c.uvs_options_free(opts)
        raise
    return opts


free_options = _c.uvs_options_free


def adopt_pipe(engine, pipe, limit, write, **ints):
    """A one-way stream handle on a pipe object's descriptor (asyncio's
    connect_read_pipe / connect_write_pipe, for the 3.8 API and the
    blocking one). The engine owns a duplicate; the pipe object is closed
    now, as asyncio's transport closes it (the stream owns the pipe)."""
    fd = os.dup(pipe if isinstance(pipe, int) else pipe.fileno())
    if not isinstance(pipe, int):
        pipe.close()
    opts = make_options(limit=limit, **ints)
    try:
        adopt = (_c.uvs_connect_write_pipe if write
                 else _c.uvs_connect_read_pipe)
        return unpack(adopt(engine, fd, opts))
    finally:
        free_options(opts)


def address(s, side):
    """asyncio's peername/sockname of stream s (side 'peer' or 'sock'):
    (host, port) or (host, port, flowinfo, scope_id) for TCP, the path for
    a Unix socket, None when it has none."""
    rc, kind = _c.uvs_stream_get_str(s, 'kind')
    if rc < 0:
        return None
    if kind == 'tcp':
        rc, host = _c.uvs_stream_get_str(s, side + '.host')
        rc2, port = _c.uvs_stream_get_int(s, side + '.port')
        if rc < 0 or rc2 < 0 or port < 0:
            return None
        return (host, port, 0, 0) if ':' in host else (host, port)
    if kind == 'unix':
        rc, path = _c.uvs_stream_get_str(s, side + '.path')
        return path if rc == 0 else None
    return None


def family_option(family):
    """asyncio's family argument as the library's "family" option."""
    if not family:
        return 0
    if family == socket.AF_INET:
        return 4
    if family == socket.AF_INET6:
        return 6
    raise ValueError(f'unsupported address family {family!r}')


_allocator_settled = False


def _settle_libuv_allocator():
    """uvloop replaces libuv's process-wide allocator (uv_replace_allocator
    with PyMem_Raw*) when it creates its first loop. A loop of ours
    initialised before that is later freed through the new allocator: with
    Python's debug allocator (-X dev) that crashes in uv_loop_close. So when
    uvloop is installed, one of its loops is made (and closed) before our
    first engine."""
    global _allocator_settled
    if not _allocator_settled:
        _allocator_settled = True
        if importlib.util.find_spec('uvloop') is not None:
            importlib.import_module('uvloop').new_event_loop().close()


def new_engine(io_threads):
    _settle_libuv_allocator()
    opts = make_options(io_threads=io_threads)
    try:
        return unpack(_c.uvs_engine_new(opts))
    finally:
        free_options(opts)


# ---- the per-loop engine ---------------------------------------------------


class Hub:
    """One host-driven engine and completion queue serving one asyncio loop.

    reads maps a read's op handle to the future of the task waiting for
    its bytes (or its exception), futures maps any other op handle to the
    future of the task waiting for it (it gets None: the task fetches the
    result); callbacks maps an op handle to a function called on each of
    its completions (servers' accept loops).

    drain_op is shared by the streams' drains: one that completes at once
    (below the high-water mark) leaves it idle, one that has to wait takes
    it for itself and puts a new one here, so an idle connection holds no
    drain operation."""

    __slots__ = ('loop', 'engine', 'cq', 'fd', 'reads', 'futures',
                 'callbacks', 'create_future', 'drain_op', '_kicked',
                 '_timer', '_timer_when', '_closed', '__weakref__')

    def __init__(self, loop):
        self.loop = loop
        self.create_future = loop.create_future
        self.engine = new_engine(0)
        self.cq = unpack(_c.uvs_cq_new(self.engine))
        self.fd = check(_c.uvs_cq_fd(self.cq))
        self.reads = {}
        self.futures = {}
        self.callbacks = {}
        self.drain_op = self.new_op()
        self._kicked = False
        self._timer = None
        self._timer_when = None
        self._closed = False
        # the extension must not keep the hub alive: it calls through a
        # weak reference
        ref = weakref.ref(self)
        _c.uvs_py_set_kicker(self.engine, lambda ms: _rearm_ref(ref, ms))
        loop.add_reader(self.fd, _c.uvs_py_dispatch, self.engine, self.cq,
                        self.reads, self.futures, self.callbacks)

    def new_op(self):
        """A new operation bound to the queue."""
        return unpack(_c.uvs_op_new(self.cq, 0))

    def waiter(self, op):
        """A future resolved (with None) when op, not a read, completes."""
        fut = self.create_future()
        self.futures[op] = fut
        return fut

    def abandon(self, op):
        """For a read whose waiting task is cancelled: cancels op and gives
        back the bytes it may have delivered unconsumed. The op stays usable:
        restarting it drops a completion still queued for it."""
        self.reads.pop(op, None)
        _c.uvs_op_cancel(op)
        _c.uvs_op_unread(op)

    def release(self, op):
        """Frees a one-shot op (cancelling it if it is still pending)."""
        self.futures.pop(op, None)
        _c.uvs_op_free(op)

    def run(self, _dispatch=_c.uvs_py_dispatch):
        """Lets the engine run and delivers what completed (the loop calls
        the dispatcher directly when the queue's descriptor is readable)."""
        self._kicked = False
        _dispatch(self.engine, self.cq, self.reads, self.futures,
                  self.callbacks)

    def kick(self):
        if not self._kicked and not self._closed:
            self._kicked = True
            try:
                self.loop.call_soon(self.run)
            except RuntimeError:  # the loop is closed
                self._kicked = False

    def rearm(self, ms):
        """The engine wants to run again in ms milliseconds."""
        if ms == 0:
            self.kick()
            return
        when = self.loop.time() + ms / 1000.0
        if self._timer is not None:
            if self._timer_when <= when:
                return
            self._timer.cancel()
        self._timer_when = when
        self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self):
        self._timer = None
        self.run()

    def close(self):
        """Closes every stream and server of the engine."""
        if self._closed:
            return
        try:
            if not self.loop.is_closed():
                self.loop.remove_reader(self.fd)
        except Exception:
            pass
        self.__del__()

    def __del__(self, _cq_free=_c.uvs_cq_free,
                _engine_free=_c.uvs_engine_free,
                _op_free=_c.uvs_op_free,
                _set_kicker=_c.uvs_py_set_kicker):
        if not self._closed:
            self._closed = True
            _set_kicker(self.engine, None)
            _op_free(self.drain_op)
            _cq_free(self.cq)
            _engine_free(self.engine)


def _rearm_ref(ref, ms):
    hub = ref()
    if hub is not None:
        hub.rearm(ms)


_hubs = weakref.WeakValueDictionary()
_last = [None, None]  # loop, hub of the last lookup


def hub_for(loop):
    """The Hub of loop (created on first use)."""
    if _last[0] is loop:
        return _last[1]
    hub = _hubs.get(id(loop))
    if hub is None or hub.loop is not loop or hub._closed:
        hub = Hub(loop)
        _hubs[id(loop)] = hub
    _last[0] = loop
    _last[1] = hub
    return hub


def forget_loop(loop):
    if _last[0] is loop:
        _last[0] = _last[1] = None
