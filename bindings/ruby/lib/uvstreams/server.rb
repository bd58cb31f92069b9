# frozen_string_literal: true

# UVStreams::Server: a listening TCP or Unix socket handing out Streams.
#
# Design: the engine accepts in the background and queues connections in
# order of arrival; Server#accept takes the next one (blocking, as every
# wait of the binding, without the GVL). On top of it, Server#serve is the
# accept loop that runs a block for each connection in its own Thread and
# closes the connection when the block ends, and Server.start runs that loop
# in a background Thread. close stops listening (serve then returns);
# connections already accepted stay open until closed (close_clients).

module UVStreams
  # A listening socket (one or more addresses).
  class Server
    # Listens on host:port (host nil: every interface; port 0: a free one).
    # Options: the stream options of the accepted connections (limit:,
    # write_high:, write_low:, nodelay:), backlog:, reuse_address:,
    # reuse_port:, family: (4 or 6), tls: (a server TLSConfig). With a block,
    # yields the server and closes it at the end.
    def self.listen(host = nil, port = 0, tls: nil, **options, &block)
      handle = Native.with_options(UVStreams.server_options(options), tls&.handle) do |opts|
        Native.unpack(C.uvs_server_listen_tcp(Native.engine, host, Integer(port), opts),
                      "listen on #{host}:#{port}")
      end
      open(new(handle), &block)
    end

    # Listens on a Unix socket path (a stale socket file is replaced).
    def self.listen_unix(path, tls: nil, **options, &block)
      handle = Native.with_options(UVStreams.server_options(options), tls&.handle) do |opts|
        Native.unpack(C.uvs_server_listen_unix(Native.engine, path.to_s, opts), "listen on #{path}")
      end
      open(new(handle), &block)
    end

    # Listens and serves in a background thread: handler.call(stream) runs
    # in a Thread of its own for each connection. Returns the server.
    def self.start(host = nil, port = 0, **options, &handler)
      raise ArgumentError, 'Server.start needs a block' unless handler

      listen(host, port, **options).tap { |server| server.serve_in_background(&handler) }
    end

    # Server.start on a Unix socket path.
    def self.start_unix(path, **options, &handler)
      raise ArgumentError, 'Server.start_unix needs a block' unless handler

      listen_unix(path, **options).tap { |server| server.serve_in_background(&handler) }
    end

    def self.open(server)
      return server unless block_given?

      begin
        yield server
      ensure
        server.close
      end
    end
    private_class_method :open

    # Wraps a server handle made by the library (Server.start and
    # Server.listen make them; not called directly).
    def initialize(handle)
      @handle = handle
      @closed = false
      ObjectSpace.define_finalizer(self, Server.releaser(handle))
    end

    def self.releaser(handle) # :nodoc:
      Native.releaser { C.uvs_server_free(handle) }
    end

    # The thread running serve for Server.start (nil otherwise).
    attr_reader :thread

    # The raw handle (for UVStreams::C).
    attr_reader :handle

    # The next connection. With a block, yields it and closes it at the end
    # (returning the block's value).
    def accept(timeout: nil)
      stream = Stream.new(Native.run('accept', timeout, ->(op) { C.uvs_server_accept_start(@handle, op) }))
      block_given? ? UVStreams.using(stream) { yield stream } : stream
    end

    # Accepts until the server is closed, running the block for each
    # connection in its own Thread (the connection is closed after it).
    def serve(&handler)
      loop do
        stream = accept
        Thread.new(stream) { |s| UVStreams.using(s, &handler) }
      end
    rescue ClosedError
      raise unless closed?
    end

    # Runs serve in a new Thread (kept in #thread) and returns that thread.
    def serve_in_background(&handler)
      @thread = Thread.new { serve(&handler) }
    end

    # The listening addresses: [host, port] pairs, or socket paths.
    def addresses
      Array.new([C.uvs_server_num_addresses(@handle), 0].max) do |i|
        host, port = Native.unpack(C.uvs_server_address(@handle, i))
        port.negative? ? host : [host, port]
      end
    end

    # The port of the first address (TCP).
    def port
      first = addresses.first
      first[1] if first.is_a?(Array)
    end

    # Stops listening: serve returns, accepted connections stay open.
    def close
      @closed = true
      C.uvs_server_close(@handle)
      nil
    end

    # Whether #close was called.
    def closed?
      @closed
    end

    # Closes (gracefully) / aborts every accepted connection.
    def close_clients
      Native.check(C.uvs_server_close_clients(@handle))
      nil
    end

    # Aborts every accepted connection: unsent bytes are dropped.
    def abort_clients
      Native.check(C.uvs_server_abort_clients(@handle))
      nil
    end

    # Connections accepted and not yet closed.
    def num_clients
      Native.check(C.uvs_server_num_clients(@handle))
    end

    # Waits until the server is closed and has no connection left.
    def wait_closed(timeout: nil)
      Native.run('wait_closed', timeout, ->(op) { C.uvs_server_wait_closed_start(@handle, op) })
      nil
    end
  end
end
