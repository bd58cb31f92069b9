# frozen_string_literal: true

# Streams: the reads with asyncio's semantics (limits, separators, EOF,
# timeouts that consume nothing), writes, half-close, names, Unix sockets
# and adopted descriptors.

require_relative 'helper'

class StreamTest < Minitest::Test
  include UVStreamsTestHelpers

  def test_reads_return_binary_strings
    client, peer = connected_pair
    peer.write("h\xC3\xA9llo\n\xFF\x00end")
    line = client.readline(timeout: 5)
    assert_equal "h\xC3\xA9llo\n".b, line
    assert_equal Encoding::ASCII_8BIT, line.encoding
    assert_equal "\xFF\x00".b, client.readexactly(2, timeout: 5)
    assert_equal 'end', client.readpartial(100, timeout: 5)
  end

  def test_readuntil_with_one_or_several_separators
    client, peer = connected_pair
    peer << 'key=value;a,b;'
    assert_equal 'key=', client.readuntil('=', timeout: 5)
    assert_equal 'value;', client.readuntil(';', timeout: 5)
    assert_equal 'a,', client.readuntil([';', ','], timeout: 5)
    assert_equal 'b;', client.readuntil(%w[; ,], timeout: 5)
  end

  def test_incomplete_read_carries_partial_and_expected
    client, peer = connected_pair
    peer.write('abc')
    peer.write_eof
    error = assert_raises(UVStreams::IncompleteReadError) { client.readexactly(5, timeout: 5) }
    assert_equal 'abc', error.partial
    assert_equal 5, error.expected
    assert_equal 'EINCOMPLETE', error.code_name
    peer2_client, peer2 = connected_pair
    peer2.write('xy')
    peer2.write_eof
    error = assert_raises(UVStreams::IncompleteReadError) { peer2_client.readuntil('!', timeout: 5) }
    assert_equal ['xy', nil], [error.partial, error.expected]
  end

  def test_limit_overrun_consumes_nothing
    client, peer = connected_pair(limit: 4)
    assert_equal 4, client.limit
    peer.write('abcdefXYZ')
    error = assert_raises(UVStreams::LimitOverrunError) { client.readuntil('XYZ', timeout: 5) }
    assert_equal 6, error.consumed
    assert_equal C::UVS_ELIMIT, error.code
    assert_equal 'abcdefXYZ', client.readexactly(9, timeout: 5)
  end

  def test_readline_over_the_limit_drops_the_line
    client, peer = connected_pair(limit: 3)
    peer.write("toolong\nok\n")
    assert_raises(UVStreams::LimitOverrunError) { client.readline(timeout: 5) }
    assert_equal "ok\n", client.readline(timeout: 5)
  end

  def test_timed_out_read_consumes_nothing
    client, peer = connected_pair
    peer.write('ea')
    error = assert_raises(UVStreams::TimeoutError) { client.readline(timeout: 0.1) }
    assert_match(/readline timed out/, error.message)
    assert_raises(Errno::ETIMEDOUT) { client.readexactly(3, timeout: 0) }
    peer.write("rly\n")
    assert_equal "early\n", client.readline(timeout: 5)
  end

  def test_write_eof_and_read_to_eof
    client, peer = connected_pair
    assert client.can_write_eof?
    client.write("request\n", "more")
    client.write_eof
    assert_equal "request\nmore", peer.read(-1, timeout: 5)
    assert peer.eof?
    assert_nil peer.read(10, timeout: 5) # IO#read(n) at EOF
    peer.write("response\n")
    assert_equal "response\n", client.readline(timeout: 5)
    error = assert_raises(UVStreams::ClosedError) { client.write('late') }
    assert_equal 'EWRITEEOF', error.code_name
  end

  def test_lines_gets_and_each_line
    client, peer = connected_pair
    peer.writelines(["one\n", "two\nthr", "ee\n", 'tail'])
    peer.write_eof
    assert_equal "one\n", client.gets
    assert_equal ["two\n", "three\n", 'tail'], client.each_line.to_a
    assert_nil client.gets
    assert_equal '', client.readline
  end

  def test_drain_waits_for_the_peer_to_read
    client, peer = connected_pair
    client.set_write_limits(high: 65_536, low: 16_384)
    client.write('x' * (16 << 20))
    assert_operator client.write_buffer_size, :>, 65_536
    assert_raises(UVStreams::TimeoutError) { client.drain(timeout: 0.2) }
    reader = Thread.new { peer.readexactly(16 << 20, timeout: 30).bytesize }
    client.drain(timeout: 30)
    assert_equal 16 << 20, reader.value
  end

  def test_names_of_both_ends
    client, peer = connected_pair
    assert_equal peer.local_address, client.remote_address
    assert_equal client.local_address, peer.remote_address
    host, port = client.remote_address
    assert_equal "#{host}:#{port}", client.peername
    assert_equal client.sockname, peer.peername
    assert_equal 'tcp', client.info(:kind)
    assert_equal 4, client.info('family')
    assert_nil client.info('peer.path')
    assert_nil client.tls_info
  end

  def test_close_and_wait_closed
    client, peer = connected_pair
    client.write("bye\n")
    refute client.closed?
    client.close
    assert client.closed?
    client.wait_closed(timeout: 5)
    assert_equal "bye\n", peer.read(-1, timeout: 5)
    error = assert_raises(UVStreams::ClosedError) { client.write('x') }
    assert_equal 'ECLOSED', error.code_name
  end

  def test_connect_with_a_block_closes_the_stream
    server = listen
    stream = nil
    value = UVStreams.connect('127.0.0.1', server.port, timeout: 5) do |s|
      stream = s
      s.write("hi\n")
      :done
    end
    assert_equal :done, value
    assert stream.closed?
    server.accept(timeout: 5) { |conn| assert_equal "hi\n", conn.read(-1, timeout: 5) }
  end

  def test_unix_socket
    Dir.mktmpdir do |dir|
      path = File.join(dir, 'echo.sock')
      UVStreams::Server.listen_unix(path) do |server|
        assert_equal [path], server.addresses
        assert_nil server.port
        UVStreams.connect_unix(path, timeout: 5) do |client|
          server.accept(timeout: 5) do |conn|
            assert_equal path, client.remote_address
            client.write("over unix\n")
            assert_equal "over unix\n", conn.readline(timeout: 5)
          end
        end
      end
    end
  end

  def test_open_adopts_a_descriptor
    a, b = UNIXSocket.pair
    stream = UVStreams::Stream.open(a, limit: 100)
    a.close # the stream owns a duplicate
    b.write("from a socketpair\n")
    assert_equal "from a socketpair\n", stream.readline(timeout: 5)
    stream.write('back')
    stream.close
    stream.wait_closed(timeout: 5)
    assert_equal 'back', b.read
  ensure
    b&.close
  end

  def test_unknown_option_is_an_argument_error
    assert_raises(ArgumentError) { UVStreams.connect('127.0.0.1', 1, limt: 3) }
  end
end
