# frozen_string_literal: true

# TCP echo client with uvstreams: sends each MESSAGE as one line and prints
# the line that comes back. Exits with status 1 and the library's message
# when the server cannot be reached (e.g. connection refused).
#
#   ruby -Ibuild/ruby examples/ruby/echo_client.rb [HOST] [PORT] [MESSAGE...]

require 'uvstreams'

host = ARGV.fetch(0, '127.0.0.1')
port = Integer(ARGV.fetch(1, 8888))
messages = ARGV.drop(2)
messages = ['Hello World!'] if messages.empty?

begin
  UVStreams.connect(host, port, timeout: 10) do |stream|
    messages.each do |message|
      puts "send: #{message.inspect}"
      stream.write("#{message}\n")
      stream.drain(timeout: 10)
      puts "received: #{stream.readline(timeout: 10).chomp.inspect}"
    end
  end
rescue UVStreams::Error => e
  warn "echo_client: #{e.message}"
  exit 1
end
