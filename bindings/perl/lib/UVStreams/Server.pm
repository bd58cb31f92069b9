package UVStreams::Server;

use strict;
use warnings;

use UVStreams::Raw ();
use UVStreams::Core qw(run_op throw_last take_stream async_methods);
use UVStreams::Stream;

=head1 NAME

UVStreams::Server - listening sockets whose connections are accepted one
by one

=head1 SYNOPSIS

    my $server = UVStreams->listen_tcp('127.0.0.1', 0);
    printf "serving on %s:%d\n", $server->host, $server->port;
    $server->serve(sub {
        my ($stream) = @_;
        while (length(my $line = $stream->readline)) {
            $stream->write($line);
            $stream->drain;
        }
    });

=head1 DESCRIPTION

The engine listens and queues connections (and, for a TLS server, does
their handshakes) on its I/O thread; C<accept> hands over the next one as
a L<UVStreams::Stream>. C<serve> is the simplest server loop: it accepts
and runs the handler for each connection in turn, in the calling thread,
until the server is closed (from the handler or a signal handler). The
object owns its handle (released when it goes away; accepted connections
stay open).

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
    UVStreams::Raw::uvs_server_free($self->{h}) if $self->{pid} == $$;
}

=head2 handle

The C<uvs_server> handle.

=head2 accept(%opts)

The next connection, waiting up to C<timeout> seconds; dies with
L<UVStreams::ClosedError> once the server is closed.

=cut

sub handle { $_[0]{h} }

sub accept {
    my ($self, %opts) = @_;
    my $h = $self->{h};
    return run_op('accept', $opts{timeout},
        sub { UVStreams::Raw::uvs_server_accept_start($h, $_[0]) },
        sub { UVStreams::Stream->new(take_stream($_[0])) });
}

=head2 serve($handler)

Accepts until the server is closed, calling C<< $handler->($stream) >> for
each connection and closing the stream after it. An exception from the
handler is warned about and the loop goes on.

=cut

sub serve {
    my ($self, $handler) = @_;
    while (defined(my $stream = $self->_accept_unless_closed)) {
        warn $@ unless eval { $handler->($stream); 1 };
        $stream->close;
    }
    return 1;
}

sub _accept_unless_closed {
    my ($self) = @_;
    my $stream = eval { $self->accept };
    return $stream if $stream;
    die $@ unless ref $@ && $@->isa('UVStreams::ClosedError');
    return undef;
}

=head2 addresses

The listening addresses: C<[$host, $port]> pairs, or paths for a Unix
server; empty once closed.

=head2 host, port, path

Those of the first address.

=cut

sub addresses {
    my ($self) = @_;
    my $count = UVStreams::Raw::uvs_server_num_addresses($self->{h});
    my @addresses;
    for my $i (0 .. $count - 1) {
        my ($rc, $host, $port) =
            UVStreams::Raw::uvs_server_address($self->{h}, $i);
        push @addresses, $port < 0 ? $host : [$host, $port] if $rc == 0;
    }
    return @addresses;
}

sub host { $_[0]->_first_tcp(0) }
sub port { $_[0]->_first_tcp(1) }

sub _first_tcp {
    my ($self, $index) = @_;
    my ($first) = $self->addresses;
    return ref $first ? $first->[$index] : undef;
}

sub path {
    my ($first) = $_[0]->addresses;
    return ref $first ? undef : $first;
}

=head2 num_clients, is_serving, start_serving

Connections accepted and not yet closed; whether it listens; starts
listening for a server made with C<< start_serving => 0 >>.

=cut

sub num_clients {
    my ($self) = @_;
    return throw_last(UVStreams::Raw::uvs_server_num_clients($self->{h}),
                      'num_clients');
}

sub is_serving { UVStreams::Raw::uvs_server_is_serving($_[0]{h}) == 1 }

sub start_serving {
    my ($self) = @_;
    throw_last(UVStreams::Raw::uvs_server_start_serving($self->{h}),
               'start_serving');
    return 1;
}

=head2 close, close_clients, abort_clients, wait_closed(%opts)

C<close> stops listening (a waiting C<accept> dies with ClosedError,
C<serve> returns); connections stay open until C<close_clients> or
C<abort_clients>. C<wait_closed> waits until the server is closed and has
no client left. In a forked child each dies with a
L<UVStreams::ForkedError>: the server belongs to the process that made it.

=cut

sub close {
    my ($self) = @_;
    throw_last(UVStreams::Raw::uvs_server_close($self->{h}), 'close');
    return 1;
}

sub close_clients {
    my ($self) = @_;
    throw_last(UVStreams::Raw::uvs_server_close_clients($self->{h}), 'close_clients');
    return 1;
}

sub abort_clients {
    my ($self) = @_;
    throw_last(UVStreams::Raw::uvs_server_abort_clients($self->{h}), 'abort_clients');
    return 1;
}

sub wait_closed {
    my ($self, %opts) = @_;
    my $h = $self->{h};
    return run_op('wait_closed', $opts{timeout},
        sub { UVStreams::Raw::uvs_server_wait_closed_start($h, $_[0]) },
        sub { 1 });
}

=head2 accept_async, wait_closed_async

The same calls for event-driven programs: they return an AnyEvent
condition variable at once; see L<UVStreams::AnyEvent>.

=cut

async_methods(qw(accept wait_closed));

1;
