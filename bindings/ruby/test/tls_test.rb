# frozen_string_literal: true

# TLS: a client verifying the server against a CA file, with a CA and a
# server certificate made at test time by the openssl command; the server
# is the binding's own and, as an independent implementation, Ruby's
# OpenSSL::SSL::SSLServer.

require_relative 'helper'
require 'open3'
require 'openssl'

class TLSTest < Minitest::Test
  include UVStreamsTestHelpers

  # A CA and a certificate for localhost / 127.0.0.1 signed by it, in dir.
  def self.make_certificates(dir)
    ec = %w[-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes]
    File.write(File.join(dir, 'ext.cnf'), "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    [['req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=uvstreams test CA'],
     ['req', *ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'],
     ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']].each do |args|
      out, status = Open3.capture2e('openssl', *args, chdir: dir)
      raise "openssl #{args.first} failed: #{out}" unless status.success?
    end
  end

  DIR = Dir.mktmpdir('uvstreams-tls')
  Minitest.after_run { FileUtils.remove_entry(DIR) }
  make_certificates(DIR)

  def path(name)
    File.join(DIR, name)
  end

  def client_config
    UVStreams::TLSConfig.client(ca_file: path('ca.pem'))
  end

  def tls_echo_server
    config = UVStreams::TLSConfig.server(cert_file: path('server.pem'), key_file: path('server.key'))
    server = UVStreams::Server.start('127.0.0.1', 0, tls: config) { |conn| conn.write(conn.readline) }
    (@closers ||= []) << server
    server
  end

  def test_client_and_server_of_the_binding
    server = tls_echo_server
    UVStreams.connect('127.0.0.1', server.port, tls: client_config, timeout: 5) do |s|
      s.write("secret\n")
      assert_equal "secret\n", s.readline(timeout: 5)
      info = s.tls_info
      assert_match(/\ATLSv1\.[23]\z/, info[:version])
      assert info[:verified]
      assert_match(/CN=localhost/, info[:peer_subject])
    end
  end

  def test_client_against_ruby_openssl_server
    context = OpenSSL::SSL::SSLContext.new
    context.cert = OpenSSL::X509::Certificate.new(File.read(path('server.pem')))
    context.key = OpenSSL::PKey.read(File.read(path('server.key')))
    tcp = TCPServer.new('127.0.0.1', 0)
    ssl_server = OpenSSL::SSL::SSLServer.new(tcp, context)
    peer = Thread.new do
      conn = ssl_server.accept
      conn.write(conn.gets.upcase)
      conn.close
    end
    UVStreams.connect('localhost', tcp.addr[1], family: 4, tls: client_config, timeout: 5) do |s|
      s.write("hello openssl\n")
      assert_equal "HELLO OPENSSL\n", s.readline(timeout: 5)
    end
    peer.join(5)
  ensure
    tcp&.close
  end

  def test_unknown_ca_fails_verification
    server = tls_echo_server
    error = assert_raises(UVStreams::TLSVerifyError) do
      UVStreams.connect('127.0.0.1', server.port, tls: true, timeout: 5)
    end
    assert_equal 'ETLSVERIFY', error.code_name
    assert_kind_of UVStreams::TLSError, error
  end

  def test_host_name_is_checked
    server = tls_echo_server
    assert_raises(UVStreams::TLSVerifyError) do
      UVStreams.connect('127.0.0.1', server.port, tls: client_config, server_hostname: 'example.com', timeout: 5)
    end
    UVStreams.connect('127.0.0.1', server.port, tls: client_config, server_hostname: '', timeout: 5) do |s|
      s.write("no name check\n")
      assert_equal "no name check\n", s.readline(timeout: 5)
    end
  end
end
