#!/usr/bin/perl
# 07-fork.t - a stream or server used in a child of fork dies at once with
# UVStreams::ForkedError (the library's UVS_EFORKED) instead of failing
# silently: close in the child must not leave the parent's peer without
# EOF for nothing, an 8 MiB write must not deliver part of its bytes. The
# parent's stream is untouched: its peer sees none of the child's bytes and
# the parent keeps using it.
use strict;
use warnings;

use POSIX qw(_exit);
use Scalar::Util qw(blessed);
use Test::More;
use UVStreams;

my $T = 10;

# Runs $code in a child; returns what it printed (one line per check).
sub in_child {
    my ($code) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my $out = eval { $code->() } // "died: $@";
        print {$w} $out;
        close $w;
        _exit(0);
    }
    close $w;
    my $got = do { local $/; <$r> };
    waitpid($pid, 0);
    return $got;
}

# "ForkedError: MESSAGE" for the exception of $code, or what it returned.
sub outcome {
    my ($code) = @_;
    my $ok = eval { $code->(); 1 };
    return 'returned' if $ok;
    return ref($@) . ': ' . $@->message . "\n" if blessed $@;
    return "died: $@";
}

my $server = UVStreams->listen_tcp('127.0.0.1', 0);
my $client = UVStreams->connect_tcp('127.0.0.1', $server->port, timeout => $T);
my $peer = $server->accept(timeout => $T);

my $big = 'x' x (8 * 1024 * 1024);
my $report = in_child(sub {
    join '',
        map { "$_->[0]: " . outcome($_->[1]) } (
            ['write 8 MiB', sub { $client->write($big) }],
            ['drain',       sub { $client->drain(timeout => 1) }],
            ['readline',    sub { $client->readline(timeout => 1) }],
            ['close',       sub { $client->close }],
            ['server close', sub { $server->close }],
        );
});
for my $call ('write 8 MiB', 'drain', 'readline', 'close', 'server close') {
    like($report, qr/^\Q$call\E: UVStreams::ForkedError: .*other than the one that created it/m,
         "$call in a forked child dies with UVStreams::ForkedError");
}

# Nothing of the child's write arrived, and its close closed nothing: the
# next bytes the peer reads are the parent's, and it sees no EOF.
$client->write("from the parent\n");
$client->drain(timeout => $T);
is($peer->readline(timeout => $T), "from the parent\n",
   'the peer got none of the child\'s 8 MiB, only the parent\'s line');
ok(!$client->is_closing, 'the child\'s close did not close the parent\'s stream');
$peer->write("still open\n");
is($client->readline(timeout => $T), "still open\n",
   'the parent\'s stream still works both ways');

# A child makes streams of its own.
my $port = $server->port;
my $own = in_child(sub {
    my $c = UVStreams->connect_tcp('127.0.0.1', $port, timeout => $T);
    $c->write("child's own\n");
    $c->close;
    return "ok\n";
});
is($own, "ok\n", 'a child connects with a stream of its own');
is($server->accept(timeout => $T)->readline(timeout => $T), "child's own\n",
   'its bytes arrive');

$client->close;
$peer->close;
$server->close;
done_testing;
