package UVStreams::Stream;

use strict;
use warnings;

use UVStreams::Raw ();
use UVStreams::Core qw(call_options run_op check throw_last async_methods);

=head1 NAME

UVStreams::Stream - one connection, with blocking asyncio-style calls

=head1 SYNOPSIS

    my $s = UVStreams->connect_tcp('127.0.0.1', 8888, timeout => 5);
    $s->write("hello\n");
    $s->drain;
    my $line = $s->readline(timeout => 2);     # "" at EOF
    my $head = $s->readuntil("\r\n\r\n");
    my $body = $s->readexactly(42);
    $s->close;
    $s->wait_closed;

=head1 DESCRIPTION

A thin object over a C<uvs_stream> handle: every method is one C call (the
reads and C<drain>, C<wait_closed> and C<start_tls> through
L<UVStreams::Core/run_op>), so the semantics are the engine's, which are
asyncio's: the reader's buffer C<limit>, C<read(-1)> until EOF,
C<readexactly> dying with the partial bytes at EOF, C<readuntil> dying
with C<consumed> when the limit is overrun, writes that buffer and
C<drain> that waits for the write buffer to fall to its low watermark.

Every call that can wait takes C<< timeout => SECONDS >> (fractions allowed,
undef or absent: for ever) and dies with a L<UVStreams::TimeoutError> when
it expires; a read that times out consumes nothing. Failures die with
L<UVStreams::Error> objects. Byte strings in and out: writing a string with
characters above 0xFF dies ("Wide character"); encode it first.

