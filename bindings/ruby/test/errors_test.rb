# frozen_string_literal: true

# Errors: the UVStreams::Error hierarchy, codes and names, the errno bridge
# (rescue Errno::ECONNREFUSED), and the raw extension's conventions.

require_relative 'helper'

class ErrorsTest < Minitest::Test
  include UVStreamsTestHelpers

  def closed_port
    server = TCPServer.new('127.0.0.1', 0)
    server.addr[1]
  ensure
    server&.close
  end

  def test_connection_refused
    port = closed_port
    error = assert_raises(UVStreams::ConnectionRefusedError) { UVStreams.connect('127.0.0.1', port, timeout: 5) }
    assert_kind_of UVStreams::ConnectionError, error
    assert_equal C::UVS_ECONNREFUSED, error.code
    assert_equal 'ECONNREFUSED', error.code_name
    assert_equal Errno::ECONNREFUSED::Errno, error.errno
    assert_match(/connect to 127\.0\.0\.1:#{port}: connection refused/, error.message)
  end

  def test_errno_classes_rescue_uvstreams_errors
    rescued = begin
      UVStreams.connect('127.0.0.1', closed_port, timeout: 5)
    rescue Errno::ECONNREFUSED => e
      e
    end
    assert_kind_of UVStreams::Error, rescued
    refute_kind_of SystemCallError, rescued
    assert_nil UVStreams::Error.new('library code', C::UVS_ELIMIT).errno
  end

  def test_invalid_arguments
    client, peer = connected_pair
    peer.write("abc\n")
    error = assert_raises(UVStreams::InvalidArgumentError) { client.readexactly(-1) }
    assert_equal 'EINVAL', error.code_name
    assert_raises(Errno::EINVAL) { client.readuntil('') }
    assert_raises(UVStreams::InvalidArgumentError) { client.readuntil(["\n", '']) }
    assert_equal "abc\n", client.readline(timeout: 5)
  end

  def test_reset_by_the_peer
    client, peer = connected_pair
    client.write("go\n")
    assert_equal "go\n", peer.readline(timeout: 5)
    peer.abort
    assert_raises(UVStreams::ConnectionResetError) { client.read(10, timeout: 5) }
    client.write('dropped, as asyncio does')
    assert_raises(Errno::ECONNRESET) { client.drain(timeout: 5) }
  end

  def test_unresolvable_host
    error = assert_raises(UVStreams::ResolveError) { UVStreams.connect('no-such-host.invalid', 80, timeout: 10) }
    assert_match(/\AEAI_/, error.code_name)
  end

  def test_hierarchy
    [UVStreams::IncompleteReadError, UVStreams::LimitOverrunError,
     UVStreams::ForkedError, UVStreams::ConnectionRefusedError, UVStreams::ConnectionResetError, UVStreams::BrokenPipeError,
     UVStreams::ClosedError, UVStreams::InvalidArgumentError, UVStreams::TLSVerifyError].each do |klass|
      assert_operator klass, :<, UVStreams::Error
    end
    assert_operator UVStreams::TLSVerifyError, :<, UVStreams::TLSError
    assert_operator UVStreams::TimeoutError, :<, Timeout::Error
    assert_operator UVStreams::Error, :===, UVStreams::TimeoutError.new('t')
    refute_operator UVStreams::ClosedError, :===, UVStreams::TimeoutError.new('t')
    assert_operator UVStreams::Error, :<, StandardError
  end

  def test_raw_extension_conventions
    rc, opts = C.uvs_options_new
    assert_equal 0, rc
    assert_kind_of Integer, opts
    assert_equal 0, C.uvs_options_set_int(opts, 'limit', 10)
    assert_equal [0, 10], C.uvs_options_get_int(opts, 'limit')
    assert_equal 0, C.uvs_options_free(opts)
    assert_equal C::UVS_EBADHANDLE, C.uvs_options_free(opts) # stale: refused, no crash
    assert_equal C::UVS_EBADHANDLE, C.uvs_stream_write(12_345, 'x')
    assert_equal [C::UVS_EBADHANDLE, nil], C.uvs_stream_read(nil, 1, 0)
    assert_equal 'ELIMIT', C.uvs_err_name(C::UVS_ELIMIT)
    assert_equal UVStreams::VERSION, C.uvs_version_string
  end
end
