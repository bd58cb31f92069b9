# uvstreams.tcl - the `uvstreams` ensemble: asyncio-style byte streams for Tcl.
#
# Design: a thin layer over the flat C API that SWIG generates into
# ::uvstreams_c (handles are strings such as "uvstream05000001000000a3",
# statuses are negative UVS_E* codes). Each interpreter has one engine with
# one I/O thread, made on first use, and one completion queue whose
# descriptor Tcl's notifier watches (uvs_tcl_watch), so completions are
# dispatched from the event loop and Tcl programs need no thread of theirs.
#
# Every call that can wait starts one library operation (uvs_*_start on a
# fresh uvs_op) and then either blocks on it (uvs_op_wait; -timeout sets the
# op's own deadline, on whose expiry a read consumes nothing) or, given
# -command, returns at once: the command later gets two more arguments, the
# result and a return-options dictionary (what `catch {...} result options`
# would give: -code 0, or -code 1 with the -errorcode), called from the
# event loop even when the operation completed at once. So the blocking and
# the event-driven forms share one path and one error mapping: a failure is
# a Tcl error whose -errorcode is, for a system error, Tcl's own
#     POSIX <errno name> <errno message>
# (e.g. {POSIX ECONNREFUSED {connection refused}}), else
#     UVSTREAMS <code name> <message> ?key value ...?
# e.g. {UVSTREAMS EINCOMPLETE {...} partial <bytes> expected 10} or
# {UVSTREAMS ELIMIT {...} consumed 70000}. `uvstreams await ...` runs a call
# inside a coroutine: it yields until the completion and returns or raises
# as the blocking form would.
#
# Data is Tcl byte arrays (convert text with encoding convertto/from).

namespace eval ::uvstreams {
    namespace path ::uvstreams_c
    variable engine ""      ;# this interpreter's engine, made on first use
    variable cq ""          ;# its completion queue, watched by the notifier
    variable pending        ;# async op handle -> {{kind what} command}
    array set pending {}
    variable POLL_MAX 64    ;# completions taken from the queue at a time
}

# ---- errors ---------------------------------------------------------------

# Raises the Tcl error of library code rc.
proc ::uvstreams::Fail {rc detail args} {
    set message [expr {$detail eq "" ? [uvs_strerror $rc] : $detail}]
    return -code error -errorcode [ErrorCode $rc $message {*}$args] $message
}

# The -errorcode of code rc: an errno value is what Tcl's own channels
# report, {POSIX ECONNREFUSED {connection refused}}; the library's own
# codes (and EOF, EAI_*) are {UVSTREAMS <name> <message> ?key value ...?}.
proc ::uvstreams::ErrorCode {rc message args} {
    if {$rc > -3000 && $rc < 0} {
        return [list POSIX [uvs_err_name $rc] [uvs_strerror $rc]]
    }
    return [list UVSTREAMS [uvs_err_name $rc] $message {*}$args]
}

# rc when it is not negative, else its error.
proc ::uvstreams::Check {rc} {
    if {$rc < 0} {
        Fail $rc [uvs_last_error]
    }
    return $rc
}

# The value of a {status value} result, else the status's error.
proc ::uvstreams::Unpack {ret} {
    Check [lindex $ret 0]
    return [lindex $ret 1]
}

# The error of a completed op (what names the call in the message), with
# the partial bytes of an incomplete read and the count of a limit overrun.
proc ::uvstreams::Failed {op rc partial what} {
    set extra {}
    set detail [uvs_op_error $op]
    if {$rc == $::uvstreams_c::UVS_ETIMEDOUT && $detail eq ""} {
        set detail "timed out"
    } elseif {$detail eq ""} {
        set detail [uvs_strerror $rc]
    }
    if {$rc == $::uvstreams_c::UVS_EINCOMPLETE} {
        set expected [uvs_op_expected $op]
        if {$expected < 0} {
            set expected none
        }
        lappend extra partial $partial expected $expected
        append detail " ([string length $partial] bytes read, $expected expected)"
    } elseif {$rc == $::uvstreams_c::UVS_ELIMIT} {
        lappend extra consumed [uvs_op_consumed $op]
    }
    if {[string first "$what:" $detail] != 0} {
        set detail "$what: $detail" ;# unless the library named it already
    }
    Fail $rc $detail {*}$extra
}

# ---- options --------------------------------------------------------------

