#!/usr/bin/perl
# 06-examples.t - examples/perl/echo-server.pl and echo-client.pl run and
# do what they say: over TCP (port 0) and a Unix socket, the client's lines
# come back, a refused connect dies with the binding's message, and the
# server exits cleanly on SIGTERM. echo-server-anyevent.pl (when AnyEvent
# is there; t/08-anyevent.t says loudly when not) does the same with an
# idle client connected meanwhile. The examples run as child perls with
# this test's UVStreams directory on their @INC.
use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IPC::Open3 qw(open3);
use Test::More;
use UVStreams;

my $EXAMPLES = File::Spec->catdir(dirname(__FILE__), qw(.. .. .. examples perl));
my @PERL = ($^X, '-I' . dirname($INC{'UVStreams.pm'}));

# Starts echo-server.pl with @args: (pid, its stdout, the "serving on" text).
sub start_server { start_example('echo-server.pl', @_) }

sub start_example {
    my ($script, @args) = @_;
    my $pid = open(my $out, '-|', @PERL, "$EXAMPLES/$script", @args)
        // die "$script: $!";
    my $first = <$out> // '';
    my ($where) = $first =~ /\Aserving on (.+)$/;
    return ($pid, $out, $where);
}

sub stop_server {
    my ($pid, $out) = @_;
    kill 'TERM', $pid;
    my @rest = <$out>;
    close $out;
    return ($? >> 8, join '', @rest);
}

# Runs echo-client.pl: (exit status, stdout, stderr).
sub run_client {
    my @args = @_;
    my $pid = open3(my $in, my $out, undef, @PERL,
                    "$EXAMPLES/echo-client.pl", @args);
    close $in;
    my $output = join '', <$out>;
    waitpid $pid, 0;
    return ($? >> 8, $output);
}

subtest 'TCP' => sub {
    my ($pid, $out, $where) = start_server('127.0.0.1', 0);
    like($where, qr/\A127\.0\.0\.1:\d+\z/, 'serving on HOST:PORT');
    my ($host, $port) = split /:/, $where // '';
    my ($status, $output) = run_client($host, $port, 'hi there', 'again');
    is($status, 0, 'the client succeeds');
    is($output, "send: hi there\nreceived: hi there\n"
              . "send: again\nreceived: again\n", 'its lines come back');
    my ($server_status, $log) = stop_server($pid, $out);
    is($server_status, 0, 'the server exits 0 on SIGTERM');
    like($log, qr/received 9 bytes from 127\.0\.0\.1:\d+\n/, 'and logged');
    like($log, qr/closed\n\z/, 'after printing "closed"');
};

subtest 'Unix socket' => sub {
    my $path = tempdir(CLEANUP => 1) . '/echo.sock';
    my ($pid, $out, $where) = start_server('--unix', $path);
    is($where, $path, 'serving on PATH');
    my ($status, $output) = run_client('--unix', $path);
    is($status, 0, 'the client succeeds');
    is($output, "send: Hello World!\nreceived: Hello World!\n",
       'the default message comes back');
    is((stop_server($pid, $out))[0], 0, 'the server exits 0');
};

subtest 'AnyEvent server, an idle client connected' => sub {
    plan skip_all => 'AnyEvent is not installed' unless eval { require AnyEvent };
    my ($pid, $out, $where) = start_example('echo-server-anyevent.pl',
                                            '127.0.0.1', 0);
    my ($host, $port) = split /:/, $where // '';
    my $idle = UVStreams->connect_tcp($host, $port, timeout => 10);
    my ($status, $output) = run_client($host, $port, 'one', 'two');
    is($status, 0, 'the client succeeds while another is idle');
    is($output, "send: one\nreceived: one\nsend: two\nreceived: two\n",
       'its lines come back');
    $idle->write("late\n");
    is($idle->readline(timeout => 10), "late\n", 'the idle one is served');
    my ($server_status, $log) = stop_server($pid, $out);
    is($server_status, 0, 'the server exits 0 on SIGTERM');
    like($log, qr/closed\n\z/, 'after printing "closed"');
};

subtest 'refused' => sub {
    my $server = UVStreams->listen_tcp('127.0.0.1', 0);
    my $port = $server->port;
    $server->close;
    $server->wait_closed(timeout => 5);
    my ($status, $output) = run_client('127.0.0.1', $port);
    isnt($status, 0, 'the client fails');
    like($output, qr/connect to 127\.0\.0\.1:$port: ECONNREFUSED/,
         'with the exception as its message');
};

done_testing();
