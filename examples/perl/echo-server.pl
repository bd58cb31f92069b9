#!/usr/bin/perl
# echo-server.pl - a line echo server with the uvstreams Perl binding.
#
#   perl -Ibuild/perl examples/perl/echo-server.pl [HOST [PORT]]
#   perl -Ibuild/perl examples/perl/echo-server.pl --unix PATH
#
# Prints "serving on HOST:PORT" (the port read back from the server, so
# port 0 works) or "serving on PATH", then echoes every line of each client
# back until the client closes. The blocking API serves one client at a
# time, in this thread (UVStreams::Server->serve); the engine keeps
# accepting and queueing the others meanwhile (echo-server-anyevent.pl
# serves them all at once). On SIGINT/SIGTERM the server
# and its clients are closed, so the client being served sees EOF and
# serve() returns; then it prints "closed" and exits 0.
use strict;
use warnings;

use UVStreams;

$| = 1;

sub listen_on {
    my @args = @_;
    return UVStreams->listen_unix($args[1]) if @args && $args[0] eq '--unix';
    return UVStreams->listen_tcp($args[0] // '127.0.0.1', $args[1] // 8888);
}

sub echo {
    my ($stream) = @_;
    my $peer = $stream->peername // 'unix client';
    while (length(my $line = $stream->readline)) {
        print "received ", length $line, " bytes from $peer\n";
        $stream->write($line);
        $stream->drain;
    }
}

my $server = listen_on(@ARGV);
my $where = defined $server->path ? $server->path
                                  : join ':', $server->host, $server->port;
print "serving on $where\n";
$SIG{INT} = $SIG{TERM} = sub {
    $server->close;
    $server->close_clients;
};
$server->serve(\&echo);
$server->wait_closed(timeout => 5);
print "closed\n";
