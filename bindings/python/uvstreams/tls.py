"""TLS for every uvstreams API: configurations, the ssl= mapping, extra info.

The engine does TLS itself (OpenSSL 3 on memory BIOs), configured by a
``uvs_tls_config``; no ``ssl.SSLObject`` exists on the Python side. What
``ssl=`` accepts:

* ``True`` (clients): verification against the system trust store, host
  name checked against ``server_hostname`` (default: the host connected to).
* ``uvstreams.TLSConfig``: the engine's configuration, spelled out.
* ``ssl.SSLContext``: when the ssl module and the engine run on the same
  libssl (``sharing()``), the context's own SSL_CTX is handed to the
  engine (uvs_tls_config_adopt, through the extension's
  uvs_py_adopt_ssl_context), so everything it carries is honoured by
  OpenSSL itself, read at each connection; only the settings whose
  callbacks expect the ssl module's own per-connection object are refused
  (ValueError naming them): a server's ``sni_callback``,
  ``keylog_filename``, ``_msg_callback``, ``post_handshake_auth``.
  Otherwise (fallback) the context is converted to a TLSConfig once per
  context (again if it changes), which carries over the side,
  ``verify_mode``, ``check_hostname``, TLS 1.2/1.3 versions and the CA
  certificates, and raises on what it cannot read back (other options or
  verify flags, older versions, the callbacks above, a plain context's
  certificate chain on a server). A context made by
  ``uvstreams.create_default_context()`` (an ``ssl.SSLContext`` subclass
  that records what it is given) also carries ``capath``,
  ``load_cert_chain``, ``set_alpn_protocols`` and ``set_ciphers`` through
  a conversion. See bindings/python/README.md for the design and limits.

A client sends ``server_hostname`` as SNI whenever it has one and checks
it only with ``check_hostname``; with a TLSConfig, ``''`` sends nothing.

Extra info ``ssl_object`` is a read-only ``TLSObject``: the queries of
``ssl.SSLObject`` that describe an established session
(``selected_alpn_protocol()``, ``version()``, ``cipher()``,
``getpeercert()``, ``compression()``), answered by the engine; there is
nothing to wrap or unwrap on the Python side.
"""

import _ssl
import os
import ssl
import tempfile
import weakref

from ._core import _c, check, unpack

__all__ = ('TLSConfig', 'SSLContext', 'create_default_context', 'TLSObject')

_VERSIONS = {ssl.TLSVersion.TLSv1_2: _c.UVS_TLS1_2,
             ssl.TLSVersion.TLSv1_3: _c.UVS_TLS1_3}
_VERIFY = {ssl.CERT_NONE: _c.UVS_TLS_VERIFY_NONE,
           ssl.CERT_OPTIONAL: _c.UVS_TLS_VERIFY_OPTIONAL,
           ssl.CERT_REQUIRED: _c.UVS_TLS_VERIFY_REQUIRED}
_VERSION_OPTIONS = ssl.OP_NO_TLSv1_2 | ssl.OP_NO_TLSv1_3


def _from_shared_context(name):
    """A TLSConfig property: the shared SSLContext's attribute when the
    config shares one, else the value set on the config."""
    own = '_' + name

    def get(self):
        ctx = self.__dict__.get('_context')
        return getattr(ctx, name) if ctx is not None else getattr(self, own)

    def set(self, value):
        setattr(self, own, value)
    return property(get, set)