The object owns its handle: it is released (closing the stream gracefully
if still open) when the object goes away. Objects are not shared with
threads made by C<threads> (CLONE_SKIP). A stream belongs to the process
that made it: in a forked child every call on it, C<close> included, dies
at once with a L<UVStreams::ForkedError> and does nothing (no byte
written, the parent's connection left open); the child makes its own
streams.

=head1 METHODS

=cut

# Wraps a handle; the object owns it from now on.
sub new {
    my ($class, $h) = @_;
    return bless { h => $h, pid => $$ }, $class;
}

sub CLONE_SKIP { 1 }

sub DESTROY {
    my ($self) = @_;
    UVStreams::Raw::uvs_stream_free($self->{h}) if $self->{pid} == $$;
}

=head2 handle

The C<uvs_stream> handle, for the functions of L<UVStreams::Raw>.

=cut

sub handle { $_[0]{h} }

# ---- reading --------------------------------------------------------------

sub _read {
    my ($self, $operation, $timeout, $start) = @_;
    return run_op($operation, $timeout, $start, \&_op_bytes);
}

sub _true { 1 }

sub _op_bytes {
    my (undef, $bytes) = UVStreams::Raw::uvs_op_data($_[0]);
    return $bytes;
}

=head2 read([$n], %opts)

Up to C<$n> bytes once any are there; all of them until EOF when C<$n> is
-1 or omitted; "" at EOF (and for C<$n == 0>).

=cut

sub read {
    my ($self, $n, %opts) = @_;
    $n //= -1;
    my $h = $self->{h};
    return $self->_read('read', $opts{timeout},
        sub { UVStreams::Raw::uvs_stream_read_start($h, $n, $_[0]) });
}

=head2 readline(%opts)

One line with its "\n"; at EOF the partial last line, then "". A line
longer than the limit dies with L<UVStreams::LimitOverrunError> and is
discarded.

=cut

sub readline {
    my ($self, %opts) = @_;
    my $h = $self->{h};
    return $self->_read('readline', $opts{timeout},
        sub { UVStreams::Raw::uvs_stream_readline_start($h, $_[0]) });
}

=head2 readexactly($n, %opts)

Exactly C<$n> bytes; L<UVStreams::IncompleteReadError> (with C<partial>
and C<expected>) when EOF comes first.

=cut

sub readexactly {
    my ($self, $n, %opts) = @_;
    my $h = $self->{h};
    return $self->_read('readexactly', $opts{timeout},
        sub { UVStreams::Raw::uvs_stream_readexactly_start($h, $n, $_[0]) });
}

=head2 readuntil([$separator], %opts)

The bytes up to and including the separator ("\n" by default). An array
reference of separators finds the earliest end (ties: the shortest).
L<UVStreams::LimitOverrunError> (nothing consumed) when the limit is
overrun, L<UVStreams::IncompleteReadError> (C<expected> undef, the buffer
in C<partial>) at EOF.

=cut

sub readuntil {
    my ($self, $separator, %opts) = @_;
    $separator //= "\n";
    my $h = $self->{h};
    my $start = ref $separator eq 'ARRAY'
        ? sub { UVStreams::Raw::uvs_stream_readuntil_any_start(
                    $h, $separator, $_[0]) }
        : sub { UVStreams::Raw::uvs_stream_readuntil_start(
                    $h, $separator, $_[0]) };
    return $self->_read('readuntil', $opts{timeout}, $start);
}

=head2 at_eof

True once EOF was received and the buffer is empty.

=head2 exception

The error stored on the stream (e.g. a reset), as a L<UVStreams::Error>,
or undef.

=cut

sub at_eof { UVStreams::Raw::uvs_stream_at_eof($_[0]{h}) == 1 }

sub exception {
    my ($self) = @_;
    my $code = UVStreams::Raw::uvs_stream_error($self->{h});
    return $code < 0
        ? UVStreams::Error->for_code($code, operation => 'exception')
        : undef;
}

=head2 feed_data($bytes), feed_eof

For a stream made by C<< UVStreams->reader >>: appends bytes to its
buffer, or ends it.

=cut

sub feed_data {
    my ($self, $bytes) = @_;
    throw_last(UVStreams::Raw::uvs_reader_feed_data($self->{h}, $bytes),
               'feed_data');
    return 1;
}

sub feed_eof {
    my ($self) = @_;
    throw_last(UVStreams::Raw::uvs_reader_feed_eof($self->{h}), 'feed_eof');
    return 1;
}

# ---- writing --------------------------------------------------------------

# A refused write. After the connection was lost to an error (a reset),
# the bytes are dropped without an error, as asyncio's transports do: the
# next drain reports the loss. After our own close it is a ClosedError.
sub _check_write {
    my ($self, $rc, $operation) = @_;
    return 1 if $rc >= 0;
    my $message = UVStreams::Raw::uvs_last_error();
    return 1 if $rc == UVStreams::Raw::UVS_ECLOSED() && $self->_lost;
    die UVStreams::Error->for_code($rc, operation => $operation,
                                   message => $message);
}

sub _lost {
    my ($self) = @_;
    my $stored = UVStreams::Raw::uvs_stream_error($self->{h});
    return $stored < 0 && $stored != UVStreams::Raw::UVS_EOF();
}

=head2 write($bytes), writelines(@chunks)

Buffer bytes for sending (never waits). Die with
L<UVStreams::ClosedError> after C<close>; once the connection was lost to
an error (e.g. a reset) the bytes are dropped silently, as asyncio does,
and C<drain> dies with that error.

=cut

sub write {
    my ($self, $bytes) = @_;
    return $self->_check_write(
        UVStreams::Raw::uvs_stream_write($self->{h}, $bytes), 'write');
}

sub writelines {
    my ($self, @chunks) = @_;
    return $self->_check_write(
        UVStreams::Raw::uvs_stream_writev($self->{h}, \@chunks),
        'writelines');
}

=head2 drain(%opts)

Waits until the write buffer is at or below the low watermark (at once
while it is at or below the high one).

=cut

sub drain {
    my ($self, %opts) = @_;
    my $h = $self->{h};
    return run_op('drain', $opts{timeout},
        sub { UVStreams::Raw::uvs_stream_drain_start($h, $_[0]) }, \&_true);
}

=head2 write_eof, can_write_eof

Half-closes the sending side once the buffered bytes are sent.

=head2 write_buffer_size, set_write_limits($high, [$low])

The bytes not yet handed to the kernel; the watermarks (undef: default).

=cut

sub write_eof {
    my ($self) = @_;
    return $self->_check_write(
        UVStreams::Raw::uvs_stream_write_eof($self->{h}), 'write_eof');
}

sub can_write_eof { UVStreams::Raw::uvs_stream_can_write_eof($_[0]{h}) == 1 }

sub write_buffer_size {
    my ($self) = @_;
    return check(UVStreams::Raw::uvs_stream_write_buffer_size($self->{h}),
                 'write_buffer_size');
}

sub set_write_limits {
    my ($self, $high, $low) = @_;
    throw_last(UVStreams::Raw::uvs_stream_set_write_limits(
        $self->{h}, $high // -1, $low // -1), 'set_write_limits');
    return 1;
}

=head2 start_tls(tls => $config, [server_hostname => $name], %opts)

Upgrades the stream to TLS with a L<UVStreams::TLS> configuration (its
side, client or server, decides the role); returns once the handshake is
done. Also takes C<timeout>, C<ssl_handshake_timeout> and
C<ssl_shutdown_timeout> (seconds).

=cut

our @TLS_OPTIONS = qw(tls server_hostname ssl_handshake_timeout
                      ssl_shutdown_timeout);

sub start_tls {
    my ($self, %opts) = @_;
    my $h = $self->{h};
    my $tls_opts = call_options('start_tls', \%opts, @TLS_OPTIONS);
    return run_op('start_tls', $opts{timeout}, sub {
        UVStreams::Raw::uvs_stream_start_tls_start($h, $$tls_opts, $_[0]);
    }, \&_true);
}

# ---- closing --------------------------------------------------------------

=head2 close, abort, is_closing, wait_closed(%opts)

C<close> flushes what was written, then closes (pending reads see EOF);
C<abort> drops the write buffer and resets a TCP connection; neither
waits. C<wait_closed> waits until the stream is closed and dies with the
error that closed it (e.g. a reset), if any.

=cut

sub close {
    my ($self) = @_;
    throw_last(UVStreams::Raw::uvs_stream_close($self->{h}), 'close');
    return 1;
}

sub abort {
    my ($self) = @_;
    throw_last(UVStreams::Raw::uvs_stream_abort($self->{h}), 'abort');
    return 1;
}

sub is_closing { UVStreams::Raw::uvs_stream_is_closing($_[0]{h}) != 0 }

sub wait_closed {
    my ($self, %opts) = @_;
    my $h = $self->{h};
    return run_op('wait_closed', $opts{timeout},
        sub { UVStreams::Raw::uvs_stream_wait_closed_start($h, $_[0]) },
        \&_true);
}

# ---- information ------------------------------------------------------------

=head2 extra_info($key)

A value of the library's extra information (see uvstreams.h: "fd",
"peername", "limit", "tls.version", "tls.peer_cert_der", ...), or undef
when the key does not apply to this stream.

=head2 peername, sockname

"host:port", "[v6]:port" or the Unix path, or undef.

=head2 peerhost, peerport, sockhost, sockport, peerpath, sockpath, fileno, kind

As IO::Socket's: the numeric addresses and ports, the Unix paths, the
descriptor, and "tcp", "unix", "pipe" or "reader".

=cut

sub extra_info {
    my ($self, $key) = @_;
    for my $get (\&UVStreams::Raw::uvs_stream_get_int,
                 \&UVStreams::Raw::uvs_stream_get_str,
                 \&UVStreams::Raw::uvs_stream_get_bytes) {
        my ($rc, $value) = $get->($self->{h}, $key);
        return $value if $rc == 0;
    }
    return undef;
}

my %INFO_KEY = (
    peername => 'peername',  sockname => 'sockname',
    peerhost => 'peer.host', sockhost => 'sock.host',
    peerport => 'peer.port', sockport => 'sock.port',
    peerpath => 'peer.path', sockpath => 'sock.path',
    fileno   => 'fd',        kind     => 'kind',
);
for my $method (keys %INFO_KEY) {
    my $key = $INFO_KEY{$method};
    no strict 'refs';
    *$method = sub { $_[0]->extra_info($key) };
}

=head2 read_async, readline_async, readexactly_async, readuntil_async, drain_async, start_tls_async, wait_closed_async

The same calls for event-driven programs: each takes the same arguments,
returns an AnyEvent condition variable at once and never blocks; the
condvar's C<recv> gives the value or dies with the exception. See
L<UVStreams::AnyEvent>.

=cut

async_methods(qw(read readline readexactly readuntil drain start_tls
                 wait_closed));

1;