# Parses "-name value" pairs against defaults (a dict -name -> default).
proc ::uvstreams::Options {defaults arglist} {
    if {[llength $arglist] % 2} {
        return -code error -level 2 -errorcode {TCL WRONGARGS} \
            "missing value for option \"[lindex $arglist end]\""
    }
    foreach {name value} $arglist {
        if {![dict exists $defaults $name]} {
            return -code error -level 2 -errorcode [list TCL LOOKUP INDEX option $name] \
                "bad option \"$name\": must be [join [dict keys $defaults] {, }]"
        }
        dict set defaults $name $value
    }
    return $defaults
}

# A uvs_options handle with the integer settings of o that are not "" (the
# option -name sets the key name) and its TLS settings for side (client or
# server); the caller frees it.
proc ::uvstreams::MakeOptions {o side} {
    set h [Unpack [uvs_options_new]]
    try {
        dict for {name value} $o {
            set key [string range $name 1 end]
            if {$value ne "" && $key in {limit write_high write_low nodelay
                    family backlog reuse_address reuse_port}} {
                Check [uvs_options_set_int $h $key $value]
            }
        }
        if {[dict exists $o -servername] && [dict get $o -servername] ne ""} {
            Check [uvs_options_set_str $h server_hostname [dict get $o -servername]]
        }
        if {[WantsTls $o]} {
            SetTls $h $side $o
        }
    } on error {message opts} {
        uvs_options_free $h
        return -options $opts $message
    }
    return $h
}

proc ::uvstreams::WantsTls {o} {
    expr {([dict exists $o -tls] && [string is true -strict [dict get $o -tls]])
          || ([dict exists $o -certfile] && [dict get $o -certfile] ne "")}
}

# Gives options h a TLS configuration from -cafile, -certfile, -keyfile
# and -verify (none, optional or required).
proc ::uvstreams::SetTls {h side o} {
    set cfg [Unpack [uvs_tls_config_new [expr {$side eq "server"
        ? $::uvstreams_c::UVS_TLS_SERVER : $::uvstreams_c::UVS_TLS_CLIENT}]]]
    try {
        if {[dict get $o -cafile] ne ""} {
            Check [uvs_tls_config_load_ca_file $cfg [dict get $o -cafile]]
        }
        if {[dict exists $o -certfile] && [dict get $o -certfile] ne ""} {
            Check [uvs_tls_config_load_cert_file $cfg [dict get $o -certfile] \
                       [dict get $o -keyfile] ""]
        }
        set verify [dict get $o -verify]
        if {$verify ne ""} {
            set mode [lsearch -exact {none optional required} $verify]
            if {$mode < 0} {
                Fail $::uvstreams_c::UVS_EINVAL \
                    "bad -verify \"$verify\": must be none, optional or required"
            }
            Check [uvs_tls_config_set_verify $cfg $mode]
        }
        Check [uvs_options_set_tls $h $cfg]
    } finally {
        uvs_tls_config_free $cfg
    }
}

# ---- the engine and its completion queue ----------------------------------

proc ::uvstreams::Engine {} {
    variable engine
    variable cq
    if {$engine eq ""} {
        set e [Unpack [uvs_engine_new ""]]
        set q ""
        try {
            set q [Unpack [uvs_cq_new $e]]
            Check [uvs_tcl_watch $e $q ::uvstreams::Dispatch]
        } on error {message opts} {
            uvs_cq_free $q
            uvs_engine_free $e
            return -options $opts $message
        }
        lassign [list $e $q] engine cq
    }
    return $engine
}

proc ::uvstreams::Queue {} {
    variable cq
    Engine
    return $cq
}

# The queue's descriptor is readable: deliver every completion.
proc ::uvstreams::Dispatch {} {
    variable cq
    variable POLL_MAX
    while 1 {
        set n [Check [lindex [set ret [uvs_cq_poll $cq $POLL_MAX]] 0]]
        foreach op [lindex $ret 1] {
            Complete $op
        }
        if {$n < $POLL_MAX} {
            return
        }
    }
}

# ---- operations -------------------------------------------------------------

