package UVStreams::AnyEvent;

# The event-loop side of the *_async methods. Design: one completion queue
# per process on the process's engine (the threaded one the blocking API
# uses, so a stream can be used both ways); its descriptor is level-style
# readable while completions are queued, so one AnyEvent->io watcher on it
# (kept only while operations are pending, so an idle program has no
# watcher and a program with pending ones sleeps in its loop) collects the
# completions with uvs_cq_poll and settles each operation's condvar. An op
# that completes at once (data already buffered) is settled from
# AnyEvent::postpone, so a chain of reads never recurses. Values and
# exceptions come from UVStreams::Core's finish_op: one error mapping for
# the blocking and the event-driven calls.

use strict;
use warnings;

use AnyEvent ();
use UVStreams::Raw ();
use UVStreams::Core ();
use UVStreams::Error;

=head1 NAME

UVStreams::AnyEvent - uvstreams in AnyEvent programs: many streams at once

=head1 SYNOPSIS

    use AnyEvent;
    use UVStreams;
    use UVStreams::AnyEvent;

    my $server = UVStreams->listen_tcp('127.0.0.1', 8888);
    sub echo {
        my ($stream) = @_;
        $stream->readline_async(timeout => 60)->cb(sub {
            my $line = eval { $_[0]->recv };
            return $stream->close if !defined $line || !length $line;
            $stream->write($line);
            echo($stream);
        });
    }
    sub accept_next {
        $server->accept_async->cb(sub {
            my $stream = eval { $_[0]->recv } or return;  # server closed
            echo($stream);
            accept_next();
        });
    }
    accept_next();
    AnyEvent->condvar->recv;    # or EV::run, Mojo's loop, ...

=head1 DESCRIPTION

Every blocking call of the binding that waits has an C<_async> twin that
takes the same arguments, starts the operation and returns an
L<AnyEvent> condition variable at once:

    UVStreams->connect_tcp_async, UVStreams->connect_unix_async
    $server->accept_async, $server->wait_closed_async
    $stream->read_async, readline_async, readexactly_async,
            readuntil_async, drain_async, start_tls_async,
            wait_closed_async

C<< $cv->recv >> (in the condvar's C<cb>, or to wait) gives the value the
blocking call returns (bytes, a L<UVStreams::Stream>, 1) or dies with the
same L<UVStreams::Error> object the blocking call dies with
(C<TimeoutError> when C<< timeout => SECONDS >> expires, consuming
nothing; C<ConnectionResetError> for a reset, C<IncompleteReadError> with
C<partial>, ...). Its C<file> and C<line> are those of the C<_async>
call. What fails before the operation starts (a bad argument) dies at once,
as the blocking call would. C<write>,
C<close> and the other calls that never wait are used as they are;
C<drain_async> gives flow control.

Any AnyEvent backend works (EV, AnyEvent's pure-Perl loop, IO::Async
through L<AnyEvent::Impl::IOAsync>, ...): the module watches one
descriptor, that of a completion queue of the engine (see
C<uvs_cq_fd> in uvstreams.h), and only while operations are pending. The
engine's I/O thread does the I/O; while every client is idle the process
uses no CPU.

One operation of each kind at a time per stream (two concurrent reads of
one stream are an error, as in asyncio). A pending operation keeps its
stream (or server) alive; one whose condvar is dropped still runs to its
end (or its timeout): close the stream to end it. This module needs L<AnyEvent> (Debian: libanyevent-perl); the
C<_async> methods load it on first use and die if it is missing.
Streams belong to their process: after C<fork>, the child makes its own.

=head1 FUNCTIONS

=over

=item UVStreams::AnyEvent::run_op($operation, $timeout, $start, $finish)

Internal: what C<UVStreams::Core::run_op> does for an C<_async> call.
Returns the condvar.

=back

=cut

my ($CQ, $CQ_PID, $WATCHER);
# op handle => [op guard, condvar, finish, start, frame, operation, owner]:
# the start closure and the owner (stream, server) live as long as the op.
my %PENDING;

sub run_op {
    my ($operation, $timeout, $start, $finish) = @_;
    my $cv = AnyEvent->condvar;
    my @frame = UVStreams::Error::_user_frame();
    my ($op, $completed) =
        UVStreams::Core::start_op(_queue(), $operation, $timeout, $start);
    my $pending = [$op, $cv, $finish, $start, \@frame, $operation,
                   $UVStreams::Core::ASYNC];
    if ($completed) {
        AnyEvent::postpone { _settle($pending) };
    } else {
        $PENDING{$$op} = $pending;
        _watch();
    }
    return $cv;
}

# The process's completion queue (a forked child makes its own).
sub _queue {
    return $CQ if defined $CQ && $CQ_PID == $$;
    (%PENDING, $WATCHER) = ();
    my ($rc, $cq) = UVStreams::Raw::uvs_cq_new(UVStreams::Core::engine());
    UVStreams::Core::throw_last($rc, 'completion queue');
    ($CQ, $CQ_PID) = ($cq, $$);
    return $CQ;
}

sub _watch {
    $WATCHER //= AnyEvent->io(fh => UVStreams::Raw::uvs_cq_fd($CQ),
                              poll => 'r', cb => \&_collect);
}

# Settles every queued completion; drops the watcher once none is pending.
sub _collect {
    while (1) {
        my ($n, $ops) = UVStreams::Raw::uvs_cq_poll($CQ, 64);
        last if $n <= 0;
        _settle(delete $PENDING{$_}) for @$ops;
    }
    undef $WATCHER unless %PENDING;
}

sub _settle {
    my ($pending) = @_;
    return unless $pending;
    my ($op, $cv, $finish, undef, $frame, $operation) = @$pending;
    my $value = eval { UVStreams::Core::finish_op($$op, $operation, $finish) };
    my $error = $@;
    undef $op;
    @$pending = ();
    if (ref $error) {
        @$error{qw(file line)} = @$frame if $error->isa('UVStreams::Error');
        $cv->croak($error);
    } elsif ($error) {
        $cv->croak($error);
    } else {
        $cv->send($value);
    }
}

END {
    if (defined $CQ && $CQ_PID == $$) {
        (%PENDING, $WATCHER) = ();
        UVStreams::Raw::uvs_cq_free($CQ);
    }
    undef $CQ;
}

1;
