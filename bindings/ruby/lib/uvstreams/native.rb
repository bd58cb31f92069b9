# frozen_string_literal: true

# The glue between the Ruby classes and UVStreams::C: status codes become
# exceptions, the process's engine, option objects, and the one way a
# blocking method waits.
#
# Design: one threaded engine (io_threads = 1) per process does all the I/O;
# it is freed when the interpreter exits (a finalizer, so after every
# at_exit handler: buffered writes of streams still open are flushed).
# A blocking method starts the library's asynchronous operation on a private
# op (no completion queue) whose deadline is the call's timeout, and waits
# with uvs_op_wait, which runs without the GVL, so other threads go on. An
# interrupt (Thread#raise, Thread#kill, Ctrl-C) cancels the op through the
# extension's unblocking function: the wait returns, Ruby raises the
# interrupt, and the ensure clause gives back the bytes of a read that won
# the race (uvs_op_unread) or closes a connection made meanwhile, so nothing
# is lost. An interrupt that raises nothing (a trap handler that returns)
# restarts the operation with the time left; a cancelled read consumed
# nothing. The wait is cut in slices (SLICE_MS) because Ruby does not always
# call the unblocking function for a signal: when the main thread is waiting
# and the other threads that were alive when the wait began have ended,
# nothing delivers it until the thread comes back to Ruby.

module UVStreams
  # Internal helpers of the Ruby layer (not a public API).
  module Native # :nodoc: all
    READ_KINDS = [C::UVS_OP_READ, C::UVS_OP_READEXACTLY, C::UVS_OP_READUNTIL,
                  C::UVS_OP_READLINE].freeze
    STREAM_KINDS = [C::UVS_OP_CONNECT, C::UVS_OP_ACCEPT].freeze
    SLICE_MS = 200

    # Owns the process's engine; its finalizer frees it at exit. A forked
    # child makes its own and leaves the parent's alone: the parent's I/O
    # thread is not in the child, so freeing it there would wait forever.
    class Engine
      attr_reader :handle, :pid

      def initialize
        @handle = Native.with_options(io_threads: 1) { |o| Native.unpack(C.uvs_engine_new(o)) }
        @pid = Process.pid
        ObjectSpace.define_finalizer(self, Engine.releaser(@handle))
      end

      def self.releaser(handle)
        Native.releaser { C.uvs_engine_free(handle) }
      end
    end

    @engine = nil
    @engine_lock = Mutex.new

    module_function

    # A finalizer that runs free only in the process that makes it: a forked
    # child leaves its parent's engine, streams and servers alone (freeing
    # them there would wait for an I/O thread the child does not have).
    def releaser(&free)
      pid = Process.pid
      proc { free.call if Process.pid == pid }
    end

    # rc when it is not negative, else raises its exception.
    def check(rc, what = nil)
      raise UVStreams.error(rc, C.uvs_last_error, what) if rc.negative?

      rc
    end

    # The out-value(s) of a [status, out...] result, or raises.
    def unpack(ret, what = nil)
      check(ret[0], what)
      ret.size == 2 ? ret[1] : ret.drop(1)
    end

    # The engine handle shared by every stream and server of the process.
    def engine
      @engine_lock.synchronize do
        @engine = Engine.new if @engine.nil? || @engine.pid != Process.pid
        @engine.handle
      end
    end

    # Yields a uvs_options handle holding the non-nil values (Integers,
    # booleans or Strings) and the TLS configuration handle, then frees it.
    def with_options(values, tls = nil)
      opts = unpack(C.uvs_options_new)
      values.each { |key, value| set_option(opts, key.to_s, value) unless value.nil? }
      check(C.uvs_options_set_tls(opts, tls), 'TLS option') if tls
      yield opts
    ensure
      C.uvs_options_free(opts) if opts
    end

    def set_option(opts, key, value)
      rc = case value
           when String then C.uvs_options_set_str(opts, key, value)
           when true, false then C.uvs_options_set_int(opts, key, value ? 1 : 0)
           else C.uvs_options_set_int(opts, key, Integer(value))
           end
      check(rc, "option #{key}")
    end

    # Runs one operation to its end: start.call(op) begins it (a *_start
    # status); the value is a read's bytes, a connect's or accept's stream
    # handle, or nil. timeout in seconds (nil: none).
    # peek: a read's bytes are also put back into the stream.
    def run(what, timeout, start, peek: false)
      op = unpack(C.uvs_op_new(nil, 0))
      finished = false
      deadline = timeout && (clock + timeout)
      loop do
        check(C.uvs_op_set_timeout(op, remaining_ms(deadline)))
        wait(op) if check(start.call(op), what) == C::UVS_PENDING
        code = C.uvs_op_result(op)
        next if code == C::UVS_ECANCELED # interrupted: raised, or go again

        finished = true
        result = outcome(op, code, what, timeout)
        C.uvs_op_unread(op) if peek
        return result
      end
    ensure
      abandon(op) if op && !finished
      C.uvs_op_free(op) if op
    end

    # The bytes of a read (start) that stay in the stream for the next one.
    def peek(what, timeout, start)
      run(what, timeout, start, peek: true)
    end

    def wait(op)
      nil while C.uvs_op_wait(op, SLICE_MS) == C::UVS_ETIMEDOUT
    end

    def outcome(op, code, what, timeout)
      if code == C::UVS_ETIMEDOUT && timeout
        raise TimeoutError.new("ETIMEDOUT: #{what} timed out after #{timeout} s", code)
      end
      raise UVStreams.op_error(code, op, what) if code.negative?

      kind = C.uvs_op_kind(op)
      return unpack(C.uvs_op_data(op)) if READ_KINDS.include?(kind)
      return unpack(C.uvs_op_take_stream(op)) if STREAM_KINDS.include?(kind)

      nil
    end

    # An operation left by an exception: cancelled, its read bytes put back,
    # its new stream (if one was made meanwhile) closed.
    def abandon(op)
      C.uvs_op_cancel(op)
      C.uvs_op_wait(op, -1)
      C.uvs_op_unread(op)
      rc, stream = C.uvs_op_take_stream(op)
      C.uvs_stream_free(stream) if rc.zero? && stream
    end

    def remaining_ms(deadline)
      return -1 unless deadline

      [((deadline - clock) * 1000).ceil, 0].max
    end

    def clock
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
  private_constant :Native
end
