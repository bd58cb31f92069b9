# frozen_string_literal: true

# Shared by the unit tests: minitest, the binding (from -Ibuild/ruby) and a
# few helpers that make connected streams on loopback.

require 'minitest/autorun'
require 'uvstreams'
require 'socket'
require 'tmpdir'

module UVStreamsTestHelpers
  C = UVStreams::C

  # A listening server on 127.0.0.1 (a free port), closed after the test.
  def listen(**options)
    server = UVStreams::Server.listen('127.0.0.1', 0, **options)
    (@closers ||= []) << server
    server
  end

  # [client, server side] of one TCP connection, closed after the test.
  def connected_pair(**options)
    server = listen(**options)
    client = UVStreams.connect('127.0.0.1', server.port, timeout: 5, **options)
    accepted = server.accept(timeout: 5)
    @closers.push(client, accepted)
    [client, accepted]
  end

  def teardown
    (@closers || []).each(&:close)
    super
  end
end
