# frozen_string_literal: true

# Servers: the accept loop in a thread per connection (Server.start), accept
# with a block, addresses, closing, errors of listen.

require_relative 'helper'

class ServerTest < Minitest::Test
  include UVStreamsTestHelpers

  def echo_server
    UVStreams::Server.start('127.0.0.1', 0) do |conn|
      conn.each_line { |line| conn.write(line.upcase) }
    end.tap { |server| (@closers ||= []) << server }
  end

  def test_start_serves_each_connection_in_its_own_thread
    server = echo_server
    clients = Array.new(5) { UVStreams.connect('127.0.0.1', server.port, timeout: 5) }
    clients.each_with_index { |c, i| c.write("client #{i}\n") }
    assert_equal(Array.new(5) { |i| "CLIENT #{i}\n" }, clients.map { |c| c.readline(timeout: 5) })
    clients.each(&:close)
  end

  def test_streams_are_read_by_the_waiting_thread
    server = listen
    client = UVStreams.connect('127.0.0.1', server.port, timeout: 5)
    conn = server.accept(timeout: 5)
    assert_equal 1, client.info('direct_reads')
    assert_equal 1, conn.info('direct_reads')
    client.write("ping\n")
    assert_equal "ping\n", conn.readline(timeout: 5)
    [client, conn].each(&:close)
  end

  def test_close_ends_the_accept_loop
    server = echo_server
    assert server.thread.alive?
    server.close
    assert server.closed?
    assert server.thread.join(5), 'serve did not return'
    assert_empty server.addresses
    assert_raises(UVStreams::ClosedError) { server.accept(timeout: 1) }
  end

  def test_accept_with_a_block_and_a_timeout
    server = listen
    assert_raises(UVStreams::TimeoutError) { server.accept(timeout: 0.05) }
    client = UVStreams.connect('127.0.0.1', server.port, timeout: 5)
    conn = nil
    result = server.accept(timeout: 5) do |c|
      conn = c
      assert_equal 1, server.num_clients
      c.remote_address
    end
    assert_equal client.local_address, result
    assert conn.closed?
    assert_equal '', client.read(-1, timeout: 5)
  end

  def test_close_clients
    server = listen
    client = UVStreams.connect('127.0.0.1', server.port, timeout: 5)
    server.accept(timeout: 5)
    server.close
    server.close_clients
    assert_equal '', client.read(-1, timeout: 5)
    server.wait_closed(timeout: 5)
    assert_equal 0, server.num_clients
  end

  def test_listen_on_a_busy_port
    server = listen
    error = assert_raises(Errno::EADDRINUSE) { UVStreams::Server.listen('127.0.0.1', server.port) }
    assert_equal 'EADDRINUSE', error.code_name
  end

  def test_listen_with_a_block_closes_the_server
    port = UVStreams::Server.listen('127.0.0.1', 0) do |server|
      assert_equal '127.0.0.1', server.addresses.first[0]
      server.port
    end
    assert_raises(UVStreams::ConnectionRefusedError) { UVStreams.connect('127.0.0.1', port, timeout: 5) }
  end

  def test_unix_server_start
    Dir.mktmpdir do |dir|
      path = File.join(dir, 's.sock')
      server = UVStreams::Server.start_unix(path) { |conn| conn.write(conn.readline) }
      UVStreams.connect_unix(path, timeout: 5) do |client|
        client.write("unix\n")
        assert_equal "unix\n", client.readline(timeout: 5)
      end
      server.close
      server.wait_closed(timeout: 5)
      refute File.exist?(path), 'the socket file is removed on close'
    end
  end
end
