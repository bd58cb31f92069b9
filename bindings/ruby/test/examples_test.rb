# frozen_string_literal: true

# The examples of examples/ruby run as a user would: the echo server as a
# process, the echo client against it and against a closed port.

require_relative 'helper'
require 'open3'
require 'rbconfig'

class ExamplesTest < Minitest::Test
  EXAMPLES = File.expand_path('../../../examples/ruby', __dir__)
  LIB = $LOAD_PATH.find { |dir| File.exist?(File.join(dir, 'uvstreams.rb')) }

  def ruby(script, *args)
    [RbConfig.ruby, "-I#{LIB}", File.join(EXAMPLES, script), *args.map(&:to_s)]
  end

  def test_echo_client_and_server
    Open3.popen2(*ruby('echo_server.rb', '127.0.0.1', 0)) do |_stdin, stdout, server|
      port = stdout.gets[/\Aserving on 127\.0\.0\.1:(\d+)$/, 1]
      refute_nil port, 'the server prints its address'
      out, status = Open3.capture2e(*ruby('echo_client.rb', '127.0.0.1', port, 'hello', 'two words'))
      assert status.success?, out
      assert_equal "send: \"hello\"\nreceived: \"hello\"\nsend: \"two words\"\nreceived: \"two words\"\n", out
      assert_match(/received "hello\\n" from 127\.0\.0\.1:\d+/, stdout.gets)
      Process.kill('TERM', server.pid)
      assert server.value.success?, 'the server exits cleanly on SIGTERM'
    end
  end

  def test_echo_client_reports_a_refused_connection
    port = TCPServer.new('127.0.0.1', 0).then { |s| s.addr[1].tap { s.close } }
    out, status = Open3.capture2e(*ruby('echo_client.rb', '127.0.0.1', port))
    assert_equal 1, status.exitstatus
    assert_match(/echo_client: ECONNREFUSED: connect to 127\.0\.0\.1:#{port}: connection refused/, out)
  end
end
