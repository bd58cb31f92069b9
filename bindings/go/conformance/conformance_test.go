// Package conformance runs the shared conformance scenarios
// (tests/conformance/scenarios.txt) against the Go binding's blocking API,
// one subtest per scenario named after it. It only runs under
// tests/conformance/run.sh, which starts the reference peer and sets the
// UVS_CONFORMANCE_* variables (make test-go); without them it fails.
//
// Each client step is one call of the uvstreams package; a step's timeout=
// becomes the stream's deadline for that call, other steps get the 30 s
// safety deadline. Errors are classified the way a Go program would:
// errors.As for the read errors, errors.Is against os.ErrDeadlineExceeded
// and the syscall errnos for the others.
//
// knownEngineBugs lists the scenarios that fail, sometimes or always,
// because of a reported engine bug (not of this binding): their failures are
// reported as skips with the reason, and are told to run.sh as expected
// failures. An entry is removed once the engine is fixed.
package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/uvstreams/uvstreams-go"
)

const safetyTimeout = 30 * time.Second

// knownEngineBugs: scenario name -> the engine bug that makes it fail
// (none open: the RST-as-EOF defect D11 is fixed).
var knownEngineBugs = map[string]string{}

var environment = []string{"UVS_CONFORMANCE_SCENARIOS", "UVS_CONFORMANCE_HOST",
	"UVS_CONFORMANCE_PORT", "UVS_CONFORMANCE_UNIX", "UVS_CONFORMANCE_CLOSED_PORT"}

func TestScenarios(t *testing.T) {
	for _, name := range environment {
		if os.Getenv(name) == "" {
			t.Fatalf("%s is not set: run under tests/conformance/run.sh (make test-go)", name)
		}
	}
	scenarios, err := parseFile(os.Getenv("UVS_CONFORMANCE_SCENARIOS"))
	if err != nil {
		t.Fatal(err)
	}
	recordExpectedFailures(t)
	ran := 0
	for _, sc := range scenarios {
		if only := os.Getenv("UVS_CONFORMANCE_ONLY"); only != "" && only != sc.name {
			continue
		}
		ran++
		sc := sc
		t.Run(sc.name, func(t *testing.T) { run(t, sc) })
	}
	if ran == 0 {
		t.Fatal("no scenario found")
	}
}

// recordExpectedFailures tells run.sh which scenarios may fail here.
func recordExpectedFailures(t *testing.T) {
	path := os.Getenv("UVS_CONFORMANCE_EXPECTED_FAILURES")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name := range knownEngineBugs {
		fmt.Fprintln(f, name)
	}
}

// runner is the state of one scenario: its name and its stream.
type runner struct {
	name string
	s    *uvstreams.Stream
}

func run(t *testing.T, sc scenario) {
	r := &runner{name: sc.name}
	defer func() {
		if r.s != nil {
			r.s.Close()
		}
	}()
	for _, st := range sc.steps {
		if st.peer {
			continue
		}
		if err := r.step(st); err != nil {
			if bug, ok := knownEngineBugs[sc.name]; ok {
				t.Skipf("known engine bug (%s): line %d: %s: %v", bug, st.line, st.name, err)
			}
			t.Fatalf("line %d: %s: %v", st.line, st.name, err)
		}
	}
}

// step performs one client step (repeat: its inner step N times) and checks
// the expectation.
func (r *runner) step(st step) error {
	if st.name != "repeat" {
		got, err := r.call(st)
		return check(st, got, err)
	}
	if len(st.args) < 2 {
		return fmt.Errorf("repeat needs a count and a step")
	}
	n, err := strconv.Atoi(st.args[0])
	if err != nil {
		return err
	}
	inner := st
	inner.name, inner.args = st.args[1], st.args[2:]
	for i := 0; i < n; i++ {
		if err := r.step(inner); err != nil {
			return fmt.Errorf("repetition %d: %v", i+1, err)
		}
	}
	return nil
}

// call performs the call of a step: the bytes of a read, or nil.
func (r *runner) call(st step) ([]byte, error) {
	switch st.name {
	case "connect":
		return nil, r.connect(st)
	case "connect_refused":
		return nil, connectRefused()
	}
	if r.s == nil {
		return nil, fmt.Errorf("no stream (connect first)")
	}
	timeout, err := stepTimeout(st)
	if err != nil {
		return nil, err
	}
	r.s.SetDeadline(time.Now().Add(timeout))
	defer r.s.SetDeadline(time.Time{})
	switch st.name {
	case "write":
		return nil, r.write(st)
	case "writelines":
		chunks, err := decodeAll(st.args)
		if err != nil {
			return nil, err
		}
		return nil, r.s.WriteLines(chunks...)
	case "drain":
		return nil, r.s.Drain()
	case "write_eof":
		return nil, r.s.WriteEOF()
	case "close":
		s := r.s
		r.s = nil
		s.Close()
		return nil, s.WaitClosed()
	}
	return r.read(st)
}

// read performs the read steps.
func (r *runner) read(st step) ([]byte, error) {
	switch st.name {
	case "read", "readexactly":
		if len(st.args) != 1 {
			return nil, fmt.Errorf("%s needs a size", st.name)
		}
		n, err := strconv.Atoi(st.args[0])
		if err != nil {
			return nil, err
		}
		if st.name == "read" {
			return r.s.ReadUpTo(n)
		}
		return r.s.ReadExactly(n)
	case "readline":
		return r.s.ReadLine()
	case "readuntil":
		if len(st.args) != 1 {
			return nil, fmt.Errorf("readuntil needs one separator")
		}
		sep, err := decodeBytes(st.args[0])
		if err != nil {
			return nil, err
		}
		return r.s.ReadUntil(sep)
	case "readuntil_any":
		seps, err := decodeAll(st.args)
		if err != nil {
			return nil, err
		}
		return r.s.ReadUntilAny(seps...)
	}
	return nil, fmt.Errorf("unknown step %q", st.name)
}

