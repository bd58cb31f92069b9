# frozen_string_literal: true

# UVStreams::Stream: one connection with asyncio's StreamReader and
# StreamWriter semantics behind blocking Ruby methods.
#
# Design: a Stream wraps one uvs_stream handle; the semantics (the buffer
# limit, separators, EOF, errors) are the engine's, shared with every other
# binding. Every method that can wait takes timeout: (seconds, nil for
# ever) and waits as Native.run describes, without holding the GVL. Bytes
# come back as ASCII-8BIT Strings; anything given to write is written as
# its bytes. close is asyncio's (graceful, returns at once; wait_closed
# waits); the block forms of UVStreams.connect and Server#accept close and
# wait for the stream at the end of the block. The handle is released by a
# finalizer when the Stream is collected.

module UVStreams
  # A connection (TCP, Unix socket, adopted descriptor).
  class Stream
    include Enumerable

    # Extra-info keys whose values are integers (the rest are strings).
    INT_INFO = %w[fd family peer.port sock.port limit write_high write_low
                  write_buffer_size read_buffer_size loop readable writable
                  nodelay keep_alive send_buffer_size recv_buffer_size tls
                  tls.resumed tls.verified direct_reads].freeze

    # Adopts an open IO (a connected socket or a pipe end): the Stream owns
    # a duplicate of its descriptor. Options as for UVStreams.connect.
    def self.open(io, **options)
      copy = io.to_io.dup
      copy.autoclose = false
      fd = copy.fileno
      handle = Native.with_options(UVStreams.stream_options(options)) do |opts|
        Native.unpack(C.uvs_stream_open_fd(Native.engine, fd, opts))
      end
      new(handle)
    end

    # Wraps a handle made by the library (connect, accept, open_fd).
    def initialize(handle)
      @handle = handle
      ObjectSpace.define_finalizer(self, Stream.releaser(handle))
    end

    def self.releaser(handle) # :nodoc:
      Native.releaser { C.uvs_stream_free(handle) }
    end

    # The class, open or closed, and the peer's name.
    def inspect
      "#<#{self.class} #{closed? ? 'closed' : 'open'} #{peername.inspect}>"
    end

    # ---- reading

    # IO#read: with n, waits for n bytes and returns fewer only at EOF (nil
    # at EOF when n > 0); without n (or nil, -1) reads until EOF ("" at
    # EOF). Built on readexactly, so a timeout consumes nothing.
    def read(n = nil, timeout: nil)
      return read_to_eof(timeout) if n.nil? || n.negative?
      return ''.b if n.zero?

      readexactly(n, timeout: timeout)
    rescue IncompleteReadError => e
      e.partial.empty? ? nil : e.partial
    end

    # IO#readpartial (asyncio's read(n)): up to n bytes once any are there;
    # EOFError at EOF.
    def readpartial(n, timeout: nil)
      data = run_read('readpartial', timeout) { |op| C.uvs_stream_read_start(@handle, n, op) }
      raise EOFError, 'end of file reached' if data.empty? && n.positive?

      data
    end

    # Exactly n bytes, or IncompleteReadError (with #partial) at EOF.
    def readexactly(n, timeout: nil)
      run_read('readexactly', timeout) { |op| C.uvs_stream_readexactly_start(@handle, n, op) }
    end

    # The bytes up to and including separator (a String, or an Array of
    # them: the earliest match wins). LimitOverrunError past the limit,
    # IncompleteReadError at EOF.
    def readuntil(separator = "\n", timeout: nil)
      if separator.is_a?(Array)
        run_read('readuntil', timeout) { |op| C.uvs_stream_readuntil_any_start(@handle, separator, op) }
      else
        run_read('readuntil', timeout) { |op| C.uvs_stream_readuntil_start(@handle, separator, op) }
      end
    end

    # The next line with its "\n"; at EOF the last partial line, then "".
    # LimitOverrunError (the line is dropped) when a line exceeds the limit.
    def readline(timeout: nil)
      run_read('readline', timeout) { |op| C.uvs_stream_readline_start(@handle, op) }
    end

    # The next line, or nil at EOF (IO#gets style).
    def gets(timeout: nil)
      line = readline(timeout: timeout)
      line.empty? ? nil : line
    end

    # Yields each line until EOF.
    def each_line
      return enum_for(:each_line) unless block_given?

      while (line = gets)
        yield line
      end
      self
    end
    alias each each_line

    # IO#eof?: waits until a byte is there (false) or the peer ended the
    # stream (true); the byte stays for the next read.
    def eof?(timeout: nil)
      return true if C.uvs_stream_at_eof(@handle) == 1
      return false if info('read_buffer_size').to_i.positive?

      Native.peek('eof?', timeout, ->(op) { C.uvs_stream_read_start(@handle, 1, op) }).empty?
    end
    alias eof eof?

    # ---- writing

    # Buffers the bytes (does not wait; see drain). Returns their count.
    # As asyncio, once the connection is lost the bytes are dropped and
    # drain raises the error; after close, abort or write_eof it raises
    # ClosedError.
    def write(*data)
      data.sum do |chunk|
        bytes = chunk.to_s
        Native.check(C.uvs_stream_write(@handle, bytes), 'write')
        bytes.bytesize
      end
    end

    # Writes +data+ and returns the stream, for chaining: <tt>s << "a" << "b"</tt>.
    def <<(data)
      write(data)
      self
    end

    # IO#print: the arguments' bytes, one after the other.
    def print(*data)
      write(*data)
      nil
    end

    # IO#puts: each argument (arrays flattened) on a line of its own.
    def puts(*data)
      lines = data.flatten.map(&:to_s)
      return write("\n") && nil if lines.empty?

      write(*lines.map { |line| line.end_with?("\n") ? line : "#{line}\n" })
      nil
    end

    # Nothing to do: writes are buffered by the engine (see drain); here
    # for code that calls IO#flush.
    def flush
      self
    end

    # Writes several chunks in one call.
    def writelines(chunks)
      Native.check(C.uvs_stream_writev(@handle, chunks.map(&:to_s)), 'writelines')
      nil
    end

    # Waits until the write buffer is down to the low watermark.
    def drain(timeout: nil)
      Native.run('drain', timeout, ->(op) { C.uvs_stream_drain_start(@handle, op) })
      nil
    end

    # Half-closes the sending side once the buffered bytes are sent.
    def write_eof
      Native.check(C.uvs_stream_write_eof(@handle), 'write_eof')
      nil
    end

    # Whether the transport can half-close (#write_eof): true for TCP and
    # Unix sockets.
    def can_write_eof?
      C.uvs_stream_can_write_eof(@handle) == 1
    end

    # Bytes written and not yet handed to the kernel.
    def write_buffer_size
      Native.check(C.uvs_stream_write_buffer_size(@handle))
    end

    # The write watermarks (nil: the defaults).
    def set_write_limits(high: nil, low: nil)
      Native.check(C.uvs_stream_set_write_limits(@handle, high || -1, low || -1))
      nil
    end

    # ---- TLS

    # Upgrades the stream to TLS with a TLSConfig (its side decides client
    # or server); returns once the handshake is done.
    def start_tls(config, server_hostname: nil, timeout: nil)
      values = { server_hostname: server_hostname }
      Native.with_options(values, config.handle) do |opts|
        Native.run('start_tls', timeout, ->(op) { C.uvs_stream_start_tls_start(@handle, opts, op) })
      end
      nil
    end

    # ---- closing

    # Graceful close: what was written is still sent. Returns at once.
    def close
      C.uvs_stream_close(@handle)
      nil
    end

    # Immediate close: drops the write buffer, resets a TCP connection.
    def abort
      C.uvs_stream_abort(@handle)
      nil
    end

    # True once close or abort was called or the connection was lost.
    def closed?
      C.uvs_stream_is_closing(@handle) != 0
    end

    # Waits until the stream is closed; raises the error that closed it.
    def wait_closed(timeout: nil)
      Native.run('wait_closed', timeout, ->(op) { C.uvs_stream_wait_closed_start(@handle, op) })
      nil
    end

    # ---- information

    # "host:port", "[v6]:port" or the socket path of each end.
    def peername
      info('peername')
    end

    # The local end's name, in the same form as #peername.
    def sockname
      info('sockname')
    end

    # [host, port] of the peer, or its path for a Unix socket.
    def remote_address
      address('peer')
    end

    # [host, port] of the local end, or its path for a Unix socket.
    def local_address
      address('sock')
    end

    # The reader's buffer limit.
    def limit
      info('limit')
    end

    # An extra-info value by key (see uvstreams.h): Integer or String, nil
    # when the key does not apply to this stream.
    def info(key)
      key = key.to_s
      getter = INT_INFO.include?(key) ? :uvs_stream_get_int : :uvs_stream_get_str
      rc, value = C.public_send(getter, @handle, key)
      return nil if rc == C::UVS_ENOENT

      Native.check(rc, key)
      value
    end

    # The TLS session's details, or nil for a plain stream.
    def tls_info
      return nil unless info('tls') == 1

      %w[tls.version tls.cipher tls.alpn tls.peer.subject tls.peer.issuer tls.peer.san]
        .to_h { |key| [key.delete_prefix('tls.').tr('.', '_').to_sym, info(key)] }
        .merge(verified: info('tls.verified') == 1)
    end

    # The raw handle (for UVStreams::C).
    attr_reader :handle

    private

    def run_read(what, timeout, &start)
      Native.run(what, timeout, start)
    end

    def read_to_eof(timeout)
      run_read('read', timeout) { |op| C.uvs_stream_read_start(@handle, -1, op) }
    end

    def address(side)
      path = info("#{side}.path")
      return path if path

      host = info("#{side}.host")
      host && [host, info("#{side}.port")]
    end
  end
end
