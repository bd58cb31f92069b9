# conformance.tcl - the Tcl runner of the shared conformance scenarios
# (tests/conformance/FORMAT.md), run by `make test-tcl` through
# tests/conformance/run.sh, which starts the reference peer and sets the
# UVS_CONFORMANCE_* variables.
#
# Design: scenarios.txt is parsed here, in Tcl, into a list of scenarios,
# each a list of client steps {verb positional options expectation} (the
# peer's steps are the peer's business). Each scenario is one tcltest test
# named after it, whose body performs the steps with the blocking API of the
# `uvstreams` ensemble and compares every outcome with its expectation
# (success with bytes, or an error kind from the -errorcode's code name).
# Calls without a timeout get a 30 s safety timeout; its expiry fails the
# scenario. Scenarios failing because of known engine bugs are listed in
# KNOWN_BUGS (not strict: their failure is printed, not counted). tcltest
# sets no exit status, so the runner exits 1 itself when a test failed or no
# scenario was found.

package require tcltest
package require uvstreams

namespace eval ::conformance {
    variable SAFETY_MS 30000
    # library code names -> the scenario error kinds
    variable KINDS {
        EINCOMPLETE incomplete ELIMIT limit_overrun ETIMEDOUT timeout
        ECONNREFUSED refused ECONNRESET reset EPIPE reset EINVAL invalid
    }
    # Scenarios failing because of engine bugs (reported), recorded in
    # $UVS_CONFORMANCE_EXPECTED_FAILURES for run.sh. Both depend on timing
    # (they fail in most runs, not all), so they are not strict: the test
    # passes either way and prints the failure.
    variable KNOWN_BUGS {}  ;# none open: the RST-as-EOF defect D11 is fixed
}

# ---- parsing --------------------------------------------------------------

# A bytes token: %HH escapes, "-" for empty, "*N:unit" for repetition.
proc ::conformance::bytes {token} {
    if {$token eq "-"} {
        return ""
    }
    if {[regexp {^\*(\d+):(.*)$} $token -> count unit]} {
        return [string repeat [bytes $unit] $count]
    }
    set out ""
    while {[regexp -indices {%([0-9a-fA-F]{2})} $token match hex]} {
        lassign $match from to
        append out [string range $token 0 $from-1] \
            [binary format H2 [string range $token {*}$hex]]
        set token [string range $token $to+1 end]
    }
    return [encoding convertto iso8859-1 $out$token]
}

# One step line's tokens -> {verb positional options expectation}, where
# expectation is {ok}, {bytes <value>} or {error <kind> <attributes>}.
proc ::conformance::step {tokens} {
    set arrow [lsearch -exact $tokens =>]
    set expectation {ok}
    if {$arrow >= 0} {
        set expectation [expectation [lrange $tokens $arrow+1 end]]
        set tokens [lrange $tokens 0 $arrow-1]
    }
    if {[lindex $tokens 0] eq "repeat"} {
        set inner [step [lrange $tokens 2 end]]
        return [list repeat [list [lindex $tokens 1] $inner] {} $expectation]
    }
    set positional {}
    set options {}
    foreach token [lrange $tokens 1 end] {
        if {[regexp {^([a-z_]+)=(.*)$} $token -> key value]} {
            dict set options $key $value
        } else {
            lappend positional $token
        }
    }
    return [list [lindex $tokens 0] $positional $options $expectation]
}

proc ::conformance::expectation {tokens} {
    set first [lindex $tokens 0]
    if {$first eq "ok"} {
        return {ok}
    }
    if {[string index $first 0] eq "!"} {
        set attributes {}
        foreach token [lrange $tokens 1 end] {
            regexp {^([a-z_]+)=(.*)$} $token -> key value
            dict set attributes $key $value
        }
        return [list error [string range $first 1 end] $attributes]
    }
    return [list bytes [bytes $first]]
}

# scenarios.txt -> a list of {name steps}.
proc ::conformance::parse {path} {
    set f [open $path r]
    set lines [split [read $f] \n]
    close $f
    set scenarios {}
    set name ""
    set steps {}
    foreach line $lines {
        set tokens [regexp -all -inline {\S+} $line]
        if {![llength $tokens] || [string index [lindex $tokens 0] 0] eq "#"} {
            continue
        }
        if {[lindex $tokens 0] eq "scenario"} {
            if {$name ne ""} {
                lappend scenarios [list $name $steps]
            }
            set name [lindex $tokens 1]
            set steps {}
        } elseif {[lindex $tokens 0] ne "peer"} {
            lappend steps [step $tokens]
        }
    }
    if {$name ne ""} {
        lappend scenarios [list $name $steps]
    }
    return $scenarios
}

# ---- running --------------------------------------------------------------

# Runs a scenario's steps; "ok", or an error describing the first mismatch.
proc ::conformance::play {name steps} {
    variable stream ""
    try {
        set i 0
        foreach s $steps {
            incr i
            if {[catch {perform $name {*}$s} message]} {
                error "step $i ($s): $message"
            }
        }
    } finally {
        if {$stream ne ""} {
            catch {uvstreams stream close $stream}
        }
    }
    return ok
}

# One step (repeat: the inner step count times) checked against expectation.
proc ::conformance::perform {name verb positional options expectation} {
    if {$verb eq "repeat"} {
        lassign $positional count inner
        lset inner 3 $expectation
        for {set i 0} {$i < $count} {incr i} {
            perform $name {*}$inner
        }
        return
    }
    set timed [dict exists $options timeout]
    set failed [catch {call $name $verb $positional $options} result opts]
    check $verb $failed $result $opts $expectation $timed
}

