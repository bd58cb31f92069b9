package UVStreams::Error;

use strict;
use warnings;

use UVStreams::Raw ();

use overload '""' => \&as_string, 'bool' => sub { 1 }, fallback => 1;

=head1 NAME

UVStreams::Error - the exceptions uvstreams dies with

=head1 SYNOPSIS

    use Scalar::Util qw(blessed);
    my $line = eval { $stream->readline(timeout => 2) };
    if (blessed $@ && $@->isa('UVStreams::TimeoutError')) { ... }
    if (blessed $@ && $@->isa('UVStreams::IncompleteReadError')) {
        warn "EOF after ", length $@->partial, " bytes";
    }

=head1 DESCRIPTION

Every failing call of the binding dies with an object of this class or of
one of its subclasses, picked from the library's error code in one place
(C<for_code>), so a caller tests kinds with C<isa> and reads the details
with accessors:

    code       the library's negative code (-110)
    name       its name ("ETIMEDOUT")
    message    the detail ("readline timed out", "connect to 127.0.0.1:1:
               connection refused", asyncio's limit-overrun messages)
    operation  the call that failed ("readline", "connect", ...)
    file, line where the caller outside UVStreams made the call

The object stringifies as C<"readline: ETIMEDOUT: ... at FILE line N.\n">,
so an uncaught one reads like any Perl error. The kinds mirror Python's
asyncio streams:

    UVStreams::IncompleteReadError  EINCOMPLETE  ->partial, ->expected
                                                 (undef for readuntil)
    UVStreams::LimitOverrunError    ELIMIT       ->consumed
    UVStreams::TimeoutError         ETIMEDOUT
    UVStreams::ConnectionError      ECONNABORTED and the three below
      UVStreams::ConnectionRefusedError  ECONNREFUSED
      UVStreams::ConnectionResetError    ECONNRESET
      UVStreams::BrokenPipeError         EPIPE
    UVStreams::InvalidArgumentError EINVAL
    UVStreams::ClosedError          ECLOSED (the stream or server is closed)
    UVStreams::ForkedError          EFORKED (a stream or server used in a
                                    child of the process that made it)
    UVStreams::ResolveError         EAI_* (host name resolution)
    UVStreams::TLSError             ETLS
      UVStreams::TLSVerifyError     ETLSVERIFY

Any other code (EBADHANDLE, EWRITEEOF, ...) gives a plain UVStreams::Error.

=cut

my %CLASS_OF = (
    UVStreams::Raw::UVS_EINCOMPLETE()  => 'UVStreams::IncompleteReadError',
    UVStreams::Raw::UVS_ELIMIT()       => 'UVStreams::LimitOverrunError',
    UVStreams::Raw::UVS_ETIMEDOUT()    => 'UVStreams::TimeoutError',
    UVStreams::Raw::UVS_ECONNABORTED() => 'UVStreams::ConnectionError',
    UVStreams::Raw::UVS_ECONNREFUSED() => 'UVStreams::ConnectionRefusedError',
    UVStreams::Raw::UVS_ECONNRESET()   => 'UVStreams::ConnectionResetError',
    UVStreams::Raw::UVS_EPIPE()        => 'UVStreams::BrokenPipeError',
    UVStreams::Raw::UVS_EINVAL()       => 'UVStreams::InvalidArgumentError',
    UVStreams::Raw::UVS_ECLOSED()      => 'UVStreams::ClosedError',
    UVStreams::Raw::UVS_EFORKED()      => 'UVStreams::ForkedError',
    UVStreams::Raw::UVS_ETLS()         => 'UVStreams::TLSError',
    UVStreams::Raw::UVS_ETLSVERIFY()   => 'UVStreams::TLSVerifyError',
    map { UVStreams::Raw->can("UVS_$_")->() => 'UVStreams::ResolveError' }
        qw(EAI_AGAIN EAI_FAIL EAI_FAMILY EAI_NODATA EAI_NONAME EAI_SERVICE),
);

=head1 METHODS

=over

=item UVStreams::Error->for_code($code, %fields)

The exception object for a negative library code: its class is chosen by
the code; C<%fields> are C<operation>, C<message> (default: the code's
description) and the kind's own (C<partial>, C<expected>, C<consumed>).

=cut

sub for_code {
    my ($class, $code, %fields) = @_;
    my $kind = $CLASS_OF{$code} // 'UVStreams::Error';
    my $message = $fields{message};
    $fields{message} = UVStreams::Raw::uvs_strerror($code)
        unless defined $message && length $message;
    return $kind->new(%fields, code => $code);
}

=item $class->new(%fields)

Makes an exception; C<code> is required. The caller's file
and line are those of the first frame outside the UVStreams packages.

=cut

sub new {
    my ($class, %fields) = @_;
    my ($file, $line) = _user_frame();
    return bless {
        operation => 'uvstreams',
        %fields,
        name => UVStreams::Raw::uvs_err_name($fields{code}),
        file => $file,
        line => $line,
    }, $class;
}

sub _user_frame {
    for (my $level = 1; my @frame = caller $level; $level++) {
        return @frame[1, 2] unless $frame[0] =~ /\AUVStreams(?:::|\z)/;
    }
    return ('(unknown)', 0);
}

=item code, name, message, operation, file, line

The accessors of every kind.

=cut

for my $field (qw(code name message operation file line)) {
    no strict 'refs';
    *$field = sub { $_[0]{$field} };
}

=item as_string

C<"OPERATION: NAME: MESSAGE at FILE line LINE.\n">, also what the object
stringifies to.

=back

=cut

sub as_string {
    my ($self) = @_;
    return sprintf "%s: %s: %s at %s line %d.\n",
        @{$self}{qw(operation name message file line)};
}

package UVStreams::IncompleteReadError;
our @ISA = ('UVStreams::Error');
# The bytes read before EOF, and the count asked for (undef: readuntil).
sub partial  { $_[0]{partial} // '' }
sub expected { $_[0]{expected} }

package UVStreams::LimitOverrunError;
our @ISA = ('UVStreams::Error');
# How many bytes of the buffer were searched without finding a separator.
sub consumed { $_[0]{consumed} }

package UVStreams::TimeoutError;
our @ISA = ('UVStreams::Error');

package UVStreams::ConnectionError;
our @ISA = ('UVStreams::Error');

package UVStreams::ConnectionRefusedError;
our @ISA = ('UVStreams::ConnectionError');

package UVStreams::ConnectionResetError;
our @ISA = ('UVStreams::ConnectionError');

package UVStreams::BrokenPipeError;
our @ISA = ('UVStreams::ConnectionError');

package UVStreams::InvalidArgumentError;
our @ISA = ('UVStreams::Error');

package UVStreams::ClosedError;
our @ISA = ('UVStreams::Error');

package UVStreams::ForkedError;
our @ISA = ('UVStreams::Error');

package UVStreams::ResolveError;
our @ISA = ('UVStreams::Error');

package UVStreams::TLSError;
our @ISA = ('UVStreams::Error');

package UVStreams::TLSVerifyError;
our @ISA = ('UVStreams::TLSError');

1;
