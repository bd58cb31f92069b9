# echo_server.tcl - an event-driven line echo server on uvstreams.
#
#   TCLLIBPATH=build/tcl tclsh8.6 examples/tcl/echo_server.tcl ?HOST? ?PORT?
#
# Prints "serving on HOST:PORT" (PORT 0 picks a free one), then echoes every
# line back to its sender, and runs until killed. One thread, no blocking
# call: the server's -command gets each new connection, and every
# connection is a chain of callbacks run by Tcl's event loop (vwait):
# readline -> write -> drain -> readline ... until EOF, an error or an
# over-long line, then the connection is closed (what was written is still
# sent).

package require uvstreams
fconfigure stdout -buffering line

proc accepted {s} {
    next_line $s
}

proc next_line {s} {
    uvstreams stream readline $s -command [list got_line $s]
}

# A callback gets the result and catch-style return options.
proc got_line {s line options} {
    if {[dict get $options -code] || $line eq ""} {
        uvstreams stream close $s
        return
    }
    set text [encoding convertfrom utf-8 [string trimright $line \n]]
    puts "received $text from [uvstreams stream peername $s]"
    uvstreams stream write $s $line
    uvstreams stream drain $s -command [list drained $s]
}

proc drained {s result options} {
    if {[dict get $options -code]} {
        uvstreams stream close $s
        return
    }
    next_line $s
}

lassign [list {*}$argv 127.0.0.1 8888] host port
set server [uvstreams listen $host $port -command accepted]
lassign [lindex [uvstreams server addresses $server] 0] host port
puts "serving on $host:$port"
vwait forever
