#!/usr/bin/perl
# 01-errors.t - UVStreams::Error: codes map to the documented kinds, with
# their accessors, and stringify like a Perl error at the caller's line.
use strict;
use warnings;

use Test::More;
use UVStreams;

my %KIND = (
    EINCOMPLETE  => 'UVStreams::IncompleteReadError',
    ELIMIT       => 'UVStreams::LimitOverrunError',
    ETIMEDOUT    => 'UVStreams::TimeoutError',
    ECONNREFUSED => 'UVStreams::ConnectionRefusedError',
    ECONNRESET   => 'UVStreams::ConnectionResetError',
    EPIPE        => 'UVStreams::BrokenPipeError',
    ECONNABORTED => 'UVStreams::ConnectionError',
    EINVAL       => 'UVStreams::InvalidArgumentError',
    ECLOSED      => 'UVStreams::ClosedError',
    EFORKED      => 'UVStreams::ForkedError',
    EAI_NONAME   => 'UVStreams::ResolveError',
    ETLS         => 'UVStreams::TLSError',
    ETLSVERIFY   => 'UVStreams::TLSVerifyError',
    EBADHANDLE   => 'UVStreams::Error',
);

for my $name (sort keys %KIND) {
    my $code = UVStreams::Raw->can("UVS_$name")->();
    my $e = UVStreams::Error->for_code($code, operation => 'test');
    isa_ok($e, $KIND{$name}, $name);
    is($e->name, $name, "$name: name");
    is($e->code, $code, "$name: code");
    is($e->message, UVStreams::Raw::uvs_strerror($code),
       "$name: default message");
}

ok(UVStreams::ConnectionResetError->isa('UVStreams::ConnectionError'),
   'resets are connection errors');
ok(UVStreams::TLSVerifyError->isa('UVStreams::TLSError'),
   'verification failures are TLS errors');

subtest 'details and stringification' => sub {
    my $r = UVStreams->reader;
    $r->feed_data('abc');
    $r->feed_eof;
    my $line = __LINE__ + 1;
    ok(!eval { $r->readexactly(5); 1 }, 'readexactly dies at EOF');
    my $e = $@;
    isa_ok($e, 'UVStreams::IncompleteReadError');
    is($e->partial, 'abc', 'partial');
    is($e->expected, 5, 'expected');
    is($e->operation, 'readexactly', 'operation');
    is($e->file, __FILE__, 'file of the caller');
    is($e->line, $line, 'line of the caller');
    is("$e", "readexactly: EINCOMPLETE: end of stream before the read could "
       . "complete at " . __FILE__ . " line $line.\n", 'stringifies');
    ok($e, 'is true in boolean context');
};

subtest 'unknown options are invalid arguments' => sub {
    ok(!eval { UVStreams->reader(limt => 5); 1 }, 'a misspelt option dies');
    isa_ok($@, 'UVStreams::InvalidArgumentError');
    like($@->message, qr/unknown option\(s\) limt/, 'naming it');
    ok(!eval { UVStreams->reader(limit => 0); 1 }, 'limit 0 dies');
    isa_ok($@, 'UVStreams::InvalidArgumentError');
};

done_testing();
