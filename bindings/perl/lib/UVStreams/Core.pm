package UVStreams::Core;

use strict;
use warnings;

use Exporter 'import';
use UVStreams::Raw ();
use UVStreams::Error;

our @EXPORT_OK = qw(engine options call_options run_op check throw_last
                    take_stream async_methods);

=head1 NAME

UVStreams::Core - what the blocking API's classes share (internal)

=head1 DESCRIPTION

One threaded engine (one libuv I/O thread) per process does the I/O; it is
made on first use, remade in a forked child (the parent's I/O thread does
not exist there; the child leaves the parent's engine alone) and freed at
exit. A blocking call starts the library's asynchronous operation on a
private op with no completion queue, with the call's timeout as the op's
deadline (the engine completes it with ETIMEDOUT, consuming nothing), and
waits for it with C<uvs_op_wait> in short slices: Perl runs its signal
handlers between slices, so a C<$SIG{ALRM}> or C<$SIG{INT}> handler that
dies interrupts the wait; the operation is then cancelled and a read that
had completed meanwhile gives its bytes back (C<uvs_op_unread>), so nothing
is lost. The op, and any options made for a call, are freed by guards when
the call returns or dies. Codes become exceptions through
C<< UVStreams::Error->for_code >> only.

=cut

use constant SLICE_MS => 200;

my ($ENGINE, $ENGINE_PID);

# The process's engine handle.
sub engine {
    return $ENGINE if defined $ENGINE && $ENGINE_PID == $$;
    my $opts = options(io_threads => 1);
    my ($rc, $engine) = UVStreams::Raw::uvs_engine_new($$opts);
    throw_last($rc, 'engine');
    ($ENGINE, $ENGINE_PID) = ($engine, $$);
    return $ENGINE;
}

END {
    UVStreams::Raw::uvs_engine_free($ENGINE)
        if defined $ENGINE && $ENGINE_PID == $$;
    undef $ENGINE;
}

# Dies with the exception of a call that failed before starting (the detail
# is the thread's last error); returns $rc when it is not negative.
sub throw_last {
    my ($rc, $operation) = @_;
    return $rc if $rc >= 0;
    die UVStreams::Error->for_code($rc, operation => $operation,
        message => UVStreams::Raw::uvs_last_error());
}

# Dies with the plain exception of $rc (no detail); returns it otherwise.
sub check {
    my ($rc, $operation) = @_;
    return $rc if $rc >= 0;
    die UVStreams::Error->for_code($rc, operation => $operation);
}

# Seconds (undef: for ever) as the library's milliseconds (-1: for ever).
sub timeout_ms {
    my ($seconds, $operation) = @_;
    return -1 unless defined $seconds;
    die UVStreams::Error->for_code(UVStreams::Raw::UVS_EINVAL(),
        operation => $operation,
        message => "timeout must be undef or >= 0 seconds, not $seconds")
        unless $seconds >= 0;
    my $ms = int($seconds * 1000);
    return $ms == 0 && $seconds > 0 ? 1 : $ms;
}

# A uvs_options handle with these settings (undef values are skipped):
# integers, strings for "server_hostname", a UVStreams::TLS for "tls". The
# result is a guard: $$opts is the handle, freed with the guard.
my %STRING_OPTION = (server_hostname => 1);

sub options {
    my (%values) = @_;
    my ($rc, $h) = UVStreams::Raw::uvs_options_new();
    throw_last($rc, 'options');
    my $guard = bless \$h, 'UVStreams::Core::OptionsGuard';
    for my $key (sort keys %values) {
        my $value = $values{$key};
        next unless defined $value;
        my $set = $key eq 'tls'
            ? UVStreams::Raw::uvs_options_set_tls($h, $value->handle)
            : $STRING_OPTION{$key}
            ? UVStreams::Raw::uvs_options_set_str($h, $key, $value)
            : UVStreams::Raw::uvs_options_set_int($h, $key, int $value);
        throw_last($set, "option $key");
    }
    return $guard;
}

sub UVStreams::Core::OptionsGuard::DESTROY {
    UVStreams::Raw::uvs_options_free(${ $_[0] });
}

# The options of a call from its named arguments: only @keys (and
# "timeout", which is the call's own) are accepted; the TLS timeouts are in
# seconds.
my %SECONDS_OPTION = (ssl_handshake_timeout => 1, ssl_shutdown_timeout => 1);

sub call_options {
    my ($operation, $given, @keys) = @_;
    my %known = map { $_ => 1 } @keys, 'timeout';
    my @unknown = grep { !$known{$_} } sort keys %$given;
    die UVStreams::Error->for_code(UVStreams::Raw::UVS_EINVAL(),
        operation => $operation, message => "unknown option(s) @unknown")
        if @unknown;
    my %values = map { $_ => $given->{$_} } @keys;
    # A blocking API: streams are read by the thread that waits for them
    # (the engine's direct_reads), unless the caller says otherwise.
    $values{direct_reads} //= 1;
    for my $key (grep { defined $values{$_} } keys %SECONDS_OPTION) {
        $values{$key} = timeout_ms($values{$key}, $operation);
    }
    return options(%values);
}

# The stream a completed connect or accept op hands over.
sub take_stream {
    my ($op) = @_;
    my ($rc, $s) = UVStreams::Raw::uvs_op_take_stream($op);
    throw_last($rc, 'take_stream');
    return $s;
}

=head2 run_op($operation, $timeout, $start, $finish)

Runs one asynchronous call to completion: C<< $start->($op) >> starts it
(returning the C<_start> status), C<< $finish->($op) >> turns the completed
op into the call's value (undef when omitted). C<$timeout> is in seconds,
undef for ever. Dies with the call's exception. Inside an C<_async> method
(see C<async_methods>) it starts the call on L<UVStreams::AnyEvent>'s
completion queue instead and returns its condvar.

=cut

# The invocant of the *_async method running (see async_methods).
our $ASYNC;

sub run_op {
    my ($operation, $timeout, $start, $finish) = @_;
    return UVStreams::AnyEvent::run_op(@_) if $ASYNC;
    my ($op, $completed) = start_op(undef, $operation, $timeout, $start);
    _wait($$op, $operation) unless $completed;
    return finish_op($$op, $operation, $finish);
}

# Starts an operation on a new op bound to $cq (undef: none), with the
# timeout as its deadline. Returns the op's guard ($$guard is the handle)
# and whether it completed at once (then nothing is posted to $cq); dies
# if it could not start.
sub start_op {
    my ($cq, $operation, $timeout, $start) = @_;
    my ($rc, $op) = UVStreams::Raw::uvs_op_new($cq, 0);
    throw_last($rc, $operation);
    my $guard = bless \$op, 'UVStreams::Core::OpGuard';
    check(UVStreams::Raw::uvs_op_set_timeout($op,
        timeout_ms($timeout, $operation)), $operation);
    $rc = throw_last($start->($op), $operation);
    return ($guard, $rc == UVStreams::Raw::UVS_COMPLETED());
}

# The value of a completed op (through $finish, undef without), or dies
# with its exception.
sub finish_op {
    my ($op, $operation, $finish) = @_;
    my $result = UVStreams::Raw::uvs_op_result($op);
    die _op_error($op, $result, $operation) if $result < 0;
    return $finish ? $finish->($op) : undef;
}

=head2 async_methods(@names)

Makes C<NAME_async> in the caller's package for each blocking method
C<NAME> whose waiting is one C<run_op> (and whose value is what C<run_op>
returns): the same method with run_op handing the operation to
L<UVStreams::AnyEvent>, which returns an AnyEvent condition variable and
keeps the invocant alive until the operation is over.

=cut

sub async_methods {
    my $package = caller;
    for my $name (@_) {
        my $blocking = $package->can($name);
        no strict 'refs';
        *{"${package}::${name}_async"} = sub {
            require UVStreams::AnyEvent;
            local $ASYNC = $_[0];
            return $blocking->(@_);
        };
    }
}

sub UVStreams::Core::OpGuard::DESTROY {
    UVStreams::Raw::uvs_op_free(${ $_[0] });
}

# Waits for a pending op; when the wait dies (a signal handler), cancels
# the op, puts back what it may have read, and dies again.
sub _wait {
    my ($op, $operation) = @_;
    return if eval { _wait_slices($op, $operation); 1 };
    my $error = $@;
    UVStreams::Raw::uvs_op_cancel($op);
    UVStreams::Raw::uvs_op_wait($op, -1);
    UVStreams::Raw::uvs_op_unread($op);
    die $error;
}

sub _wait_slices {
    my ($op, $operation) = @_;
    while (1) {
        my $rc = UVStreams::Raw::uvs_op_wait($op, SLICE_MS);
        return if $rc == 0;
        throw_last($rc, $operation)
            unless $rc == UVStreams::Raw::UVS_ETIMEDOUT();
    }
}

# The exception of a completed, failed op, with the kind's details.
sub _op_error {
    my ($op, $code, $operation) = @_;
    my %fields = (operation => $operation,
                  message => UVStreams::Raw::uvs_op_error($op));
    if ($code == UVStreams::Raw::UVS_EINCOMPLETE()) {
        my $expected = UVStreams::Raw::uvs_op_expected($op);
        (undef, $fields{partial}) = UVStreams::Raw::uvs_op_data($op);
        $fields{expected} = $expected < 0 ? undef : $expected;
    } elsif ($code == UVStreams::Raw::UVS_ELIMIT()) {
        $fields{consumed} = UVStreams::Raw::uvs_op_consumed($op);
    } elsif ($code == UVStreams::Raw::UVS_ETIMEDOUT()
             && !length $fields{message}) {
        $fields{message} = "$operation timed out";
    }
    return UVStreams::Error->for_code($code, %fields);
}

1;
