# frozen_string_literal: true

# UVStreams::TLSConfig: the library's TLS settings (OpenSSL underneath).
#
# Design: a thin owner of one uvs_tls_config handle built from keyword
# arguments in one go (the library freezes a configuration once a
# connection uses it, so it is never changed afterwards); the handle is
# dropped by a finalizer, connections keep their own reference. Clients
# verify the server against the system trust store plus any CA given, and
# check the host name (server_hostname: of connect, "" to skip the check).

module UVStreams
  # TLS settings for clients (TLSConfig.client) or servers (TLSConfig.server).
  class TLSConfig
    # The verify: modes and the library's constants for them.
    VERIFY = { none: C::UVS_TLS_VERIFY_NONE, optional: C::UVS_TLS_VERIFY_OPTIONAL,
               required: C::UVS_TLS_VERIFY_REQUIRED }.freeze
    # The min_version:/max_version: values (nil: no bound).
    VERSIONS = { nil => 0, tls1_2: C::UVS_TLS1_2, tls1_3: C::UVS_TLS1_3 }.freeze

    # A client configuration: ca_file:/ca_path:/ca_pem: add trusted CAs,
    # verify: (:required, :optional, :none), cert_file:/key_file:/password:
    # a client certificate, alpn: (["h2", "http/1.1"]), min_version:/
    # max_version: (:tls1_2, :tls1_3), ciphers: (TLS 1.2 cipher list).
    def self.client(**settings)
      new(C::UVS_TLS_CLIENT, **settings)
    end

    # A server configuration: cert_file: and key_file: (or cert_pem:/
    # key_pem:), and the client settings (verify: :required asks clients
    # for a certificate, checked against ca_file:).
    def self.server(**settings)
      new(C::UVS_TLS_SERVER, **settings)
    end

    # The raw uvs_tls_config handle (for UVStreams::C).
    attr_reader :handle

    # +side+: UVStreams::C::UVS_TLS_CLIENT or UVS_TLS_SERVER; the settings
    # as for TLSConfig.client and TLSConfig.server, which are the usual way in.
    def initialize(side, verify: nil, ca_file: nil, ca_path: nil, ca_pem: nil, cert_file: nil,
                   key_file: nil, cert_pem: nil, key_pem: nil, password: nil, alpn: nil,
                   min_version: nil, max_version: nil, ciphers: nil)
      @handle = Native.unpack(C.uvs_tls_config_new(side))
      ObjectSpace.define_finalizer(self, TLSConfig.releaser(@handle))
      self.verify = verify if verify
      load_ca(ca_file, ca_path, ca_pem)
      load_cert(cert_file, key_file, cert_pem, key_pem, password)
      apply(:uvs_tls_config_set_alpn, Array(alpn).join(',')) if alpn
      apply(:uvs_tls_config_set_versions, VERSIONS.fetch(min_version), VERSIONS.fetch(max_version)) if min_version || max_version
      apply(:uvs_tls_config_set_ciphers, ciphers) if ciphers
    end

    def self.releaser(handle) # :nodoc:
      proc { C.uvs_tls_config_free(handle) }
    end

    private

    def verify=(mode)
      apply(:uvs_tls_config_set_verify, VERIFY.fetch(mode))
    end

    def load_ca(file, path, pem)
      apply(:uvs_tls_config_load_ca_file, file.to_s) if file
      apply(:uvs_tls_config_load_ca_dir, path.to_s) if path
      apply(:uvs_tls_config_load_ca_pem, pem) if pem
    end

    def load_cert(file, key_file, pem, key_pem, password)
      apply(:uvs_tls_config_load_cert_file, file.to_s, key_file&.to_s, password) if file
      apply(:uvs_tls_config_load_cert_pem, pem, key_pem || pem, password) if pem
    end

    def apply(function, *args)
      Native.check(C.public_send(function, @handle, *args), function.to_s.delete_prefix('uvs_tls_config_'))
    end
  end
end
