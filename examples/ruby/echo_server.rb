# frozen_string_literal: true

# TCP echo server with uvstreams: each connection is served in its own
# thread (UVStreams::Server#serve), echoing every line back until the client
# closes. Prints "serving on HOST:PORT" once it listens (port 0 picks a free
# one), then runs until interrupted (Ctrl-C or SIGTERM).
#
#   ruby -Ibuild/ruby examples/ruby/echo_server.rb [HOST] [PORT]

require 'uvstreams'

host = ARGV.fetch(0, '127.0.0.1')
port = Integer(ARGV.fetch(1, 8888))

UVStreams::Server.listen(host, port) do |server|
  bound_host, bound_port = server.addresses.first
  puts "serving on #{bound_host}:#{bound_port}"
  $stdout.flush
  trap('TERM') { server.close }
  begin
    server.serve do |conn|
      conn.each_line do |line|
        puts "received #{line.inspect} from #{conn.peername}"
        $stdout.flush
        conn.write(line)
        conn.drain
      end
    end
  rescue Interrupt
    nil
  end
end