# Runs one operation: starter is a command prefix to which the op handle is
# appended (a uvs_*_start call); kind says what the result is (bytes,
# stream or none), what names the call in error messages. Blocks and
# returns the result or raises, or with a command returns at once (see the
# file's head).
proc ::uvstreams::Call {kind what starter timeout command} {
    if {$command ne ""} {
        Start [list $kind $what] $starter $timeout $command
        return
    }
    set op [Unpack [uvs_op_new "" 0]]
    try {
        if {[Begin $op $starter $timeout] == $::uvstreams_c::UVS_PENDING} {
            Check [uvs_op_wait $op -1]
        }
        return [Result $op [list $kind $what]]
    } finally {
        uvs_op_free $op
    }
}

# Sets the op's deadline and starts it: UVS_PENDING or UVS_COMPLETED.
proc ::uvstreams::Begin {op starter timeout} {
    Check [uvs_op_set_timeout $op $timeout]
    return [Check [{*}$starter $op]]
}

proc ::uvstreams::Start {how starter timeout command} {
    variable pending
    set op [Unpack [uvs_op_new [Queue] 0]]
    try {
        set rc [Begin $op $starter $timeout]
    } on error {message opts} {
        uvs_op_free $op
        return -options $opts $message
    }
    set pending($op) [list $how $command]
    if {$rc == $::uvstreams_c::UVS_COMPLETED} {
        # nothing is posted to the queue: deliver from the event loop too
        after 0 [list ::uvstreams::Complete $op]
    }
}

# The outcome of a completed op: its bytes, its new stream or "".
proc ::uvstreams::Result {op how} {
    lassign $how kind what
    lassign [uvs_op_read_result $op] rc data
    if {$rc < 0} {
        Failed $op $rc $data $what
    }
    switch -- $kind {
        bytes {return $data}
        stream {return [Unpack [uvs_op_take_stream $op]]}
        default {return ""}
    }
}

proc ::uvstreams::Complete {op} {
    variable pending
    if {![info exists pending($op)]} {
        return
    }
    lassign $pending($op) how command
    unset pending($op)
    catch {Result $op $how} result options
    uvs_op_free $op
    Deliver $command $result $options
}

