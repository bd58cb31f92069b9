#!/usr/bin/perl
# echo-client.pl - a line echo client with the uvstreams Perl binding.
#
#   perl -Ibuild/perl examples/perl/echo-client.pl [HOST [PORT [MESSAGE...]]]
#   perl -Ibuild/perl examples/perl/echo-client.pl --unix PATH [MESSAGE...]
#
# Connects (5 s timeout), sends each MESSAGE as a line ("Hello World!" by
# default), printing "send: MESSAGE" and then "received: LINE" for what
# comes back (each reply within 5 s), and closes. A failure dies with the
# binding's exception, e.g. "connect to 127.0.0.1:8888: ECONNREFUSED:
# connection refused at ... line N." and exit status 255.
use strict;
use warnings;

use UVStreams;

$| = 1;

my $TIMEOUT = 5;

sub connect_to {
    my ($args) = @_;
    if (@$args && $args->[0] eq '--unix') {
        my (undef, $path) = splice @$args, 0, 2;
        return UVStreams->connect_unix($path, timeout => $TIMEOUT);
    }
    my ($host, $port) = splice @$args, 0, 2;
    return UVStreams->connect_tcp($host // '127.0.0.1', $port // 8888,
                                  timeout => $TIMEOUT);
}

my @args = @ARGV;
my $stream = connect_to(\@args);
for my $message (@args ? @args : ('Hello World!')) {
    print "send: $message\n";
    $stream->write("$message\n");
    $stream->drain(timeout => $TIMEOUT);
    my $reply = $stream->readline(timeout => $TIMEOUT);
    chomp $reply;
    print "received: $reply\n";
}
$stream->close;
$stream->wait_closed(timeout => $TIMEOUT);