# The timeout argument of a step: its own, else the safety one.
proc ::conformance::timeout {options} {
    variable SAFETY_MS
    if {[dict exists $options timeout]} {
        return [dict get $options timeout]
    }
    return $SAFETY_MS
}

proc ::conformance::call {name verb positional options} {
    variable stream
    global env
    set t [list -timeout [timeout $options]]
    set s $stream
    switch -- $verb {
        connect {
            set how {}
            foreach key {limit write_high write_low} {
                if {[dict exists $options $key]} {
                    lappend how -$key [dict get $options $key]
                }
            }
            if {[lindex $positional 0] eq "unix"} {
                set stream [uvstreams connect_unix $env(UVS_CONFORMANCE_UNIX) {*}$t {*}$how]
            } else {
                set stream [uvstreams connect $env(UVS_CONFORMANCE_HOST) \
                                $env(UVS_CONFORMANCE_PORT) {*}$t {*}$how]
            }
            uvstreams stream write $stream "SCENARIO $name\n"
            uvstreams stream drain $stream {*}$t
        }
        connect_refused {
            set stream [uvstreams connect $env(UVS_CONFORMANCE_HOST) \
                            $env(UVS_CONFORMANCE_CLOSED_PORT) {*}$t]
        }
        write {uvstreams stream write $s [bytes [lindex $positional 0]]}
        writelines {
            uvstreams stream writelines $s [lmap token $positional {bytes $token}]
        }
        drain {uvstreams stream drain $s {*}$t}
        write_eof {uvstreams stream write_eof $s}
        read - readexactly {uvstreams stream $verb $s [lindex $positional 0] {*}$t}
        readline {uvstreams stream readline $s {*}$t}
        readuntil {uvstreams stream readuntil $s [bytes [lindex $positional 0]] {*}$t}
        readuntil_any {
            uvstreams stream readuntil_any $s [lmap token $positional {bytes $token}] {*}$t
        }
        close {
            set stream ""
            uvstreams stream close $s -wait 1 {*}$t
        }
        default {error "unknown step \"$verb\""}
    }
}

# Compares an outcome (catch's) with an expectation; an error if they differ.
proc ::conformance::check {verb failed result opts expectation timed} {
    variable KINDS
    set code [expr {$failed ? [lindex [dict get $opts -errorcode] 1] : ""}]
    if {$failed && $code eq "ETIMEDOUT" && !$timed} {
        error "the 30 s safety timeout fired"
    }
    lassign $expectation want value attributes
    if {$want ne "error"} {
        if {$failed} {
            error "expected success, got [dict get $opts -errorcode]"
        }
        if {$want eq "bytes" && $result ne $value} {
            error "expected [show $value], got [show $result]"
        }
        return
    }
    if {!$failed} {
        error "expected !$value, got success [show $result]"
    }
    set kind [expr {[dict exists $KINDS $code] ? [dict get $KINDS $code] : $code}]
    if {$kind ne $value} {
        error "expected !$value, got $code: $result"
    }
    set extra [lrange [dict get $opts -errorcode] 3 end]
    dict for {key want} $attributes {
        if {$key eq "consumed" && $verb eq "readline"} {
            continue
        }
        if {$key eq "partial"} {
            set want [bytes $want]
        }
        if {![dict exists $extra $key] || [dict get $extra $key] ne $want} {
            error "expected $key=[show $want], got errorcode [show $extra]"
        }
    }
}

# Bytes for a message, printable.
proc ::conformance::show {value} {
    if {[string length $value] > 80} {
        set value "[string range $value 0 79]... ([string length $value] bytes)"
    }
    return "\"[string map {\n \\n \r \\r} $value]\""
}

# ---- the tests ------------------------------------------------------------

# A scenario with a known engine bug: its failure is printed, not counted.
proc ::conformance::play_known {name steps} {
    variable KNOWN_BUGS
    if {[catch {play $name $steps} message]} {
        puts "known engine bug, $name: [dict get $KNOWN_BUGS $name] ($message)"
    }
    return ok
}

proc ::conformance::record_known {scenarios} {
    variable KNOWN_BUGS
    global env
    if {![info exists env(UVS_CONFORMANCE_EXPECTED_FAILURES)]} {
        return
    }
    set f [open $env(UVS_CONFORMANCE_EXPECTED_FAILURES) a]
    foreach scenario $scenarios {
        if {[dict exists $KNOWN_BUGS [lindex $scenario 0]]} {
            puts $f [lindex $scenario 0]
        }
    }
    close $f
}

proc ::conformance::main {} {
    global env
    set scenarios [parse $env(UVS_CONFORMANCE_SCENARIOS)]
    if {[info exists env(UVS_CONFORMANCE_ONLY)] && $env(UVS_CONFORMANCE_ONLY) ne ""} {
        set scenarios [lsearch -all -inline -index 0 -exact $scenarios \
                           $env(UVS_CONFORMANCE_ONLY)]
    }
    record_known $scenarios
    foreach scenario $scenarios {
        lassign $scenario name steps
        set play [expr {[dict exists $::conformance::KNOWN_BUGS $name]
                        ? "::conformance::play_known" : "::conformance::play"}]
        tcltest::test $name "conformance scenario $name" \
            -body [list $play $name $steps] -result ok
    }
    set total $tcltest::numTests(Total)
    set failed $tcltest::numTests(Failed)
    tcltest::cleanupTests
    if {![llength $scenarios] || $total == 0} {
        puts stderr "conformance.tcl: no scenario found"
        exit 1
    }
    exit [expr {$failed > 0}]
}

::conformance::main