func (r *runner) write(st step) error {
	if len(st.args) != 1 {
		return fmt.Errorf("write needs one bytes token")
	}
	data, err := decodeBytes(st.args[0])
	if err != nil {
		return err
	}
	_, err = r.s.Write(data)
	return err
}

// connect opens the stream, sets the watermarks and sends the hello.
func (r *runner) connect(st step) error {
	d := uvstreams.Dialer{Timeout: safetyTimeout}
	if v, ok := st.opts["limit"]; ok {
		limit, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		d.Limit = limit
	}
	network, address := "tcp", net.JoinHostPort(os.Getenv("UVS_CONFORMANCE_HOST"),
		os.Getenv("UVS_CONFORMANCE_PORT"))
	if len(st.args) == 1 && st.args[0] == "unix" {
		network, address = "unix", os.Getenv("UVS_CONFORMANCE_UNIX")
	}
	s, err := d.Dial(network, address)
	if err != nil {
		return err
	}
	r.s = s
	if err := r.setWriteLimits(st.opts); err != nil {
		return err
	}
	s.SetDeadline(time.Now().Add(safetyTimeout))
	defer s.SetDeadline(time.Time{})
	if _, err := s.Write([]byte("SCENARIO " + r.name + "\n")); err != nil {
		return err
	}
	return s.Drain()
}

// setWriteLimits applies write_high= and write_low= (-1: the default).
func (r *runner) setWriteLimits(opts map[string]string) error {
	high, low := -1, -1
	for key, dst := range map[string]*int{"write_high": &high, "write_low": &low} {
		if v, ok := opts[key]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return err
			}
			*dst = n
		}
	}
	if high < 0 && low < 0 {
		return nil
	}
	return r.s.SetWriteLimits(high, low)
}

func connectRefused() error {
	d := uvstreams.Dialer{Timeout: safetyTimeout}
	s, err := d.Dial("tcp", net.JoinHostPort(os.Getenv("UVS_CONFORMANCE_HOST"),
		os.Getenv("UVS_CONFORMANCE_CLOSED_PORT")))
	if err == nil {
		s.Close()
	}
	return err
}

// stepTimeout is the step's timeout= option, or the safety timeout.
func stepTimeout(st step) (time.Duration, error) {
	v, ok := st.opts["timeout"]
	if !ok {
		return safetyTimeout, nil
	}
	ms, err := strconv.Atoi(v)
	if err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func decodeAll(toks []string) ([][]byte, error) {
	var out [][]byte
	for _, tok := range toks {
		b, err := decodeBytes(tok)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// check compares a call's outcome with the step's expectation.
func check(st step, got []byte, err error) error {
	exp := st.expect
	if exp.kind != "" {
		if err == nil {
			return fmt.Errorf("succeeded (%s), want !%s", short(got), exp.kind)
		}
		return checkError(st, err)
	}
	if err != nil {
		return fmt.Errorf("failed: %v", err)
	}
	if exp.bytes != nil && !bytes.Equal(got, exp.bytes) {
		return fmt.Errorf("returned %s, want %s", short(got), short(exp.bytes))
	}
	return nil
}

// checkError checks the kind and attributes of an expected failure.
func checkError(st step, err error) error {
	exp := st.expect
	if kind := classify(err); kind != exp.kind {
		return fmt.Errorf("failed with %v (kind %q), want !%s", err, kind, exp.kind)
	}
	for attr, want := range exp.attrs {
		got, err := attribute(st, err, attr)
		if err != nil {
			return err
		}
		if attr == "partial" {
			b, err := decodeBytes(want)
			if err != nil {
				return err
			}
			want = string(b)
		}
		if got != want {
			return fmt.Errorf("%s=%q, want %q", attr, got, want)
		}
	}
	return nil
}

// classify names an error's kind the way FORMAT.md does.
func classify(err error) string {
	var incomplete *uvstreams.IncompleteReadError
	var overrun *uvstreams.LimitOverrunError
	switch {
	case errors.As(err, &incomplete):
		return "incomplete"
	case errors.As(err, &overrun):
		return "limit_overrun"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, syscall.EINVAL):
		return "invalid"
	}
	return "other"
}

// attribute is an error attribute as the scenario file writes it (partial
// as raw bytes).
func attribute(st step, err error, attr string) (string, error) {
	var incomplete *uvstreams.IncompleteReadError
	var overrun *uvstreams.LimitOverrunError
	switch {
	case attr == "partial" && errors.As(err, &incomplete):
		return string(incomplete.Partial), nil
	case attr == "expected" && errors.As(err, &incomplete):
		if incomplete.Expected < 0 {
			return "none", nil
		}
		return strconv.FormatInt(incomplete.Expected, 10), nil
	case attr == "consumed" && errors.As(err, &overrun):
		if st.name == "readline" {
			return st.expect.attrs[attr], nil // not checked for readline
		}
		return strconv.FormatInt(overrun.Consumed, 10), nil
	}
	return "", fmt.Errorf("no attribute %s on %v", attr, err)
}

// short quotes bytes for a message, eliding the middle of long ones.
func short(b []byte) string {
	if len(b) <= 64 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%q...%q (%d bytes)", b[:32], b[len(b)-16:], len(b))
}
