# frozen_string_literal: true

# UVStreams' exceptions: one class per kind of failure a Ruby program tells
# apart, all under UVStreams::Error, which carries the library's negative
# code (#code) and its name (#code_name, "ECONNREFUSED", "ELIMIT").
#
# Design: the C library reports every failure as a negative code; the one
# mapping from code to class is CLASSES below, used by UVStreams.error.
# Codes shared with errno also answer #errno, which is what Ruby's
# SystemCallError.=== compares, so `rescue Errno::ECONNREFUSED` (or
# Errno::ETIMEDOUT, Errno::ECONNRESET, ...) catches the matching
# UVStreams error too, without UVStreams errors being SystemCallErrors.

require 'timeout'

module UVStreams
  # What every exception of the library answers: the code, its name and,
  # for system codes, errno. Included by Error and by TimeoutError (whose
  # superclass is Timeout::Error).
  module Failure
    # The library's negative code (UVStreams::C::UVS_E*).
    attr_reader :code

    # An error with the library's +code+; the message defaults to the
    # code's name and description.
    def initialize(message = nil, code = C::UVS_EINTERNAL)
      @code = code
      super(message || "#{code_name}: #{C.uvs_strerror(code)}")
    end

    # The code's name, "ECONNRESET", "ELIMIT", ...
    def code_name
      C.uvs_err_name(code)
    end

    # The errno value for codes shared with errno (nil for the library's own
    # codes): lets `rescue Errno::EXXX` match.
    def errno
      -code if code > -3000 && code.negative?
    end
  end

  # Every failure of the library (`rescue UVStreams::Error` also catches
  # TimeoutError, which is a Timeout::Error).
  class Error < StandardError
    include Failure

    # True for every UVStreams failure when matched against Error itself
    # (so `rescue UVStreams::Error` also catches TimeoutError, a
    # Timeout::Error); subclasses match as usual.
    def self.===(other)
      super || (equal?(Error) && other.is_a?(Failure))
    end
  end

  # End of stream before a readexactly/readuntil could complete.
  class IncompleteReadError < Error
    # The bytes read before the end of the stream (ASCII-8BIT).
    attr_reader :partial
    # The size asked for (readexactly), nil for readuntil.
    attr_reader :expected

    # +partial+: the bytes read, +expected+: the size asked for (or nil).
    def initialize(partial, expected, code = C::UVS_EINCOMPLETE)
      @partial = partial
      @expected = expected
      total = expected ? "#{expected} expected bytes" : 'undefined expected bytes'
      super("EINCOMPLETE: #{partial.bytesize} bytes read on a total of #{total}", code)
    end
  end

  # The separator was not found within the buffer limit. Nothing was
  # consumed (except for readline, which drops the over-long line).
  class LimitOverrunError < Error
    # How many bytes to consume to get past the problem (nil if unknown).
    attr_reader :consumed

    # +consumed+: the bytes to consume to get past the problem (or nil).
    def initialize(message, consumed, code = C::UVS_ELIMIT)
      @consumed = consumed
      super(message, code)
    end
  end

  # A call's timeout expired (a read that times out consumes nothing). A
  # Timeout::Error, as Ruby's own socket timeouts, so `rescue
  # Timeout::Error` catches it; it has Error's accessors, and `rescue
  # UVStreams::Error` still catches it (Error.=== below).
  class TimeoutError < Timeout::Error
    include Failure

    # +message+: what timed out, +code+: the library's error code.
    def initialize(message = nil, code = C::UVS_ETIMEDOUT)
      super
    end
  end

  # The connection could not be made or was lost.
  class ConnectionError < Error; end
  # Nothing listens at the address (rescue Errno::ECONNREFUSED works too).
  class ConnectionRefusedError < ConnectionError; end
  # The peer reset the connection.
  class ConnectionResetError < ConnectionError; end
  # The connection was aborted locally.
  class ConnectionAbortedError < ConnectionError; end
  # Writing to a connection whose peer is gone.
  class BrokenPipeError < ConnectionError; end

  # The stream or server is closed, or its writing side was (write_eof).
  class ClosedError < Error; end
  # An argument the library refuses (UVS_EINVAL).
  class InvalidArgumentError < Error; end
  # A host name that could not be resolved (UVS_EAI_*).
  class ResolveError < Error; end
  # A stream, server or engine used in a child of the process that made it
  # (after fork): the call did nothing; the child makes its own.
  class ForkedError < Error; end
  # A TLS protocol failure.
  class TLSError < Error; end
  # The peer's certificate did not verify.
  class TLSVerifyError < TLSError; end

  CLASSES = {
    C::UVS_ETIMEDOUT => TimeoutError,
    C::UVS_ECONNREFUSED => ConnectionRefusedError,
    C::UVS_ECONNRESET => ConnectionResetError,
    C::UVS_ECONNABORTED => ConnectionAbortedError,
    C::UVS_EPIPE => BrokenPipeError,
    C::UVS_ECLOSED => ClosedError,
    C::UVS_EWRITEEOF => ClosedError,
    C::UVS_EINVAL => InvalidArgumentError,
    C::UVS_EFORKED => ForkedError,
    C::UVS_EAI_AGAIN => ResolveError,
    C::UVS_EAI_FAIL => ResolveError,
    C::UVS_EAI_FAMILY => ResolveError,
    C::UVS_EAI_NODATA => ResolveError,
    C::UVS_EAI_NONAME => ResolveError,
    C::UVS_EAI_SERVICE => ResolveError,
    C::UVS_ETLS => TLSError,
    C::UVS_ETLSVERIFY => TLSVerifyError
  }.freeze
  private_constant :CLASSES

  # The exception for a negative code. detail is the library's message
  # (uvs_last_error or uvs_op_error); what names the call ("readline",
  # "connect to host:port") when the library gave no detail.
  def self.error(code, detail = '', what = nil)
    text = detail.to_s.empty? ? C.uvs_strerror(code) : detail
    text = "#{what}: #{text}" if what && detail.to_s.empty?
    CLASSES.fetch(code, Error).new("#{C.uvs_err_name(code)}: #{text}", code)
  end

  # The exception for a completed operation that failed: its partial bytes
  # and counts come from the op.
  def self.op_error(code, op, what)
    case code
    when C::UVS_EINCOMPLETE
      _, partial = C.uvs_op_data(op)
      expected = C.uvs_op_expected(op)
      IncompleteReadError.new(partial, expected.negative? ? nil : expected)
    when C::UVS_ELIMIT
      consumed = C.uvs_op_consumed(op)
      message = C.uvs_op_error(op)
      message = C.uvs_strerror(code) if message.empty?
      LimitOverrunError.new("ELIMIT: #{message}", consumed.negative? ? nil : consumed)
    else
      error(code, C.uvs_op_error(op), what)
    end
  end
end
