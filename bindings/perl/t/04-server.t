#!/usr/bin/perl
# 04-server.t - UVStreams::Server->serve with clients in forked processes
# (each child makes its own engine), closing the server from the handler;
# and a signal handler that dies interrupting a blocking read without
# losing the bytes that complete it.
use strict;
use warnings;

use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(time);
use UVStreams;

my $T = 5;

# Runs $code in a child process; its exit status is 0 when it returned.
sub in_child {
    my ($code) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my $ok = eval { $code->(); 1 };
    print STDERR "child: $@" unless $ok;
    _exit($ok ? 0 : 1);
}

subtest 'serve, with clients in child processes' => sub {
    my $server = UVStreams->listen_tcp('127.0.0.1', 0);
    my $port = $server->port;
    my @children = map {
        my $n = $_;
        in_child(sub {
            my $c = UVStreams->connect_tcp('127.0.0.1', $port, timeout => $T);
            $c->write("client $n\n");
            my $reply = $c->readline(timeout => $T);
            die "bad reply '$reply'\n" unless $reply eq "echo: client $n\n";
            $c->close;
            $c->wait_closed(timeout => $T);
        });
    } 1 .. 3;
    my $served = 0;
    local $SIG{ALRM} = sub { die "serve did not return\n" };
    alarm 20;
    $server->serve(sub {
        my ($stream) = @_;
        while (length(my $line = $stream->readline(timeout => $T))) {
            $stream->write("echo: $line");
        }
        $server->close if ++$served == 3;
    });
    alarm 0;
    is($served, 3, 'three connections served, then serve returned');
    for my $pid (@children) {
        waitpid $pid, 0;
        is($?, 0, "client $pid succeeded");
    }
    ok($server->wait_closed(timeout => $T), 'wait_closed');
    is(scalar $server->addresses, 0, 'no address once closed');
};

subtest 'accept on a closed server' => sub {
    my $server = UVStreams->listen_tcp('127.0.0.1', 0);
    $server->close;
    ok(!eval { $server->accept(timeout => $T); 1 }, 'dies');
    isa_ok($@, 'UVStreams::ClosedError');
};

subtest 'start_serving => 0' => sub {
    my $server = UVStreams->listen_tcp('127.0.0.1', 0, start_serving => 0);
    ok(!$server->is_serving, 'bound, not serving');
    ok($server->start_serving, 'start_serving');
    ok($server->is_serving, 'serving');
};

subtest 'a dying signal handler interrupts a read' => sub {
    my $server = UVStreams->listen_tcp('127.0.0.1', 0);
    my $c = UVStreams->connect_tcp('127.0.0.1', $server->port, timeout => $T);
    my $s = $server->accept(timeout => $T);
    $s->write('par');
    my $t0 = time;
    my $ok = eval {
        local $SIG{ALRM} = sub { die "alarm\n" };
        Time::HiRes::alarm(0.3);
        $c->readline;
        1;
    };
    Time::HiRes::alarm(0);
    ok(!$ok, 'the read was interrupted');
    is($@, "alarm\n", "by the handler's exception");
    cmp_ok(time - $t0, '<', 3, 'promptly');
    $s->write("tial\n");
    is($c->readline(timeout => $T), "partial\n", 'no byte was lost');
};

done_testing();
