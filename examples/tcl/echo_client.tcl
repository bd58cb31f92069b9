# echo_client.tcl - a blocking line echo client on uvstreams.
#
#   TCLLIBPATH=build/tcl tclsh8.6 examples/tcl/echo_client.tcl HOST PORT ?MESSAGE ...?
#
# Connects, sends each message as a line (default: "Hello World!"), prints
# the echoed line, then half-closes, reads to EOF and closes. Every call
# waits at most 5 s; a failure is a Tcl error whose -errorcode starts with
# UVSTREAMS and the code name.

package require uvstreams

lassign $argv host port
set messages [lrange $argv 2 end]
if {![llength $messages]} {
    set messages [list "Hello World!"]
}
set s [uvstreams connect $host $port -timeout 5000]
foreach message $messages {
    uvstreams stream write $s [encoding convertto utf-8 $message\n]
    uvstreams stream drain $s -timeout 5000
    set line [uvstreams stream readline $s -timeout 5000]
    puts "received: [encoding convertfrom utf-8 [string trimright $line \n]]"
}
uvstreams stream write_eof $s
uvstreams stream read $s -1 -timeout 5000
uvstreams stream close $s -wait 1 -timeout 5000
