#!/usr/bin/perl
# echo-server-anyevent.pl - a line echo server serving many clients at once
# in one AnyEvent loop, with UVStreams::AnyEvent (needs libanyevent-perl).
#
#   perl -Ibuild/perl examples/perl/echo-server-anyevent.pl [HOST [PORT]]
#   perl -Ibuild/perl examples/perl/echo-server-anyevent.pl --unix PATH
#
# Prints "serving on HOST:PORT" (or PATH), then echoes every line of every
# client back until that client closes; an idle client holds nothing up
# (each client is a chain of readline_async callbacks, no fork, no thread
# per client) and an idle server uses no CPU. A client silent for 5 minutes
# is dropped (the read's timeout). On SIGINT/SIGTERM the server and its
# clients are closed; it prints "closed" and exits 0.
use strict;
use warnings;

use AnyEvent;
use UVStreams;
use UVStreams::AnyEvent;

$| = 1;
my $IDLE_TIMEOUT = 300;

sub listen_on {
    my @args = @_;
    return UVStreams->listen_unix($args[1]) if @args && $args[0] eq '--unix';
    return UVStreams->listen_tcp($args[0] // '127.0.0.1', $args[1] // 8888);
}

# One client: read a line, echo it, wait for the write buffer to drain,
# again; ends at EOF, on an error or when the client stays silent too long.
sub echo {
    my ($stream, $peer) = @_;
    $stream->readline_async(timeout => $IDLE_TIMEOUT)->cb(sub {
        my $line = eval { $_[0]->recv };
        if (!defined $line) {
            print "dropped $peer: $@";
            return $stream->abort;
        }
        return $stream->close unless length $line;
        print "received ", length $line, " bytes from $peer\n";
        $stream->write($line);
        $stream->drain_async->cb(sub {
            echo($stream, $peer) if eval { $_[0]->recv };
        });
    });
}

my $server = listen_on(@ARGV);

sub accept_next {
    $server->accept_async->cb(sub {
        my $stream = eval { $_[0]->recv } or return;   # the server closed
        echo($stream, $stream->peername // 'unix client');
        accept_next();
    });
}

my $where = defined $server->path ? $server->path
                                  : join ':', $server->host, $server->port;
print "serving on $where\n";
my $stopped = AnyEvent->condvar;
my @signals = map {
    AnyEvent->signal(signal => $_, cb => sub { $stopped->send })
} qw(INT TERM);
accept_next();
$stopped->recv;
$server->close;
$server->close_clients;
$server->wait_closed_async(timeout => 5)->recv;
print "closed\n";
