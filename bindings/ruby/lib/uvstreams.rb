# frozen_string_literal: true

# uvstreams for Ruby: asyncio-style byte streams (readline, readexactly,
# readuntil with a buffer limit, write/drain/write_eof/close) on the
# uvstreams C library, as blocking methods that let other threads run.
#
#   require 'uvstreams'
#   UVStreams.connect('127.0.0.1', 8888, timeout: 5) do |s|
#     s.write("hello\n")
#     puts s.readline(timeout: 5)
#   end
#   server = UVStreams::Server.start('127.0.0.1', 0) { |conn| conn.each_line { |l| conn.write(l) } }
#
# Design: UVStreams::C is the SWIG extension generated from
# bindings/uvstreams.i (the C API as it is: Integer handles, int status
# codes, [status, out...] results); the classes here add only what makes it
# Ruby: exceptions (errors.rb), blocks that close what they opened, seconds
# for timeouts, keyword options. The waiting itself is in native.rb.

require 'uvstreams_c'
require_relative 'uvstreams/errors'
require_relative 'uvstreams/native'
require_relative 'uvstreams/stream'
require_relative 'uvstreams/server'
require_relative 'uvstreams/tls'

# The uvstreams library.
module UVStreams
  # The version of the library actually loaded ("0.1.0").
  VERSION = C.uvs_version_string

  # Option keys of the streams (see uvstreams.h), for connect and servers.
  STREAM_OPTIONS = %i[limit write_high write_low nodelay keep_alive send_buffer_size
                      recv_buffer_size direct_reads].freeze
  # A blocking API: each stream is read by the thread that waits for it (the
  # engine's direct_reads), with no hop through the I/O thread.
  STREAM_DEFAULTS = { direct_reads: true }.freeze
  # Option keys UVStreams.connect accepts (besides timeout: and tls:).
  CONNECT_OPTIONS = (STREAM_OPTIONS + %i[family local_host local_port server_hostname]).freeze
  # Option keys Server.start and Server.listen accept.
  SERVER_OPTIONS = (STREAM_OPTIONS + %i[backlog reuse_address reuse_port family ipv6_only]).freeze

  # Connects by TCP. Options: timeout: (seconds), limit: (the reader's
  # buffer limit), write_high:/write_low: (watermarks), nodelay:,
  # keep_alive:, send_buffer_size:/recv_buffer_size:, family: (4 or 6),
  # local_host:/local_port: (bind first), tls: (a TLSConfig, or true for
  # the system's trust store), server_hostname: (TLS: the name checked, ""
  # for none). With a block, yields the Stream, then closes it and waits for
  # it to be closed; returns the block's value.
  def self.connect(host, port, timeout: nil, tls: nil, **options, &block)
    open_stream("connect to #{host}:#{port}", timeout, tls, options) do |engine, opts, op|
      C.uvs_connect_tcp_start(engine, host.to_s, Integer(port), opts, op)
    end.then { |stream| block ? using(stream, &block) : stream }
  end

  # Connects to a Unix socket path; options as for connect.
  def self.connect_unix(path, timeout: nil, tls: nil, **options, &block)
    open_stream("connect to #{path}", timeout, tls, options) do |engine, opts, op|
      C.uvs_connect_unix_start(engine, path.to_s, opts, op)
    end.then { |stream| block ? using(stream, &block) : stream }
  end

  # Yields stream, then closes it and waits (briefly) until it is closed.
  def self.using(stream)
    yield stream
  ensure
    stream.close
    begin
      stream.wait_closed(timeout: 5)
    rescue Error
      nil # the stream was lost or reset: it is closed all the same
    end
  end

  def self.open_stream(what, timeout, tls, options)
    tls = TLSConfig.client if tls == true
    values = pick(options, CONNECT_OPTIONS)
    handle = Native.with_options(values, tls&.handle) do |opts|
      Native.run(what, timeout, ->(op) { yield Native.engine, opts, op })
    end
    Stream.new(handle)
  end
  private_class_method :open_stream

  # The options of streams / servers, checked (internal: Stream, Server).
  def self.stream_options(options)
    pick(options, STREAM_OPTIONS)
  end

  def self.server_options(options) # :nodoc:
    pick(options, SERVER_OPTIONS)
  end

  def self.pick(options, allowed)
    unknown = options.keys - allowed
    raise ArgumentError, "unknown option(s): #{unknown.join(', ')}" unless unknown.empty?

    STREAM_DEFAULTS.merge(options)
  end
  private_class_method :pick
end
