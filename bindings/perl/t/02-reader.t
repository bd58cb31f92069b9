#!/usr/bin/perl
# 02-reader.t - the read calls' asyncio semantics, on the standalone reader
# (UVStreams->reader: bytes fed by the test, no network, deterministic).
use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use UVStreams;

sub reader_with {
    my ($bytes, %options) = @_;
    my $eof = delete $options{eof};
    my $r = UVStreams->reader(%options);
    $r->feed_data($bytes);
    $r->feed_eof if $eof;
    return $r;
}

sub dies_with {
    my ($code, $class, $name) = @_;
    my $ok = !eval { $code->(); 1 };
    my $error = $@;
    ok($ok && ref $error && $error->isa($class), $name)
        or diag("got: " . ($ok ? $error : 'no exception'));
    return $error;
}

subtest 'read' => sub {
    my $r = reader_with("hello world", eof => 1);
    is($r->read(0), '', 'read(0) is empty');
    is($r->read(5), 'hello', 'read(n) takes at most n');
    is($r->read, ' world', 'read() reads to EOF');
    is($r->read(10), '', '"" at EOF');
    ok($r->at_eof, 'at_eof');
};

subtest 'readline' => sub {
    my $r = reader_with("one\ntwo\nthree", eof => 1);
    is($r->readline, "one\n", 'first line');
    is($r->readline, "two\n", 'second line');
    is($r->readline, 'three', 'the unterminated last line');
    is($r->readline, '', 'then ""');
};

subtest 'readline over the limit' => sub {
    my $r = reader_with("line1\nline2\n", limit => 3);
    my $e = dies_with(sub { $r->readline }, 'UVStreams::LimitOverrunError',
                      'LimitOverrunError');
    like($e->message, qr/Separator is found/, "asyncio's message");
    is($r->read(6), "line2\n", 'the long line was discarded');
};

subtest 'readexactly' => sub {
    my $r = reader_with("abcdefgh", eof => 1);
    is($r->readexactly(3), 'abc', 'three bytes');
    is($r->readexactly(0), '', 'zero bytes');
    my $e = dies_with(sub { $r->readexactly(10) },
                      'UVStreams::IncompleteReadError', 'EOF first');
    is($e->partial, 'defgh', 'partial');
    is($e->expected, 10, 'expected');
    is($r->read, '', 'the buffer is empty after');
    dies_with(sub { $r->readexactly(-1) }, 'UVStreams::InvalidArgumentError',
              'a negative size is invalid');
};

subtest 'readuntil' => sub {
    my $r = reader_with("key=value;rest");
    is($r->readuntil('='), 'key=', 'a separator');
    is($r->readuntil(';'), 'value;', 'the next');
    dies_with(sub { $r->readuntil('') }, 'UVStreams::InvalidArgumentError',
              'an empty separator is invalid');
    is($r->readexactly(4), 'rest', 'the buffer is unchanged');
    $r->feed_data("line 1\nline 2\r");
    is($r->readuntil(["\r", "\n"]), "line 1\n", 'several separators');
    is($r->readuntil(["\r", "\n"]), "line 2\r", 'again');
    $r->feed_data('ABCDEFG');
    is($r->readuntil(['DEF', 'BCDE']), 'ABCDE', 'the earliest end wins');
    dies_with(sub { $r->readuntil([]) }, 'UVStreams::InvalidArgumentError',
              'no separator is invalid');
};

subtest 'readuntil over the limit and at EOF' => sub {
    my $r = reader_with("some dataAA", limit => 3);
    my $e = dies_with(sub { $r->readuntil('AAA') },
                      'UVStreams::LimitOverrunError', 'not found');
    is($e->consumed, 9, 'consumed');
    $r->feed_data('A');
    $e = dies_with(sub { $r->readuntil('AAA') },
                   'UVStreams::LimitOverrunError', 'found past the limit');
    is($e->consumed, 9, 'consumed');
    is($r->readexactly(12), 'some dataAAA', 'nothing was consumed');
    $r->feed_data('ta');
    $r->feed_eof;
    $e = dies_with(sub { $r->readuntil('X') },
                   'UVStreams::IncompleteReadError', 'EOF first');
    is($e->partial, 'ta', 'the whole buffer is partial');
    is($e->expected, undef, 'expected is undef for readuntil');
};

subtest 'timeouts consume nothing' => sub {
    my $r = reader_with('par');
    my $t0 = time;
    my $e = dies_with(sub { $r->readline(timeout => 0.2) },
                      'UVStreams::TimeoutError', 'readline times out');
    my $took = time - $t0;
    ok($took >= 0.15, "not before its time ($took s)");
    is($e->name, 'ETIMEDOUT', 'ETIMEDOUT');
    dies_with(sub { $r->readexactly(4, timeout => 0) },
              'UVStreams::TimeoutError', 'timeout 0 does not wait');
    $r->feed_data("tial\n");
    is($r->readline(timeout => 1), "partial\n", 'nothing was consumed');
    dies_with(sub { $r->read(1, timeout => -1) },
              'UVStreams::InvalidArgumentError', 'a negative timeout');
};

done_testing();
