# frozen_string_literal: true

# Threads: a blocking call releases the GVL (other threads run meanwhile),
# and an interrupt (Thread#raise, Thread#kill, Ctrl-C) ends a wait at once
# without losing bytes.

require_relative 'helper'
require 'rbconfig'

class ThreadsTest < Minitest::Test
  include UVStreamsTestHelpers

  # How many times the main thread counts while the block runs in a thread.
  def count_while
    thread = Thread.new { yield }
    count = 0
    count += 1 while thread.alive?
    thread.join
    count
  end

  # A child of fork makes an engine of its own on first use (its first call
  # used to wait forever on the parent's); the parent's streams keep
  # working. The child ends with exit!, so that minitest's at_exit hook does
  # not run the suite again in it (tests/test_api.c checks that a child may
  # exit normally).
  def test_a_forked_child_makes_its_own_engine
    client, peer = connected_pair
    server = listen
    port = server.port # the server is the parent's: in the child, ForkedError
    pid = fork do
      child = UVStreams.connect('127.0.0.1', port, timeout: 5)
      child.write("child\n")
      ok = child.readline(timeout: 5) == "child\n"
      child.close
      exit!(ok ? 0 : 2)
    end
    accepted = server.accept(timeout: 10)
    @closers << accepted
    accepted.write(accepted.readline(timeout: 5))
    assert_equal 0, wait_child(pid, 30)
    peer.write("parent\n")
    assert_equal "parent\n", client.readline(timeout: 5)
  end

  # The child's exit status, or nil (after killing it) if it hangs.
  def wait_child(pid, seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      _, status = Process.waitpid2(pid, Process::WNOHANG)
      return status.exitstatus if status

      sleep 0.05
    end
    Process.kill(:KILL, pid)
    Process.waitpid(pid)
    nil
  end

  def test_a_waiting_read_lets_other_threads_run
    client, = connected_pair
    count = count_while { assert_raises(UVStreams::TimeoutError) { client.readline(timeout: 0.5) } }
    assert_operator count, :>, 100_000
  end

  def test_the_raw_blocking_calls_release_the_gvl
    client, = connected_pair
    count = count_while { assert_equal C::UVS_ETIMEDOUT, C.uvs_stream_readline(client.handle, 500)[0] }
    assert_operator count, :>, 100_000
  end

  def test_reads_of_several_threads_at_once
    pairs = Array.new(4) { connected_pair }
    readers = pairs.map { |client, _| Thread.new { client.readline(timeout: 5) } }
    pairs.each_with_index { |(_, peer), i| peer.write("line #{i}\n") }
    assert_equal(Array.new(4) { |i| "line #{i}\n" }, readers.map(&:value))
  end

  def test_thread_raise_interrupts_a_read_and_loses_nothing
    client, peer = connected_pair
    reader = Thread.new { client.readline }
    reader.report_on_exception = false
    sleep 0.1 until reader.status == 'sleep'
    reader.raise(RuntimeError, 'stop')
    # join(30) returns nil without raising if the read was not interrupted
    assert_raises(RuntimeError) { reader.join(30) }
    peer.write("still there\n")
    assert_equal "still there\n", client.readline(timeout: 5)
  end

  def test_thread_kill_interrupts_an_accept
    server = listen
    acceptor = Thread.new { server.accept }
    sleep 0.05 until acceptor.status == 'sleep'
    assert acceptor.kill.join(30), 'the accept was not interrupted'
    UVStreams.connect('127.0.0.1', server.port, timeout: 5) do |client|
      client.write("hi\n")
      assert_equal "hi\n", server.accept(timeout: 5).readline(timeout: 5)
    end
  end

  def test_ctrl_c_interrupts_a_waiting_main_thread
    server = listen
    # Ctrl-C as Ruby handles it by default, whatever was inherited: a shell
    # starts its background jobs with SIGINT ignored, and Ruby keeps that.
    script = <<~RUBY
      trap('INT', 'DEFAULT')
      require 'uvstreams'
      s = UVStreams.connect('127.0.0.1', #{server.port})
      puts 'ready'
      $stdout.flush
      begin
        s.readline
      rescue Interrupt
        puts 'interrupted'
      end
    RUBY
    IO.popen([RbConfig.ruby, "-I#{$LOAD_PATH.find { |d| File.exist?(File.join(d, 'uvstreams.rb')) }}", '-e', script]) do |io|
      assert_equal "ready\n", io.gets
      sleep 0.2
      Process.kill('INT', io.pid)
      # bounded: a lost signal fails here instead of hanging the suite
      unless IO.select([io], nil, nil, 30)
        Process.kill('KILL', io.pid)
        flunk 'the child did not answer SIGINT within 30 s'
      end
      assert_equal "interrupted\n", io.gets
    end
  end
end