class TLSConfig:
    """A TLS configuration of the engine (``uvs_tls_config``).

    server_side picks the side; verify_mode is an ``ssl.VerifyMode``
    (clients default to CERT_REQUIRED, servers to CERT_NONE); check_hostname
    (clients, default: verify_mode != CERT_NONE) checks the server's name;
    cafile/capath/cadata add trusted CAs to the system store (cadata: PEM
    str or bytes, or DER bytes); certfile/keyfile/password the certificate
    chain; alpn_protocols a list of protocol names; minimum_version/
    maximum_version ``ssl.TLSVersion`` TLSv1_2 or TLSv1_3; ciphers an
    OpenSSL cipher list for TLS 1.2. Immutable once made."""

    def __init__(self, server_side=False, *, verify_mode=None,
                 check_hostname=None, cafile=None, capath=None, cadata=None,
                 certfile=None, keyfile=None, password=None,
                 alpn_protocols=None, minimum_version=None,
                 maximum_version=None, ciphers=None):
        self._h = None
        self.server_side = bool(server_side)
        h = unpack(_c.uvs_tls_config_new(
            _c.UVS_TLS_SERVER if server_side else _c.UVS_TLS_CLIENT))
        self._h = h
        if verify_mode is None:
            verify_mode = ssl.CERT_NONE if server_side else ssl.CERT_REQUIRED
        self.verify_mode = ssl.VerifyMode(verify_mode)
        if check_hostname is None:
            check_hostname = (not server_side
                              and self.verify_mode != ssl.CERT_NONE)
        if check_hostname and self.verify_mode == ssl.CERT_NONE:
            raise ValueError('check_hostname needs verify_mode CERT_OPTIONAL '
                             'or CERT_REQUIRED')
        self.check_hostname = bool(check_hostname)
        _tls_check(_c.uvs_tls_config_set_verify(h, _VERIFY[self.verify_mode]))
        if cafile is not None:
            _tls_check(_c.uvs_tls_config_load_ca_file(h, os.fspath(cafile)))
        if capath is not None:
            _tls_check(_c.uvs_tls_config_load_ca_dir(h, os.fspath(capath)))
        if cadata is not None:
            for pem in _pem_blocks(cadata):
                _tls_check(_c.uvs_tls_config_load_ca_pem(h, pem))
        if certfile is not None:
            if callable(password):
                password = password()
            if isinstance(password, (bytes, bytearray)):
                password = bytes(password).decode()
            _tls_check(_c.uvs_tls_config_load_cert_file(
                h, os.fspath(certfile),
                None if keyfile is None else os.fspath(keyfile), password))
        elif keyfile is not None:
            raise ValueError('keyfile needs certfile')
        self.alpn_protocols = list(alpn_protocols or ())
        if self.alpn_protocols:
            _tls_check(_c.uvs_tls_config_set_alpn(
                h, ','.join(self.alpn_protocols)))
        lo, hi = _version(minimum_version, True), _version(maximum_version,
                                                          False)
        if lo or hi:
            _tls_check(_c.uvs_tls_config_set_versions(h, lo, hi))
        if ciphers is not None:
            _tls_check(_c.uvs_tls_config_set_ciphers(h, ciphers))

    @classmethod
    def _adopt(cls, ctx, server_side):
        """A configuration sharing ssl.SSLContext ctx's SSL_CTX (see
        sharing()); verify_mode and check_hostname stay ctx's, read at each
        connection."""
        self = cls.__new__(cls)
        self._h = None
        rc, h = _c.uvs_py_adopt_ssl_context(
            _c.UVS_TLS_SERVER if server_side else _c.UVS_TLS_CLIENT, ctx,
            _ssl._SSLContext)
        _tls_check(rc)
        self._h = h
        self.server_side = bool(server_side)
        self._context = ctx
        self.alpn_protocols = None
        return self

    # A shared context's verify_mode and check_hostname are read from it
    # whenever asked (it may change them).
    verify_mode = _from_shared_context('verify_mode')
    check_hostname = _from_shared_context('check_hostname')

    def __repr__(self):
        ctx = self.__dict__.get('_context')
        if ctx is not None:
            side = 'server' if self.server_side else 'client'
            return f'<uvstreams.TLSConfig {side} sharing {ctx!r}>'
        side = 'server' if self.server_side else 'client'
        return (f'<uvstreams.TLSConfig {side} '
                f'verify_mode={self.verify_mode.name} '
                f'check_hostname={self.check_hostname}>')

    def __del__(self, _free=_c.uvs_tls_config_free):
        if getattr(self, '_h', None) is not None:
            _free(self._h)


def _tls_check(rc):
    if rc < 0:
        detail = _c.uvs_last_error()
        if rc in (_c.UVS_ETLS, _c.UVS_ENOENT, _c.UVS_EINVAL, _c.UVS_EIO):
            exc = ssl.SSLError(1, detail or _c.uvs_strerror(rc))
            exc.reason = detail
            raise exc
        check(rc)
    return rc


def _version(v, minimum):
    if v is None or v in (ssl.TLSVersion.MINIMUM_SUPPORTED,
                          ssl.TLSVersion.MAXIMUM_SUPPORTED):
        return 0
    if v not in _VERSIONS:
        raise ValueError(f'uvstreams supports TLS 1.2 and 1.3 only, not {v!r}')
    if not minimum and v == ssl.TLSVersion.TLSv1_3:
        return 0
    if minimum and v == ssl.TLSVersion.TLSv1_2:
        return 0
    return _VERSIONS[v]


