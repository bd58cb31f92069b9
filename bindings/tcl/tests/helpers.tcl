# helpers.tcl - shared by the *.test files: a loopback server of the
# binding itself and a connected pair of streams, so every test talks to a
# real socket with no outside program.

package require tcltest
package require uvstreams
namespace import -force ::tcltest::*

# A TCP server on 127.0.0.1 (any free port), its port, and a connected pair:
# "client server" streams.
proc pair {args} {
    set srv [uvstreams listen 127.0.0.1 0 {*}$args]
    set c [uvstreams connect 127.0.0.1 [uvstreams server port $srv] -timeout 5000 {*}$args]
    set a [uvstreams server accept $srv -timeout 5000]
    uvstreams server close $srv
    return [list $c $a]
}

# Closes every stream given, ignoring errors (test cleanups).
proc close_all {args} {
    foreach s $args {
        catch {uvstreams stream close $s}
    }
}

# The -errorcode of script (run in the caller), or "no error".
proc errorcode {script} {
    if {[catch {uplevel 1 $script} message options]} {
        return [dict get $options -errorcode]
    }
    return "no error: $message"
}

# Waits (event loop running) until ::W(name) is set, at most ms
# milliseconds; its value (then unset), or "timeout".
proc wait_for {name {ms 5000}} {
    if {![info exists ::W($name)]} {
        set id [after $ms [list set ::W($name) timeout]]
        vwait ::W($name)
        after cancel $id
    }
    set value $::W($name)
    unset ::W($name)
    return $value
}

# A callback that stores {result code errorcode} into ::W(name).
proc store {name result options} {
    set ::W($name) [list $result [dict get $options -code] \
                        [expr {[dict exists $options -errorcode] ? [dict get $options -errorcode] : ""}]]
}

# Runs `uvstreams args... -command ...` and waits for it in the event loop
# (so that servers of this process keep serving): the result, or the error.
proc evented {args} {
    uvstreams {*}$args -command {store evented}
    set outcome [wait_for evented]
    if {$outcome eq "timeout"} {
        error "uvstreams $args: no completion within 5 s"
    }
    lassign $outcome result code errorcode
    if {$code} {
        return -code error -errorcode $errorcode $result
    }
    return $result
}
