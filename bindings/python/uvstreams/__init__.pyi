# Type stubs of the uvstreams package (PEP 561: py.typed, .pyi beside each
# public module). mypy.stubtest checks them against the runtime
# (bindings/python/tests/test_packaging.py).
from ._core import (IncompleteReadError as IncompleteReadError,
                    LimitOverrunError as LimitOverrunError,
                    UvstreamsError as UvstreamsError)
from .streams import (Server as Server, StreamReader as StreamReader,
                      StreamReaderProtocol as StreamReaderProtocol,
                      StreamWriter as StreamWriter,
                      open_connection as open_connection,
                      open_unix_connection as open_unix_connection,
                      start_server as start_server,
                      start_unix_server as start_unix_server)
from .tls import (SSLContext as SSLContext, TLSConfig as TLSConfig,
                  create_default_context as create_default_context)
from .unified import (Stream as Stream, StreamMode as StreamMode,
                      StreamServer as StreamServer,
                      UnixStreamServer as UnixStreamServer,
                      connect as connect, connect_read_pipe as connect_read_pipe,
                      connect_subprocess as connect_subprocess,
                      connect_unix as connect_unix,
                      connect_write_pipe as connect_write_pipe)
from . import sync as sync, tls as tls, streams as streams, unified as unified

__version__: str
__all__ = ('StreamReader', 'StreamWriter', 'StreamReaderProtocol', 'Server',
           'open_connection', 'start_server', 'open_unix_connection',
           'start_unix_server', 'IncompleteReadError', 'LimitOverrunError',
           'UvstreamsError', 'install', 'uninstall', 'installed',
           'is_switched', 'Stream', 'StreamMode',
           'StreamServer', 'UnixStreamServer', 'connect', 'connect_unix',
           'connect_read_pipe', 'connect_write_pipe', 'connect_subprocess',
           'TLSConfig', 'SSLContext', 'create_default_context')

def install() -> None: ...
def uninstall() -> None: ...
def installed() -> bool: ...
def is_switched(obj: object) -> bool: ...
