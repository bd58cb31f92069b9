#!/usr/bin/perl
# 08-anyevent.t - the concurrent-server pattern of UVStreams::AnyEvent: an
# echo server written with the *_async calls, in one AnyEvent loop, serves
# 50 clients (a forked child using the blocking API): 49 stay idle with a
# read pending on the server while one does 200 round trips (each bounded
# by a generous timeout, so a server stalled by an idle client fails); with
# all 50 idle the process (its I/O thread included) uses near no CPU for a
# second (times(), not wall-clock); a client's reset reaches the server's
# pending read as UVStreams::ConnectionResetError; a per-operation timeout
# is a UVStreams::TimeoutError that consumes nothing. Without AnyEvent the
# test says so loudly and skips, or fails under CI=true (Debian's
# libanyevent-perl is in the Perl part's DEB_PACKAGES).
use strict;
use warnings;

use POSIX qw(_exit);
use Scalar::Util qw(blessed);
use Test::More;

BEGIN {
    if (!eval { require AnyEvent; 1 }) {
        my $why = 'AnyEvent is not installed (Debian: libanyevent-perl)';
        diag "\n*** 08-anyevent.t: $why: UVStreams::AnyEvent NOT TESTED ***\n";
        fail("AnyEvent is required under CI: $why") if $ENV{CI};
        $ENV{CI} ? done_testing() : plan(skip_all => $why);
        exit;
    }
}
use UVStreams;
use UVStreams::AnyEvent;

my ($CLIENTS, $ROUND_TRIPS, $T) = (50, 200, 10);
my $IDLE_CPU_BOUND = 0.2;

my $server = UVStreams->listen_tcp('127.0.0.1', 0);
my $port = $server->port;

# --- the clients: a child with the blocking API, one line per event -----

sub run_clients {
    my ($report) = @_;
    my @idle = map { UVStreams->connect_tcp('127.0.0.1', $port, timeout => $T) }
        1 .. $CLIENTS - 1;
    my $busy = UVStreams->connect_tcp('127.0.0.1', $port, timeout => $T);
    for my $i (1 .. $ROUND_TRIPS) {
        $busy->write("line $i\n");
        my $echo = $busy->readline(timeout => $T);
        die "round trip $i: got '$echo'\n" unless $echo eq "line $i\n";
    }
    $report->("busy done\n");
    $report->("idle\n");
    sleep 3;                     # the parent measures its CPU meanwhile
    $idle[0]->abort;             # a reset under a pending server read
    sleep 1;
    $_->close for @idle[1 .. $#idle], $busy;
    $_->wait_closed(timeout => $T) for @idle[1 .. $#idle], $busy;
}

pipe(my $from_child, my $to_parent) or die "pipe: $!";
my $pid = fork // die "fork: $!";
if (!$pid) {
    close $from_child;
    $to_parent->autoflush(1);
    my $report = sub { print {$to_parent} @_ };
    $report->("died: $@") unless eval { run_clients($report); 1 };
    close $to_parent;
    _exit(0);
}
close $to_parent;

# --- the server ------------------------------------------------------------

my (%served, @errors, $accepted);

sub echo {
    my ($stream) = @_;
    $stream->readline_async->cb(sub {
        my $line = eval { $_[0]->recv };
        return push @errors, $@ unless defined $line;
        return $stream->close unless length $line;
        $served{$stream} = 1;
        $stream->write($line);
        echo($stream);
    });
}

sub accept_next {
    $server->accept_async->cb(sub {
        my $stream = eval { $_[0]->recv } or return;
        $accepted++;
        echo($stream);
        accept_next();
    });
}

accept_next();

# --- the test, driven by the child's lines --------------------------------

my $finished = AnyEvent->condvar;
my ($idle_cpu, $busy_done, $child_said);
my $watchdog = AnyEvent->timer(after => 120,
    cb => sub { $finished->send('watchdog: nothing for 120 s') });

sub cpu_seconds { my @t = times; return $t[0] + $t[1] }

my $measure;
sub start_measuring {
    my $before = cpu_seconds();
    $measure = AnyEvent->timer(after => 1, cb => sub {
        $idle_cpu = cpu_seconds() - $before;
        undef $measure;
    });
}

my $pending_bytes = '';
my $lines = AnyEvent->io(fh => $from_child, poll => 'r', cb => sub {
    my $got = sysread $from_child, $pending_bytes, 4096, length $pending_bytes;
    return $finished->send('child done') unless $got;
    while ($pending_bytes =~ s/\A(.*\n)//) {
        my $line = $1;
        $child_said .= $line;
        $busy_done = 1 if $line eq "busy done\n";
        start_measuring() if $line eq "idle\n";
    }
});
my $end = $finished->recv;
undef $lines;
waitpid($pid, 0);

is($end, 'child done', 'the clients ran to their end');
unlike($child_said // '', qr/died/, 'no client call died')
    or diag $child_said;
ok($busy_done, "the busy client did $ROUND_TRIPS round trips, each under "
    . "$T s, while " . ($CLIENTS - 1) . " clients were idle");
is($accepted, $CLIENTS, "$CLIENTS clients accepted at once");
ok(defined $idle_cpu && $idle_cpu < $IDLE_CPU_BOUND,
   "CPU with all clients idle for 1 s: "
   . (defined $idle_cpu ? sprintf('%.3f s', $idle_cpu) : 'not measured')
   . " (bound $IDLE_CPU_BOUND)");
is(scalar(@errors), 1, 'one server read failed: the reset one');
ok(blessed $errors[0] && $errors[0]->isa('UVStreams::ConnectionResetError'),
   'a reset is a UVStreams::ConnectionResetError')
    or diag "got: @errors";

# --- a per-operation timeout, and bad arguments ---------------------------

my $client = UVStreams->connect_tcp_async('127.0.0.1', $port,
                                          timeout => $T)->recv;
my $timed = $client->readline_async(timeout => 0.2);
my $line = __LINE__ - 1;
ok(!eval { $timed->recv; 1 }, 'a read past its timeout dies');
my $error = $@;
ok(blessed $error && $error->isa('UVStreams::TimeoutError'),
   'as a UVStreams::TimeoutError') or diag "got: $error";
is_deeply([$error->file, $error->line], [__FILE__, $line],
          'the error names the _async call');
$client->write("after timeout\n");
is($client->readline_async(timeout => $T)->recv, "after timeout\n",
   'the stream still works, nothing consumed');
$client->write_eof;
is($client->readline_async(timeout => $T)->recv, '',
   'EOF once the server saw ours and closed');
$client->close;
ok($client->wait_closed_async(timeout => $T)->recv, 'close, then wait_closed_async');

ok(!eval { $client->readline_async(timeout => -1); 1 }
   && $@->isa('UVStreams::InvalidArgumentError'),
   'a bad argument dies at once');

done_testing();