def _pem_blocks(cadata):
    """cadata as the ssl module takes it (PEM str, or DER bytes) as PEM."""
    if isinstance(cadata, str):
        return [cadata.encode('ascii')]
    cadata = bytes(cadata)
    if cadata.lstrip().startswith(b'-----BEGIN'):
        return [cadata]
    out = []
    while cadata:  # concatenated DER certificates: SEQUENCE, long length
        if cadata[0] != 0x30 or len(cadata) < 2:
            raise ssl.SSLError(1, 'cadata is not DER or PEM')
        n = cadata[1]
        if n & 0x80:
            width = n & 0x7f
            n = int.from_bytes(cadata[2:2 + width], 'big') + 2 + width
        else:
            n += 2
        out.append(ssl.DER_cert_to_PEM_cert(cadata[:n]).encode('ascii'))
        cadata = cadata[n:]
    return out


class SSLContext(ssl.SSLContext):
    """An ssl.SSLContext that remembers what it is given, so that uvstreams
    can carry it over: load_verify_locations (with capath), load_cert_chain,
    set_alpn_protocols and set_ciphers. Usable with the ssl module too."""

    def _uvs_log(self):
        log = self.__dict__.get('_uvs_calls')
        if log is None:
            log = self.__dict__['_uvs_calls'] = []
        return log

    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        super().load_verify_locations(cafile, capath, cadata)
        self._uvs_log().append(('ca', cafile, capath, cadata))

    def load_cert_chain(self, certfile, keyfile=None, password=None):
        super().load_cert_chain(certfile, keyfile, password)
        self._uvs_log().append(('cert', certfile, keyfile, password))

    def set_alpn_protocols(self, alpn_protocols):
        super().set_alpn_protocols(alpn_protocols)
        self._uvs_log().append(('alpn', list(alpn_protocols)))

    def set_ciphers(self, cipherlist):
        super().set_ciphers(cipherlist)
        self._uvs_log().append(('ciphers', cipherlist))

    def _unsupported(name):
        def method(self, *args, **kwds):
            getattr(super(SSLContext, self), name)(*args, **kwds)
            self._uvs_log().append(('unsupported', name))
        method.__name__ = name
        return method

    load_dh_params = _unsupported('load_dh_params')
    set_ecdh_curve = _unsupported('set_ecdh_curve')
    set_npn_protocols = _unsupported('set_npn_protocols')
    del _unsupported


