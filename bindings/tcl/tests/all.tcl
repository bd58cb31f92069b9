# all.tcl - runs every *.test file of this directory with tcltest (each in
# its own tclsh) and exits non-zero when a test failed or none was found:
# tcltest reports failures but sets no exit status itself.

package require tcltest

set dir [file dirname [file normalize [info script]]]
if {![llength [glob -nocomplain -directory $dir *.test]]} {
    puts stderr "all.tcl: no test files in $dir"
    exit 1
}
tcltest::configure -testdir $dir -singleproc 0 {*}$argv
exit [tcltest::runAllTests]
