#!/usr/bin/perl
# 03-tcp.t - TCP and Unix-domain connections through the blocking API:
# connect and accept, reads and writes both ways, drain, write_eof, close,
# addresses, timeouts, refused and reset connections.
use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::More;
use UVStreams;

my $T = 5;    # seconds: the safety timeout of every call below

sub dies_with {
    my ($code, $class, $name) = @_;
    my $ok = !eval { $code->(); 1 };
    my $error = $@;
    ok($ok && ref $error && $error->isa($class), $name)
        or diag('got: ' . ($ok ? 'no exception' : $error));
    return $error;
}

# A connected pair: (client, accepted server side, server).
sub tcp_pair {
    my (%options) = @_;
    my $server = UVStreams->listen_tcp('127.0.0.1', 0);
    my $client = UVStreams->connect_tcp('127.0.0.1', $server->port,
                                        timeout => $T, %options);
    return ($client, $server->accept(timeout => $T), $server);
}

subtest 'exchange and addresses' => sub {
    my ($c, $s, $server) = tcp_pair();
    is($server->host, '127.0.0.1', 'server host');
    like($server->port, qr/\A\d+\z/, 'server port');
    is($c->peername, '127.0.0.1:' . $server->port, 'client peername');
    is($s->peername, $c->sockname, "server side's peer is the client");
    is($c->peerhost, '127.0.0.1', 'peerhost');
    is($c->peerport, $server->port, 'peerport');
    is($s->sockport, $server->port, 'sockport');
    is($c->kind, 'tcp', 'kind');
    like($c->fileno, qr/\A\d+\z/, 'fileno');
    is($c->extra_info('nodelay'), 1, 'extra_info: an integer');
    is($c->extra_info('direct_reads'), 1, 'client read by its waiting thread');
    is($s->extra_info('direct_reads'), 1, 'accepted side too');
    is($c->extra_info('no such key'), undef, 'extra_info: an unknown key');
    is($server->num_clients, 1, 'one client');

    ok($c->write("hello\n"), 'write');
    ok($c->writelines('wor', 'ld', "\n"), 'writelines');
    ok($c->drain(timeout => $T), 'drain');
    is($s->readline(timeout => $T), "hello\n", 'readline');
    is($s->readuntil("\n", timeout => $T), "world\n", 'readuntil');
    $s->write("\x00\xff" x 4);
    is($c->readexactly(8, timeout => $T), "\x00\xff" x 4, 'binary back');
    ok(!$c->at_eof, 'not at EOF');
    is($c->exception, undef, 'no stored error');
};

subtest 'half-close and close' => sub {
    my ($c, $s) = tcp_pair();
    ok($c->can_write_eof, 'can_write_eof');
    $c->write("request\n");
    ok($c->write_eof, 'write_eof');
    is($s->read(-1, timeout => $T), "request\n", 'the server reads to EOF');
    $s->write("response\n");
    $s->close;
    ok($s->is_closing, 'is_closing after close');
    ok($s->wait_closed(timeout => $T), 'wait_closed');
    is($c->readline(timeout => $T), "response\n", 'after its half-close');
    is($c->read(-1, timeout => $T), '', 'then EOF');
    ok($c->at_eof, 'at_eof');
    $c->close;
    dies_with(sub { $c->write('x') }, 'UVStreams::ClosedError',
              'write after close');
};

subtest 'a large transfer and the write watermarks' => sub {
    my ($c, $s) = tcp_pair(write_high => 1024, write_low => 256);
    is($c->extra_info('write_high'), 1024, 'write_high option');
    is($c->extra_info('write_low'), 256, 'write_low option');
    my $data = join '', map { chr($_ % 251) } 1 .. 1 << 20;
    $c->write($data);
    cmp_ok($c->write_buffer_size, '>=', 0, 'write_buffer_size');
    $c->close;
    is($s->read(-1, timeout => $T), $data, '1 MiB arrives intact');
    ok($s->set_write_limits(100, 10), 'set_write_limits');
    is($s->extra_info('write_high'), 100, 'applied');
    dies_with(sub { $s->set_write_limits(10, 100) },
              'UVStreams::InvalidArgumentError', 'low above high');
};

subtest 'timeouts' => sub {
    my ($c, $s, $server) = tcp_pair();
    dies_with(sub { $c->read(10, timeout => 0.1) }, 'UVStreams::TimeoutError',
              'read');
    $s->write('par');
    dies_with(sub { $c->readline(timeout => 0.1) }, 'UVStreams::TimeoutError',
              'readline with a partial line');
    $s->write("tial\n");
    is($c->readline(timeout => $T), "partial\n", 'nothing was lost');
    dies_with(sub { $server->accept(timeout => 0.1) },
              'UVStreams::TimeoutError', 'accept');
};

subtest 'refused and reset' => sub {
    my $server = UVStreams->listen_tcp('127.0.0.1', 0);
    my $port = $server->port;
    $server->close;
    $server->wait_closed(timeout => $T);
    my $e = dies_with(sub { UVStreams->connect_tcp('127.0.0.1', $port,
                                                    timeout => $T) },
                      'UVStreams::ConnectionRefusedError', 'refused');
    is($e->name, 'ECONNREFUSED', 'ECONNREFUSED');
    like("$e", qr/\Aconnect to 127\.0\.0\.1:$port: ECONNREFUSED/,
         'the message names the call');

    my ($c, $s) = tcp_pair();
    $s->abort;
    dies_with(sub { $c->read(10, timeout => $T) },
              'UVStreams::ConnectionResetError', 'a read sees the reset');
    isa_ok($c->exception, 'UVStreams::ConnectionResetError', 'exception');
    ok($c->write('dropped'), 'a write after the reset is dropped (asyncio)');
    dies_with(sub { $c->drain(timeout => $T) },
              'UVStreams::ConnectionResetError', 'drain reports it');
    dies_with(sub { UVStreams->connect_tcp('no-such-host.invalid', 80,
                                           timeout => $T) },
              'UVStreams::ResolveError', 'an unknown host');
};

subtest 'Unix-domain sockets' => sub {
    my $path = tempdir(CLEANUP => 1) . '/echo.sock';
    my $server = UVStreams->listen_unix($path);
    is($server->path, $path, 'server path');
    is($server->port, undef, 'no port');
    my $c = UVStreams->connect_unix($path, timeout => $T, limit => 4);
    my $s = $server->accept(timeout => $T);
    is($c->peerpath, $path, 'peerpath');
    is($s->sockpath, $path, 'sockpath');
    is($c->kind, 'unix', 'kind');
    is($c->extra_info('limit'), 4, 'limit option');
    $s->write("0123456789\n");
    dies_with(sub { $c->readline(timeout => $T) },
              'UVStreams::LimitOverrunError', 'the limit applies');
    $server->close;
    $server->close_clients;
    ok($server->wait_closed(timeout => $T), 'wait_closed');
    ok(!-e $path, 'the socket file is removed on close');
};

done_testing();