def create_default_context(purpose=ssl.Purpose.SERVER_AUTH, *, cafile=None,
                           capath=None, cadata=None):
    """ssl.create_default_context(), as a recording uvstreams.SSLContext."""
    if purpose == ssl.Purpose.SERVER_AUTH:
        ctx = SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    elif purpose == ssl.Purpose.CLIENT_AUTH:
        ctx = SSLContext(ssl.PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    if cafile or capath or cadata:
        ctx.load_verify_locations(cafile, capath, cadata)
    elif ctx.verify_mode != ssl.CERT_NONE:
        ctx.load_default_certs(purpose)
    return ctx


def _from_context(ctx, server_side):
    """A TLSConfig reproducing ctx, or ValueError naming what cannot be."""
    if ctx.protocol == ssl.PROTOCOL_TLS_SERVER and not server_side:
        raise ValueError('a PROTOCOL_TLS_SERVER context cannot be used by '
                         'a client')
    if ctx.protocol == ssl.PROTOCOL_TLS_CLIENT and server_side:
        raise ValueError('a PROTOCOL_TLS_CLIENT context cannot be used by '
                         'a server')
    fresh = ssl.SSLContext(ctx.protocol)
    problems = []
    extra_options = (ctx.options ^ fresh.options) & ~_VERSION_OPTIONS
    if extra_options:
        problems.append(f'options {ssl.Options(extra_options)!r}')
    if ctx.verify_flags != fresh.verify_flags:
        problems.append(f'verify_flags {ctx.verify_flags!r}')
    if ctx.sni_callback is not None:
        problems.append('sni_callback')
    if getattr(ctx, 'keylog_filename', None):
        problems.append('keylog_filename')
    if getattr(ctx, 'post_handshake_auth', False):
        problems.append('post_handshake_auth')
    calls = ctx.__dict__.get('_uvs_calls', []) if isinstance(
        ctx, SSLContext) else None
    if calls:
        problems += [c[1] for c in calls if c[0] == 'unsupported']
    if server_side and calls is None:
        problems.append('its certificate chain (a plain ssl.SSLContext '
                        'cannot give it back: use '
                        'uvstreams.create_default_context() or '
                        'uvstreams.TLSConfig)')
    lo, hi = ctx.minimum_version, ctx.maximum_version
    if ctx.options & ssl.OP_NO_TLSv1_2:
        lo = ssl.TLSVersion.TLSv1_3
    if ctx.options & ssl.OP_NO_TLSv1_3:
        hi = ssl.TLSVersion.TLSv1_2
    for v in (lo, hi):
        if v not in _VERSIONS and v not in (
                ssl.TLSVersion.MINIMUM_SUPPORTED,
                ssl.TLSVersion.MAXIMUM_SUPPORTED):
            problems.append(f'TLS version {v!r} (1.2 and 1.3 only)')
    if problems:
        raise ValueError('uvstreams cannot reproduce these settings of the '
                         'ssl.SSLContext: ' + ', '.join(problems))
    kw = dict(verify_mode=ctx.verify_mode,
              check_hostname=ctx.check_hostname and not server_side,
              minimum_version=lo, maximum_version=hi)
    cas = []
    cert = None
    if calls is None:
        cas = [ssl.DER_cert_to_PEM_cert(der).encode('ascii')
               for der in ctx.get_ca_certs(binary_form=True)]
    else:
        for call in calls:
            if call[0] == 'ca':
                cas.append(call[1:])
            elif call[0] == 'cert':
                cert = call[1:]
            elif call[0] == 'alpn':
                kw['alpn_protocols'] = call[1]
            elif call[0] == 'ciphers':
                kw['ciphers'] = call[1]
    config = TLSConfig(server_side, **kw)
    h = config._h
    for ca in cas:
        if isinstance(ca, bytes):
            _tls_check(_c.uvs_tls_config_load_ca_pem(h, ca))
            continue
        cafile, capath, cadata = ca
        if cafile is not None:
            _tls_check(_c.uvs_tls_config_load_ca_file(h, os.fspath(cafile)))
        if capath is not None:
            _tls_check(_c.uvs_tls_config_load_ca_dir(h, os.fspath(capath)))
        if cadata is not None:
            for pem in _pem_blocks(cadata):
                _tls_check(_c.uvs_tls_config_load_ca_pem(h, pem))
    if cert is not None:
        certfile, keyfile, password = cert
        if callable(password):
            password = password()
        if isinstance(password, (bytes, bytearray)):
            password = bytes(password).decode()
        _tls_check(_c.uvs_tls_config_load_cert_file(
            h, os.fspath(certfile),
            None if keyfile is None else os.fspath(keyfile), password))
    return config


# ---- ssl.SSLContext: shared, or converted once ----------------------------

_SHARE_ENV = 'UVSTREAMS_SSL_SHARE'
_sharing = None  # (bool, reason): decided on first use
_shared = weakref.WeakValueDictionary()  # (id(ctx), side) -> TLSConfig
_converted = weakref.WeakKeyDictionary()  # ctx -> (fingerprint, TLSConfig)


def sharing():
    """(True, path) when uvstreams shares ssl.SSLContext objects' SSL_CTX
    with the engine, else (False, why not). Decided once per process."""
    global _sharing
    if _sharing is None:
        _sharing = _probe_sharing()
    return _sharing


def _probe_sharing():
    if os.environ.get(_SHARE_ENV, '1') == '0':
        return False, f'{_SHARE_ENV}=0'
    path = _c.uvs_tls_library_path()
    if not path:
        return False, 'the engine cannot tell which libssl it runs on'
    try:
        import ctypes
        import _ssl
        ours = ctypes.CDLL(path)
        theirs = ctypes.CDLL(getattr(_ssl, '__file__', None))
        if (ctypes.cast(ours.SSL_CTX_new, ctypes.c_void_p).value
                != ctypes.cast(theirs.SSL_CTX_new, ctypes.c_void_p).value):
            return False, f'the ssl module does not use {path}'
        # The context object's layout, checked once on a probe context.
        get_options = ours.SSL_CTX_get_options
        get_options.restype = ctypes.c_uint64
        get_options.argtypes = [ctypes.c_void_p]
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ptr = ctypes.c_void_p.from_address(
            id(probe) + object.__basicsize__).value
        for flip in (0, ssl.OP_NO_TICKET, 0):
            probe.options = (probe.options & ~ssl.OP_NO_TICKET) | flip
            if get_options(ptr) != int(probe.options):
                return False, 'unexpected layout of ssl.SSLContext'
    except (ImportError, OSError, AttributeError) as exc:
        return False, f'cannot compare OpenSSL libraries: {exc}'
    return True, path


def _check_side(ctx, server_side):
    if ctx.protocol == ssl.PROTOCOL_TLS_SERVER and not server_side:
        raise ValueError('a PROTOCOL_TLS_SERVER context cannot be used by '
                         'a client')
    if ctx.protocol == ssl.PROTOCOL_TLS_CLIENT and server_side:
        raise ValueError('a PROTOCOL_TLS_CLIENT context cannot be used by '
                         'a server')


def _unshareable(ctx, server_side):
    """The settings of ctx the engine cannot honour on a shared SSL_CTX:
    CPython's callbacks that look up their own per-connection object."""
    problems = []
    if server_side and ctx.sni_callback is not None:
        problems.append('sni_callback')
    if getattr(ctx, 'keylog_filename', None):
        problems.append('keylog_filename')
    if getattr(ctx, '_msg_callback', None) is not None:
        problems.append('_msg_callback')
    if getattr(ctx, 'post_handshake_auth', False):
        problems.append('post_handshake_auth')
    return problems


def _for_context(ctx, server_side):
    """The TLSConfig for ctx: its own SSL_CTX shared with the engine when
    possible, else a conversion made once per context (and again only if
    the context changed)."""
    _check_side(ctx, server_side)
    if sharing()[0]:
        problems = _unshareable(ctx, server_side)
        if problems:
            raise ValueError('uvstreams cannot honour these settings of the '
                             'ssl.SSLContext: ' + ', '.join(problems))
        key = (id(ctx), bool(server_side))
        config = _shared.get(key)
        if config is None:
            config = _shared[key] = TLSConfig._adopt(ctx, server_side)
        return config
    fingerprint = _fingerprint(ctx, server_side)
    cached = _converted.get(ctx)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    config = _from_context(ctx, server_side)
    _converted[ctx] = (fingerprint, config)
    return config


def _fingerprint(ctx, server_side):
    """What a conversion of ctx depends on and can be read cheaply."""
    calls = ctx.__dict__.get('_uvs_calls', ()) if isinstance(
        ctx, SSLContext) else ()
    return (bool(server_side), int(ctx.options), ctx.verify_mode,
            int(ctx.verify_flags), ctx.check_hostname, ctx.minimum_version,
            ctx.maximum_version, ctx.sni_callback is None,
            tuple(sorted(ctx.cert_store_stats().items())), len(calls))


def resolve(sslarg, server_side):
    """The TLSConfig for an ssl= argument (True, TLSConfig, SSLContext)."""
    if sslarg is True:
        if server_side:
            raise TypeError('ssl argument must be an SSLContext, a '
                            'uvstreams.TLSConfig or None')
        return TLSConfig()
    if isinstance(sslarg, TLSConfig):
        if sslarg.server_side != bool(server_side):
            raise ValueError(
                f'a {"server" if sslarg.server_side else "client"} '
                f'TLSConfig cannot be used by a '
                f'{"server" if server_side else "client"}')
        return sslarg
    if isinstance(sslarg, ssl.SSLContext):
        return _for_context(sslarg, server_side)
    raise TypeError('ssl argument must be True, an ssl.SSLContext, a '
                    'uvstreams.TLSConfig or None')


def _timeout_ms(name, value):
    if value is None:
        return None
    if value <= 0:
        raise ValueError(f'{name} should be a positive number, got {value}')
    return max(1, int(value * 1000))


def check_arguments(sslarg, server_hostname, handshake_timeout,
                    shutdown_timeout):
    """asyncio's checks of the TLS arguments when ssl is not given."""
    if not sslarg:
        if server_hostname is not None:
            raise ValueError('server_hostname is only meaningful with ssl')
        if handshake_timeout is not None:
            raise ValueError('ssl_handshake_timeout is only meaningful with '
                             'ssl')
        if shutdown_timeout is not None:
            raise ValueError('ssl_shutdown_timeout is only meaningful with '
                             'ssl')
    _timeout_ms('ssl_handshake_timeout', handshake_timeout)
    _timeout_ms('ssl_shutdown_timeout', shutdown_timeout)


def add_options(opts, config, server_hostname=None, handshake_timeout=None,
                shutdown_timeout=None):
    """Puts a TLSConfig, the host name and the timeouts into options.
    server_hostname None leaves the engine's default (the host connected
    to); without check_hostname no name is sent or checked."""
    check(_c.uvs_options_set_tls(opts, config._h))
    if not config.server_side:
        if not config.check_hostname:
            check(_c.uvs_options_set_int(opts, 'check_hostname', 0))
        if server_hostname is not None:
            check(_c.uvs_options_set_str(opts, 'server_hostname',
                                         server_hostname))
    for key, value in (('ssl_handshake_timeout', handshake_timeout),
                       ('ssl_shutdown_timeout', shutdown_timeout)):
        ms = _timeout_ms(key, value)
        if ms is not None:
            check(_c.uvs_options_set_int(opts, key, ms))


def options(limit=None, config=None, server_hostname=None,
            handshake_timeout=None, shutdown_timeout=None, **ints):
    """A uvs_options handle with integer settings and, with config, TLS."""
    from . import _core
    opts = _core.make_options(limit=limit, **ints)
    if config is not None:
        try:
            add_options(opts, config, server_hostname, handshake_timeout,
                        shutdown_timeout)
        except BaseException:
            _core.free_options(opts)
            raise
    return opts


# ---- extra info -----------------------------------------------------------

TLS_EXTRA = ('sslcontext', 'ssl_object', 'peercert', 'cipher', 'compression')
_cipher_bits = None


def _bits(name):
    global _cipher_bits
    if _cipher_bits is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            ctx.set_ciphers('ALL:@SECLEVEL=0')
        except ssl.SSLError:
            pass
        _cipher_bits = {c['name']: c['strength_bits']
                        for c in ctx.get_ciphers()}
    return _cipher_bits.get(name)


def _decode_der(der):
    """asyncio's peercert dict for a DER certificate (the ssl module's own
    decoder, which reads a PEM file)."""
    fd, path = tempfile.mkstemp(suffix='.pem')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        return ssl._ssl._test_decode_cert(path)
    finally:
        os.unlink(path)


def _get_str(s, key):
    rc, value = _c.uvs_stream_get_str(s, key)
    return value if rc >= 0 and value else None


def _cipher(s):
    cipher, version = _get_str(s, 'tls.cipher'), _get_str(s, 'tls.version')
    if cipher is None or version is None:
        return None
    return (cipher, version, _bits(cipher))


def _peercert(s, cache, binary_form=False):
    """The peer's certificate as getpeercert(binary_form) gives it."""
    if 'der' not in cache:
        rc, der = _c.uvs_stream_get_bytes(s, 'tls.peer_cert_der')
        cache['der'] = bytes(der) if rc >= 0 and der else None
    der = cache['der']
    if binary_form or der is None:
        return der
    if 'peercert' not in cache:
        rc, verified = _c.uvs_stream_get_int(s, 'tls.verified')
        # the ssl module: {} for a certificate it did not validate
        cache['peercert'] = _decode_der(der) if verified == 1 else {}
    return cache['peercert']


class TLSObject:
    """get_extra_info('ssl_object') of a uvstreams TLS stream: the
    read-only queries of ssl.SSLObject, answered by the engine's session
    (valid while the stream is open)."""

    def __init__(self, s, cache):
        self._s, self._cache = s, cache

    def selected_alpn_protocol(self):
        return _get_str(self._s, 'tls.alpn')

    def version(self):
        return _get_str(self._s, 'tls.version')

    def cipher(self):
        return _cipher(self._s)

    def getpeercert(self, binary_form=False):
        return _peercert(self._s, self._cache, binary_form)

    def compression(self):
        return None


def extra_info(s, name, context, cache):
    """get_extra_info(name) of TLS stream s; cache is a dict kept with the
    stream."""
    if name == 'sslcontext':
        return context
    if name == 'compression':
        return None
    if name == 'ssl_object':
        return TLSObject(s, cache)  # not cached: no cycle through cache
    if name == 'cipher':
        return _cipher(s)
    if name == 'peercert':
        return _peercert(s, cache)
    return None


def uses_tls(s):
    rc, value = _c.uvs_stream_get_int(s, 'tls')
    return rc == 0 and value == 1
