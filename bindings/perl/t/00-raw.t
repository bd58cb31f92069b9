#!/usr/bin/perl
# 00-raw.t - the generated module UVStreams::Raw: it loads, and its typemaps
# give the shapes perl.i documents (status first, handles as integers,
# undef for NULL, byte strings in and out, array references of buffers).
use strict;
use warnings;

use Test::More;
use UVStreams;

my $R = 'UVStreams::Raw';

is(UVStreams->library_version, '0.1.0', 'library version string');
is(UVStreams::Raw::uvs_version(), 0x000100, 'uvs_version');
is(UVStreams::Raw::UVS_ETIMEDOUT(), -110, 'error constants are constant subs');
is(UVStreams::Raw::uvs_err_name(UVStreams::Raw::UVS_ELIMIT()), 'ELIMIT',
   'uvs_err_name');
is(UVStreams::Raw::UVS_OP_READLINE(), 6, 'op kinds');

subtest 'status first, then out-values' => sub {
    my ($rc, $opts) = UVStreams::Raw::uvs_options_new();
    is($rc, 0, 'uvs_options_new status');
    like($opts, qr/\A\d+\z/, 'a handle is an integer');
    is(UVStreams::Raw::uvs_options_set_int($opts, 'limit', 1234), 0, 'set_int');
    my ($get_rc, $value) = UVStreams::Raw::uvs_options_get_int($opts, 'limit');
    is_deeply([$get_rc, $value], [0, 1234], 'int64 out-parameter');
    is(UVStreams::Raw::uvs_options_free($opts), 0, 'free');
    is(UVStreams::Raw::uvs_options_free($opts),
       UVStreams::Raw::UVS_EBADHANDLE(), 'a stale handle is EBADHANDLE');
    is(UVStreams::Raw::uvs_options_free(undef),
       UVStreams::Raw::UVS_EBADHANDLE(), 'undef is NULL');
    is(UVStreams::Raw::uvs_stream_close(12345),
       UVStreams::Raw::UVS_EBADHANDLE(), 'a forged handle is EBADHANDLE');
};

subtest 'bytes in and out' => sub {
    my ($rc, $r) = UVStreams::Raw::uvs_reader_new(undef, undef);
    is($rc, 0, 'reader without an engine');
    my $bytes = join '', map { chr } 0 .. 255;
    is(UVStreams::Raw::uvs_reader_feed_data($r, $bytes), 0, 'feed');
    my ($read_rc, $line) = UVStreams::Raw::uvs_stream_readexactly($r, 256, 0);
    is($read_rc, 0, 'blocking readexactly status');
    is($line, $bytes, 'all 256 byte values survive');
    ok(!utf8::is_utf8($line), 'output is a byte string');
    my $upgraded = "caf\x{e9}\n";
    utf8::upgrade($upgraded);
    UVStreams::Raw::uvs_reader_feed_data($r, $upgraded);
    (undef, $line) = UVStreams::Raw::uvs_stream_readline($r, 0);
    is($line, "caf\xe9\n", 'an upgraded string goes in as its bytes');
    ok(!eval { UVStreams::Raw::uvs_reader_feed_data($r, "\x{263a}"); 1 },
       'a wide character dies');
    like($@, qr/Wide character/, '... as syswrite does');
    UVStreams::Raw::uvs_reader_feed_data($r, "a;b|");
    my ($until_rc, $data, $consumed) =
        UVStreams::Raw::uvs_stream_readuntil_any($r, ['|', ';'], 0);
    is_deeply([$until_rc, $data, $consumed], [0, 'a;', -1],
              'array reference of buffers; bytes and consumed out');
    ok(!eval { UVStreams::Raw::uvs_stream_readuntil_any($r, 'x', 0); 1 },
       'a non-array buffer list dies');
    like($@, qr/array reference/, '... saying what it expects');
    UVStreams::Raw::uvs_reader_feed_eof($r);
    my @eof = UVStreams::Raw::uvs_stream_readexactly($r, 5, 0);
    is($eof[0], UVStreams::Raw::UVS_EINCOMPLETE(), 'EINCOMPLETE');
    is($eof[1], 'b|', 'with the partial bytes');
    is(UVStreams::Raw::uvs_stream_free($r), 0, 'free the reader');
};

subtest 'strings and int out-parameters' => sub {
    my $server = UVStreams->listen_tcp('127.0.0.1', 0);
    is(UVStreams::Raw::uvs_server_num_addresses($server->handle), 1,
       'one address');
    my ($rc, $host, $port) =
        UVStreams::Raw::uvs_server_address($server->handle, 0);
    is($rc, 0, 'uvs_server_address status');
    is($host, '127.0.0.1', 'char ** out');
    cmp_ok($port, '>', 0, 'int * out');
    my ($cq_rc, $cq) = UVStreams::Raw::uvs_cq_new(UVStreams::Core::engine());
    is($cq_rc, 0, 'completion queue');
    my ($n, $ops) = UVStreams::Raw::uvs_cq_poll($cq, 8);
    is_deeply([$n, $ops], [0, []], 'uvs_cq_poll: the count, then the ops');
    ok(!eval { UVStreams::Raw::uvs_cq_poll($cq, 0); 1 }, 'max 0 dies');
    UVStreams::Raw::uvs_cq_free($cq);
};

done_testing();