# Calls command with the outcome; its errors are background errors.
proc ::uvstreams::Deliver {command result options} {
    if {[catch {uplevel #0 [linsert $command end $result $options]} message opts]} {
        catch {{*}[interp bgerror {}] $message $opts}
    }
}

# ---- connecting and listening -------------------------------------------------

variable ::uvstreams::STREAM_OPTIONS {
    -limit "" -write_high "" -write_low "" -nodelay ""
}
variable ::uvstreams::CONNECT_OPTIONS [dict merge $::uvstreams::STREAM_OPTIONS {
    -timeout -1 -command "" -family "" -tls 0 -cafile "" -servername ""
    -verify ""
}]
variable ::uvstreams::LISTEN_OPTIONS [dict merge $::uvstreams::STREAM_OPTIONS {
    -command "" -backlog "" -reuse_address "" -reuse_port "" -family ""
    -certfile "" -keyfile "" -cafile "" -verify ""
}]

proc ::uvstreams::connect {host port args} {
    Connect [list uvs_connect_tcp_start [Engine] $host $port] \
        "connect to $host:$port" $args
}

proc ::uvstreams::connect_unix {path args} {
    Connect [list uvs_connect_unix_start [Engine] $path] "connect to $path" $args
}

# starter is a connect call missing its options and op.
proc ::uvstreams::Connect {starter what arglist} {
    variable CONNECT_OPTIONS
    set o [Options $CONNECT_OPTIONS $arglist]
    set h [MakeOptions $o client]
    try {
        Call stream $what [linsert $starter end $h] [dict get $o -timeout] \
            [dict get $o -command]
    } finally {
        uvs_options_free $h
    }
}

proc ::uvstreams::listen {host port args} {
    Listen uvs_server_listen_tcp [list $host $port] $args
}

proc ::uvstreams::listen_unix {path args} {
    Listen uvs_server_listen_unix [list $path] $args
}

# A listening server; with -command, {*}command stream is called from the
# event loop for every connection accepted (as `socket -server` does).
proc ::uvstreams::Listen {call where arglist} {
    variable LISTEN_OPTIONS
    set o [Options $LISTEN_OPTIONS $arglist]
    set h [MakeOptions $o server]
    try {
        set srv [Unpack [$call [Engine] {*}$where $h]]
    } finally {
        uvs_options_free $h
    }
    if {[dict get $o -command] ne ""} {
        AcceptNext $srv [dict get $o -command]
    }
    return $srv
}

proc ::uvstreams::AcceptNext {srv command} {
    Call stream accept [list uvs_server_accept_start $srv] -1 \
        [list ::uvstreams::Accepted $srv $command]
}

# One connection for the accept loop, which goes on until the server is
# closed (then it ends quietly).
proc ::uvstreams::Accepted {srv command result options} {
    if {[dict get $options -code]} {
        if {[ServerGone $options]} {
            return
        }
        return -options $options $result
    }
    set failed [catch {AcceptNext $srv $command} message opts]
    uplevel #0 [linsert $command end $result]
    if {$failed && ![ServerGone $opts]} {
        return -options $opts $message
    }
}

proc ::uvstreams::ServerGone {options} {
    expr {[lindex [dict get $options -errorcode] 1] in {ECLOSED EBADHANDLE ESHUTDOWN}}
}

proc ::uvstreams::version {} {
    uvs_version_string
}

# Runs `uvstreams args... -command <resume>` inside a coroutine and yields
# until it completes: the result, or the error the blocking call raises.
proc ::uvstreams::await {args} {
    set coro [info coroutine]
    if {$coro eq ""} {
        return -code error -errorcode {UVSTREAMS EINVAL} \
            "uvstreams await must be called from a coroutine"
    }
    ::uvstreams {*}$args -command [list ::uvstreams::Resume $coro]
    lassign [yield] result options
    return -options [dict replace $options -level 1] $result
}

proc ::uvstreams::Resume {coro result options} {
    $coro [list $result $options]
}

# ---- streams ----------------------------------------------------------------

# Options of the calls that can wait.
variable ::uvstreams::WAIT_OPTIONS {-timeout -1 -command ""}

# A read: starter is the uvs_*_start call missing its op.
proc ::uvstreams::Read {what starter arglist} {
    variable WAIT_OPTIONS
    set o [Options $WAIT_OPTIONS $arglist]
    Call bytes $what $starter [dict get $o -timeout] [dict get $o -command]
}

proc ::uvstreams::stream_read {s {n -1} args} {
    if {![string is entier -strict $n]} {
        # no size given, options follow
        set args [linsert $args 0 $n]
        set n -1
    }
    Read read [list uvs_stream_read_start $s $n] $args
}

proc ::uvstreams::stream_readline {s args} {
    Read readline [list uvs_stream_readline_start $s] $args
}

proc ::uvstreams::stream_readexactly {s n args} {
    Read readexactly [list uvs_stream_readexactly_start $s $n] $args
}

proc ::uvstreams::stream_readuntil {s separator args} {
    Read readuntil [list uvs_stream_readuntil_start $s $separator] $args
}

proc ::uvstreams::stream_readuntil_any {s separators args} {
    Read readuntil [list uvs_stream_readuntil_any_start $s $separators] $args
}

# Buffers data (sending what it can at once) and returns. As in asyncio,
# once the connection is lost the data is dropped without an error (the
# next drain reports the loss); the handle is gone after close.
proc ::uvstreams::stream_write {s data} {
    Wrote [uvs_stream_write $s $data]
}

proc ::uvstreams::stream_writelines {s chunks} {
    Wrote [uvs_stream_writev $s $chunks]
}

proc ::uvstreams::Wrote {rc} {
    if {$rc != $::uvstreams_c::UVS_ECLOSED} {
        Check $rc
    }
    return
}

proc ::uvstreams::stream_drain {s args} {
    variable WAIT_OPTIONS
    set o [Options $WAIT_OPTIONS $args]
    Call none drain [list uvs_stream_drain_start $s] [dict get $o -timeout] \
        [dict get $o -command]
}

proc ::uvstreams::stream_write_eof {s} {
    Check [uvs_stream_write_eof $s]
    return
}

proc ::uvstreams::stream_can_write_eof {s} {
    Check [uvs_stream_can_write_eof $s]
}

proc ::uvstreams::stream_at_eof {s} {
    Check [uvs_stream_at_eof $s]
}

# Graceful close (what was written is still sent) that releases the handle.
# -wait 1 also waits until the stream is closed, and -command calls back
# then; both report the error that closed it (e.g. ECONNRESET).
proc ::uvstreams::stream_close {s args} {
    set o [Options {-wait 0 -timeout -1 -command ""} $args]
    Check [uvs_stream_close $s]
    set command [dict get $o -command]
    if {$command eq "" && ![string is true -strict [dict get $o -wait]]} {
        uvs_stream_free $s
        return
    }
    if {$command ne ""} {
        set command [list ::uvstreams::Closed $s $command]
    }
    try {
        Call none close [list uvs_stream_wait_closed_start $s] [dict get $o -timeout] \
            $command
    } on error {message opts} {
        uvs_stream_free $s
        return -options $opts $message
    }
    if {$command eq ""} {
        uvs_stream_free $s
    }
}

proc ::uvstreams::Closed {s command result options} {
    uvs_stream_free $s
    uplevel #0 [linsert $command end $result $options]
}

# Immediate close (drops the write buffer, resets TCP); releases the handle.
proc ::uvstreams::stream_abort {s} {
    Check [uvs_stream_abort $s]
    uvs_stream_free $s
    return
}

# {host port} for TCP, the path for a Unix socket, "" when none.
proc ::uvstreams::Address {s side} {
    switch -- [Unpack [uvs_stream_get_str $s kind]] {
        tcp {
            return [list [Unpack [uvs_stream_get_str $s $side.host]] \
                        [Unpack [uvs_stream_get_int $s $side.port]]]
        }
        unix {
            lassign [uvs_stream_get_str $s $side.path] rc path
            return [expr {$rc < 0 ? "" : $path}]
        }
        default {return ""}
    }
}

proc ::uvstreams::stream_peername {s} {
    Address $s peer
}

proc ::uvstreams::stream_sockname {s} {
    Address $s sock
}

# One of the library's extra-info keys (integer, string or bytes).
proc ::uvstreams::stream_info {s key} {
    foreach getter {uvs_stream_get_int uvs_stream_get_str uvs_stream_get_bytes} {
        lassign [$getter $s $key] rc value
        if {$rc == 0} {
            return $value
        }
        if {$rc != $::uvstreams_c::UVS_ENOENT && $rc != $::uvstreams_c::UVS_EINVAL} {
            break
        }
    }
    Fail $rc [uvs_last_error]
}

# ---- servers --------------------------------------------------------------------

proc ::uvstreams::server_accept {srv args} {
    variable WAIT_OPTIONS
    set o [Options $WAIT_OPTIONS $args]
    Call stream accept [list uvs_server_accept_start $srv] [dict get $o -timeout] \
        [dict get $o -command]
}

# The listening addresses: {host port} pairs, or paths.
proc ::uvstreams::server_addresses {srv} {
    set addresses {}
    for {set i 0} {$i < [Check [uvs_server_num_addresses $srv]]} {incr i} {
        lassign [uvs_server_address $srv $i] rc host port
        Check $rc
        lappend addresses [expr {$port < 0 ? $host : [list $host $port]}]
    }
    return $addresses
}

# The port of the first address (handy after listening on port 0).
proc ::uvstreams::server_port {srv} {
    lindex [server_addresses $srv] 0 1
}

proc ::uvstreams::server_clients {srv} {
    Check [uvs_server_num_clients $srv]
}

# Stops listening (accepted connections stay open) and releases the handle.
proc ::uvstreams::server_close {srv} {
    Check [uvs_server_close $srv]
    uvs_server_free $srv
    return
}

# ---- the ensembles ------------------------------------------------------------------

namespace eval ::uvstreams {
    # Subcommand names map to the procs above (a subcommand named `info`
    # must not shadow ::info inside the namespace).
    proc Ensemble {command prefix subcommands} {
        set map {}
        foreach sub $subcommands {
            dict set map $sub ::uvstreams::$prefix$sub
        }
        namespace ensemble create -command $command -map $map
    }
    Ensemble ::uvstreams::stream stream_ {
        read readline readexactly readuntil readuntil_any write writelines
        drain write_eof can_write_eof at_eof close abort peername sockname
        info
    }
    Ensemble ::uvstreams::server server_ {accept addresses port clients close}
    namespace ensemble create -command ::uvstreams -map {
        connect ::uvstreams::connect connect_unix ::uvstreams::connect_unix
        listen ::uvstreams::listen listen_unix ::uvstreams::listen_unix
        stream ::uvstreams::stream server ::uvstreams::server
        await ::uvstreams::await version ::uvstreams::version
    }
    rename Ensemble {}
}

package provide uvstreams [uvstreams_c::uvs_version_string]
