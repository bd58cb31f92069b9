#!/usr/bin/perl
# 05-tls.t - TLS with a certificate made at test time by the openssl
# command (self-signed, for localhost and 127.0.0.1): a client verifying it
# with ca_file against `openssl s_server` and against a uvstreams TLS
# server, and the failures (unknown CA, wrong host name) as TLS errors.
use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::More;
use UVStreams;

my $T = 10;
my $DIR = tempdir(CLEANUP => 1);
my ($CERT, $KEY) = ("$DIR/cert.pem", "$DIR/key.pem");

# Runs $code with STDERR sent to /dev/null (openssl's chatter), also for the
# processes it starts.
sub quietly {
    my ($code) = @_;
    open my $saved, '>&', \*STDERR or die "dup STDERR: $!";
    open STDERR, '>', '/dev/null' or die "/dev/null: $!";
    my @result = $code->();
    open STDERR, '>&', $saved or die "restore STDERR: $!";
    return wantarray ? @result : $result[0];
}

quietly(sub { system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
       '-keyout', $KEY, '-out', $CERT, '-days', '1', '-subj', '/CN=localhost',
       '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1') }) == 0
    && -s $CERT
    or BAIL_OUT('openssl could not make a certificate');

sub dies_with {
    my ($code, $class, $name) = @_;
    my $ok = !eval { $code->(); 1 };
    my $error = $@;
    ok($ok && ref $error && $error->isa($class), $name)
        or diag('got: ' . ($ok ? 'no exception' : $error));
    return $error;
}

subtest 'client against openssl s_server' => sub {
    my $out;
    my $pid = quietly(sub {
        open($out, '-|', 'openssl', 's_server', '-accept', '127.0.0.1:0',
             '-cert', $CERT, '-key', $KEY, '-rev', '-naccept', '1')
    }) // die "openssl s_server: $!";
    my $port;
    while (my $line = <$out>) {
        last if ($port) = $line =~ /\AACCEPT .*:(\d+)$/;
    }
    ok($port, 's_server listens') or return;
    my $tls = UVStreams::TLS->client(ca_file => $CERT);
    my $s = UVStreams->connect_tcp('127.0.0.1', $port, tls => $tls,
                                   timeout => $T);
    like($s->extra_info('tls.version'), qr/\ATLSv1\.[23]\z/, 'TLS version');
    is($s->extra_info('tls.verified'), 1, 'the server was verified');
    like($s->extra_info('tls.peer.subject'), qr/CN=localhost/, 'its subject');
    $s->write("hello\n");
    is($s->readline(timeout => $T), "olleh\n", 'a line through s_server -rev');
    $s->close;
    kill 'TERM', $pid;
    close $out;
};

subtest 'client and server in uvstreams' => sub {
    my $server_tls = UVStreams::TLS->server(cert_file => $CERT,
                                            key_file => $KEY);
    my $server = UVStreams->listen_tcp('127.0.0.1', 0, tls => $server_tls);
    my $port = $server->port;
    my $c = UVStreams->connect_tcp('localhost', $port, timeout => $T,
        family => 4, tls => UVStreams::TLS->client(ca_file => $CERT,
                                                   min_version => '1.2'));
    my $s = $server->accept(timeout => $T);
    $c->write("ping\n");
    is($s->readline(timeout => $T), "ping\n", 'client to server');
    $s->write("pong\n");
    is($c->readline(timeout => $T), "pong\n", 'server to client');
    is($s->extra_info('tls'), 1, 'the accepted stream is TLS');
    like($c->extra_info('tls.peer_cert_der'), qr/\A\x30/, 'DER certificate');

    my $e = dies_with(sub {
        UVStreams->connect_tcp('127.0.0.1', $port, tls => 1, timeout => $T)
    }, 'UVStreams::TLSVerifyError', 'an unknown CA fails verification');
    is($e->name, 'ETLSVERIFY', 'ETLSVERIFY');
    like($e->message, qr/self.signed/i, 'with the reason');
    dies_with(sub {
        UVStreams->connect_tcp('127.0.0.1', $port, timeout => $T,
            tls => UVStreams::TLS->client(ca_file => $CERT),
            server_hostname => 'wrong.example')
    }, 'UVStreams::TLSVerifyError', 'a wrong host name fails verification');
    my $unverified = UVStreams->connect_tcp('127.0.0.1', $port, timeout => $T,
        tls => UVStreams::TLS->client(verify => 'none'));
    is($unverified->extra_info('tls.verified'), 0, "verify => 'none'");
};

subtest 'invalid configurations' => sub {
    dies_with(sub { UVStreams::TLS->client(verify => 'sometimes') },
              'UVStreams::InvalidArgumentError', 'an unknown verify mode');
    dies_with(sub { UVStreams::TLS->client(min_version => '1.1') },
              'UVStreams::InvalidArgumentError', 'TLS 1.1');
    dies_with(sub { UVStreams::TLS->client(ca_file => "$DIR/missing.pem") },
              'UVStreams::Error', 'a missing CA file');
};

done_testing();
