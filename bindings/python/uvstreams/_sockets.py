"""Socket objects of connections and servers, as asyncio hands them out.

asyncio's transports own a socket object and give out
``asyncio.trsock.TransportSocket`` wrappers of it (``get_extra_info(
'socket')``, ``Server.sockets``); a socket given with ``sock=`` is that
object, so the caller's reference keeps working until the transport or
server closes it.

Design: with ``sock=`` the engine adopts a duplicate of the descriptor and
the caller's object stays as it is (made non-blocking, as asyncio does).
Both descriptors name one open file description, so an option set through
either reaches the real socket, and each owner closes only its own
descriptor: no number is ever closed twice, whatever the order. The caller's
object is closed with the transport or server (``close_with``); the socket
itself goes away when the last of the two is closed. (Handing the engine
the caller's descriptor itself would leave the object holding a number the
engine closes on its own schedule, which another socket may then reuse.)

Connections the engine made or accepted have no Python socket object:
``EngineSocket`` stands in for one, holding no descriptor. Each call borrows
the engine's descriptor for its duration (a socket object detached right
after); the engine reports -1 from the moment it closes the descriptor, and
closing happens on the loop's thread, so a reused number is never touched.
A server of 10,000 connections asking each for its socket uses no
descriptor more and never fails for want of one.
"""

import _socket
import asyncio
import errno
import os
import socket

from ._core import _c


class EngineSocket:
    """The socket object behind get_extra_info('socket') of an engine-made
    stream s (wrapped in asyncio's TransportSocket, which is the face)."""

    __slots__ = ('_s', 'family', 'type', 'proto')

    def __init__(self, s, family, proto):
        self._s = s
        self.family = family
        self.type = socket.SOCK_STREAM
        self.proto = proto

    def fileno(self):
        rc, fd = _c.uvs_stream_get_int(self._s, 'fd')
        return fd if rc == 0 and fd >= 0 else -1

    def _open_fd(self):
        fd = self.fileno()
        if fd < 0:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return fd

    def _borrowed(self, method, *args):
        # the C-level socket type: no Python __init__ on this path
        sock = _socket.socket(self.family, self.type, self.proto,
                              self._open_fd())
        try:
            return getattr(sock, method)(*args)
        finally:
            sock.detach()

    def dup(self):
        return socket.socket(self.family, self.type, self.proto,
                             fileno=os.dup(self._open_fd()))

    def get_inheritable(self):
        return os.get_inheritable(self._open_fd())

    def shutdown(self, how):
        self._borrowed('shutdown', how)

    def getsockopt(self, *args):
        return self._borrowed('getsockopt', *args)

    def setsockopt(self, *args):
        self._borrowed('setsockopt', *args)

    def getpeername(self):
        return self._borrowed('getpeername')

    def getsockname(self):
        return self._borrowed('getsockname')


_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6, 1: socket.AF_UNIX}


def engine_socket(s):
    """asyncio's TransportSocket for engine-made stream s (a TCP or Unix
    connection, open or closed), or None (a pipe)."""
    rc, family = _c.uvs_stream_get_int(s, 'family')
    kind = _c.uvs_stream_get_str(s, 'kind')[1]
    if rc < 0 or family not in _FAMILIES or kind not in ('tcp', 'unix'):
        return None
    proto = socket.IPPROTO_TCP if kind == 'tcp' else 0
    return asyncio.trsock.TransportSocket(
        EngineSocket(s, _FAMILIES[family], proto))


def adopt(sock):
    """The descriptor the engine adopts for the caller's socket object sock
    (a duplicate: sock stays open, made non-blocking as asyncio does)."""
    fd = os.dup(sock.fileno())
    sock.setblocking(False)
    return fd
