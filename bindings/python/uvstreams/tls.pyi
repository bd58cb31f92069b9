# Type stubs of uvstreams.tls (public part; the rest is the binding's own).
import os
import ssl
from collections.abc import Iterable
from typing import Any, Callable, TypeAlias

from _typeshed import ReadableBuffer

_Path: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]
_Password: TypeAlias = str | bytes | bytearray | Callable[[], str | bytes | bytearray]
# What ssl= accepts everywhere.
_SSLArgument: TypeAlias = bool | ssl.SSLContext | TLSConfig | None

class TLSConfig:
    server_side: bool
    verify_mode: ssl.VerifyMode
    check_hostname: bool
    def __init__(
        self,
        server_side: bool = False,
        *,
        verify_mode: ssl.VerifyMode | int | None = None,
        check_hostname: bool | None = None,
        cafile: _Path | None = None,
        capath: _Path | None = None,
        cadata: str | bytes | None = None,
        certfile: _Path | None = None,
        keyfile: _Path | None = None,
        password: _Password | None = None,
        alpn_protocols: Iterable[str] | None = None,
        minimum_version: ssl.TLSVersion | None = None,
        maximum_version: ssl.TLSVersion | None = None,
        ciphers: str | None = None,
    ) -> None: ...

class SSLContext(ssl.SSLContext):
    def load_verify_locations(self, cafile: _Path | None = None,
                              capath: _Path | None = None,
                              cadata: str | ReadableBuffer | None = None
                              ) -> None: ...
    def load_cert_chain(self, certfile: _Path, keyfile: _Path | None = None,
                        password: _Password | None = None) -> None: ...
    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None: ...
    def set_ciphers(self, cipherlist: str) -> None: ...

def create_default_context(
    purpose: ssl.Purpose = ...,
    *,
    cafile: _Path | None = None,
    capath: _Path | None = None,
    cadata: str | bytes | None = None,
) -> SSLContext: ...

class TLSObject:
    def __init__(self, s: int, cache: dict[str, Any]) -> None: ...
    def selected_alpn_protocol(self) -> str | None: ...
    def version(self) -> str | None: ...
    def cipher(self) -> tuple[str, str, int] | None: ...
    def getpeercert(self, binary_form: bool = False) -> Any: ...
    def compression(self) -> str | None: ...
