"""uvstreams: asyncio streams on a libuv engine, and a blocking API.

``import uvstreams`` gives the asyncio drop-in: open_connection,
start_server, open_unix_connection, start_unix_server, StreamReader,
StreamWriter, StreamReaderProtocol and Server behave as asyncio's and raise
asyncio's exceptions. ``uvstreams.install()`` makes asyncio's own functions
use them. ``uvstreams.sync`` is the blocking API for threads; the Python 3.8
unified Stream API (connect, StreamServer, Stream, StreamMode) is here too.
TLS: ssl=True, an ssl.SSLContext or a uvstreams.TLSConfig (uvstreams.tls).
"""

import asyncio as _asyncio

from ._core import IncompleteReadError, LimitOverrunError, UvstreamsError
from .streams import (StreamReader, StreamWriter, StreamReaderProtocol,
                      Server, open_connection, start_server,
                      open_unix_connection, start_unix_server)
from .unified import (Stream, StreamMode, StreamServer, UnixStreamServer,
                      connect, connect_unix, connect_read_pipe,
                      connect_write_pipe, connect_subprocess)
from .tls import TLSConfig, SSLContext, create_default_context
from ._core import _c as _lib

__version__ = _lib.uvs_version_string()

__all__ = ('StreamReader', 'StreamWriter', 'StreamReaderProtocol', 'Server',
           'open_connection', 'start_server', 'open_unix_connection',
           'start_unix_server', 'IncompleteReadError', 'LimitOverrunError',
           'UvstreamsError', 'install', 'uninstall', 'installed',
           'is_switched', 'Stream', 'StreamMode',
           'StreamServer', 'UnixStreamServer', 'connect', 'connect_unix',
           'connect_read_pipe', 'connect_write_pipe', 'connect_subprocess',
           'TLSConfig',
           'SSLContext', 'create_default_context')

_PATCHED = ('open_connection', 'start_server', 'open_unix_connection',
            'start_unix_server')
_saved = {}


def install():
    """Makes asyncio.open_connection, start_server and the Unix variants
    (also as asyncio.streams.*) use uvstreams. Nothing else: a program's
    own StreamReader/StreamReaderProtocol, loop.create_server() protocols,
    subprocess pipes and names imported before install() stay asyncio's
    (is_switched() tells for a given object)."""
    from . import streams
    for name in _PATCHED:
        for module in (_asyncio, _asyncio.streams):
            _saved.setdefault((module, name), getattr(module, name))
            setattr(module, name, getattr(streams, name))


def uninstall():
    """Undoes install()."""
    for (module, name), original in _saved.items():
        setattr(module, name, original)
    _saved.clear()


def installed():
    """True while install() is in effect (the four functions, in asyncio
    and asyncio.streams, are uvstreams')."""
    from . import streams
    return all(getattr(module, name) is getattr(streams, name)
               for name in _PATCHED
               for module in (_asyncio, _asyncio.streams))


def is_switched(obj):
    """True if obj's bytes go through the uvstreams engine: a reader,
    writer or transport of a uvstreams connection, a uvstreams Server, a
    3.8 API Stream or server. False for asyncio's objects, and for a
    StreamReader fed from Python (uvstreams' own included), whose bytes come
    from whatever transport feeds it."""
    from . import streams, unified
    if isinstance(obj, unified.Stream):
        obj = obj.transport
    if isinstance(obj, streams.StreamReader):
        return obj._owner is not None  # a connection's, not a fed one
    return isinstance(obj, (streams.StreamWriter, streams._Transport,
                            streams.Server, unified._BaseStreamServer))
