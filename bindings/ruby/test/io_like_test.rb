# frozen_string_literal: true

# A Stream is IO-like enough for code written against TCPSocket: the same
# method calls, run once on a real TCPSocket pair and once on a uvstreams
# pair, must see the same results (read(n) waits for n bytes or EOF, nil at
# EOF; readpartial raises EOFError at EOF; write returns the byte count; <<
# chains; puts/print; eof? waits until it can tell); and a timeout is a
# Timeout::Error that UVStreams::Error still rescues.

require_relative 'helper'
require 'timeout'

class IOLikeTest < Minitest::Test
  include UVStreamsTestHelpers

  # [client, server side] of a plain TCPSocket connection.
  def tcp_pair
    listener = TCPServer.new('127.0.0.1', 0)
    client = TCPSocket.new('127.0.0.1', listener.addr[1])
    accepted = listener.accept
    listener.close
    (@closers ||= []).push(client, accepted)
    [client, accepted]
  end

  # What a TCPSocket user writes: the client talks, the peer answers
  # through the line-oriented and the byte-counted calls.
  def exchange(client, peer)
    out = []
    out << client.write("one\n", 'two', "\n")
    client << "three\n" << "four\n"
    client.print('fi', 've', "\n")
    client.puts('six', %w[seven eight])
    client.puts
    client.write("0123456789tail")
    client.flush if client.respond_to?(:flush)
    client.close_write
    out << peer.gets << peer.readline
    out << peer.each_line.take(5) << peer.gets << peer.gets
    out << peer.read(4) << peer.read(3) << peer.eof? << peer.read
    out << peer.eof? << peer.read(1) << peer.read
    out << (begin
      peer.readpartial(1)
    rescue EOFError
      :eof
    end)
    out
  end

  EXPECTED = [8, "one\n", "two\n", ["three\n", "four\n", "five\n", "six\n", "seven\n"],
              "eight\n", "\n", '0123', '456', false, '789tail', true, nil, '', :eof].freeze

  def test_same_results_as_tcpsocket
    client, peer = tcp_pair
    tcp = exchange(client, peer)
    assert_equal EXPECTED, tcp
    client, peer = connected_pair
    client.define_singleton_method(:close_write) { write_eof }
    assert_equal tcp, exchange(client, peer)
  end

  def test_read_n_waits_for_all_n_bytes
    client, peer = connected_pair
    reader = Thread.new { peer.read(6) }
    client.write('abc')
    sleep 0.2
    client.write('defgh')
    assert_equal 'abcdef', reader.value
    assert_equal 'gh', peer.readpartial(10)
  end

  def test_eof_waits_until_it_can_tell
    client, peer = connected_pair
    waiting = Thread.new { peer.eof? }
    sleep 0.2
    client.write('x')
    assert_equal false, waiting.value
    assert_equal 'x', peer.read(1)
    waiting = Thread.new { peer.eof? }
    client.close
    assert_equal true, waiting.value
  end

  def test_close_and_closed
    client, = connected_pair
    refute client.closed?
    assert_nil client.close
    assert client.closed?
    assert_raises(UVStreams::ClosedError) { client.write('late') }
  end

  def test_timeouts_are_timeout_errors
    _client, peer = connected_pair
    error = assert_raises(Timeout::Error) { peer.gets(timeout: 0.2) }
    assert_kind_of UVStreams::TimeoutError, error
    assert_equal 'ETIMEDOUT', error.code_name
    rescued = begin
      peer.readpartial(10, timeout: 0.2)
    rescue UVStreams::Error => e
      e
    end
    assert_instance_of UVStreams::TimeoutError, rescued
    assert_raises(Timeout::Error) { peer.read(5, timeout: 0.2) }
  end
end
