package UVStreams::TLS;

use strict;
use warnings;

use UVStreams::Raw ();
use UVStreams::Core qw(throw_last);
use UVStreams::Error;

=head1 NAME

UVStreams::TLS - TLS configurations (OpenSSL, in the engine)

=head1 SYNOPSIS

    my $tls = UVStreams::TLS->client(ca_file => 'ca.pem');
    my $s = UVStreams->connect_tcp('localhost', 8443, tls => $tls);
    print $s->extra_info('tls.version'), "\n";

    my $server_tls = UVStreams::TLS->server(cert_file => 'cert.pem',
                                            key_file  => 'key.pem');
    my $server = UVStreams->listen_tcp('127.0.0.1', 0, tls => $server_tls);

=head1 DESCRIPTION

A configuration is built in one call from named settings, each a
C<uvs_tls_config_*> call, and is then passed as C<< tls => $config >> to
connect, listen or C<start_tls>; the engine does the handshakes, so a TLS
stream reads and writes plaintext like any other. Clients verify the
server against the system trust store plus the CAs given here, and check
the host name (C<server_hostname>, default the host connected to; "" turns
the name check off). Failures die with L<UVStreams::TLSError> (and
L<UVStreams::TLSVerifyError> for a failed verification, the reason in its
message). Connections keep their own reference to a configuration.

Settings (all optional):

    verify       'none', 'optional' or 'required' (clients: 'required';
                 servers: 'none', i.e. no client certificates)
    ca_file, ca_dir, ca_pem            trusted CAs
    cert_file, key_file, password      certificate chain and key (servers;
    cert_pem, key_pem                  clients offering a certificate)
    alpn         "h2,http/1.1" or ['h2', 'http/1.1']
    min_version, max_version           '1.2' or '1.3'
    ciphers      OpenSSL cipher list for TLS 1.2

=cut

my %VERIFY = (
    none     => UVStreams::Raw::UVS_TLS_VERIFY_NONE(),
    optional => UVStreams::Raw::UVS_TLS_VERIFY_OPTIONAL(),
    required => UVStreams::Raw::UVS_TLS_VERIFY_REQUIRED(),
);
my %VERSION = ('1.2' => UVStreams::Raw::UVS_TLS1_2(),
               '1.3' => UVStreams::Raw::UVS_TLS1_3());

# Each setting as its C call, in the order they are applied.
my @SETTERS = (
    [verify => sub {
        my ($h, $o) = @_;
        my $mode = $VERIFY{ $o->{verify} } // _invalid("verify", $o->{verify});
        UVStreams::Raw::uvs_tls_config_set_verify($h, $mode);
    }],
    [ca_file => sub { UVStreams::Raw::uvs_tls_config_load_ca_file($_[0], "$_[1]{ca_file}") }],
    [ca_dir  => sub { UVStreams::Raw::uvs_tls_config_load_ca_dir($_[0], "$_[1]{ca_dir}") }],
    [ca_pem  => sub { UVStreams::Raw::uvs_tls_config_load_ca_pem($_[0], $_[1]{ca_pem}) }],
    [cert_file => sub {
        my ($h, $o) = @_;
        UVStreams::Raw::uvs_tls_config_load_cert_file($h, "$o->{cert_file}",
            _str($o->{key_file}), _str($o->{password}));
    }],
    [cert_pem => sub {
        my ($h, $o) = @_;
        UVStreams::Raw::uvs_tls_config_load_cert_pem($h, $o->{cert_pem},
            $o->{key_pem} // '', _str($o->{password}));
    }],
    [alpn => sub {
        my ($h, $o) = @_;
        my $alpn = ref $o->{alpn} ? join(',', @{ $o->{alpn} }) : $o->{alpn};
        UVStreams::Raw::uvs_tls_config_set_alpn($h, "$alpn");
    }],
    [ciphers => sub { UVStreams::Raw::uvs_tls_config_set_ciphers($_[0], "$_[1]{ciphers}") }],
);

sub _str { defined $_[0] ? "$_[0]" : undef }

sub _invalid {
    my ($setting, $value) = @_;
    die UVStreams::Error->for_code(UVStreams::Raw::UVS_EINVAL(),
        operation => 'tls', message => "invalid $setting: $value");
}

=head1 METHODS

=over

=item UVStreams::TLS->client(%settings), UVStreams::TLS->server(%settings)

A configuration for that side.

=cut

sub client { $_[0]->_new(UVStreams::Raw::UVS_TLS_CLIENT(), @_[1 .. $#_]) }
sub server { $_[0]->_new(UVStreams::Raw::UVS_TLS_SERVER(), @_[1 .. $#_]) }

sub _new {
    my ($class, $side, %settings) = @_;
    my ($rc, $h) = UVStreams::Raw::uvs_tls_config_new($side);
    throw_last($rc, 'tls');
    my $self = bless { h => $h, pid => $$ }, $class;
    for my $setter (@SETTERS) {
        my ($name, $call) = @$setter;
        throw_last($call->($h, \%settings), "tls $name")
            if defined $settings{$name};
    }
    $self->_set_versions(%settings);
    return $self;
}

sub _set_versions {
    my ($self, %settings) = @_;
    my @versions = map {
        my $v = $settings{$_};
        !defined $v ? 0 : $VERSION{$v} // _invalid($_, $v);
    } qw(min_version max_version);
    throw_last(UVStreams::Raw::uvs_tls_config_set_versions($self->{h},
        @versions), 'tls versions') if grep { $_ } @versions;
}

=item handle

The C<uvs_tls_config> handle.

=back

=cut

sub handle { $_[0]{h} }

sub CLONE_SKIP { 1 }

sub DESTROY {
    my ($self) = @_;
    UVStreams::Raw::uvs_tls_config_free($self->{h}) if $self->{pid} == $$;
}

1;
