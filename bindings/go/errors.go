// Errors: every failure is an *Error carrying the C code, its name and the
// library's detail message; asyncio's two read errors are their own types.
// They are meant for errors.As and errors.Is:
//
//	*IncompleteReadError{Partial, Expected}: EOF came before readexactly or
//	    readuntil could complete; errors.Is(err, io.ErrUnexpectedEOF).
//	*LimitOverrunError{Consumed}: the reader's limit was exceeded.
//	*Error{Code, Name, Message}: anything else; both read errors unwrap to
//	    one too (Code EINCOMPLETE, ELIMIT).
//
// Sentinels: a timeout matches os.ErrDeadlineExceeded (and has Timeout() ==
// true, as net.Error); a system code unwraps to its syscall.Errno, so
// errors.Is(err, syscall.ECONNREFUSED) or syscall.ECONNRESET work (and
// os.ErrNotExist for ENOENT); a call on a closed object matches net.ErrClosed.

package uvstreams

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/uvstreams/uvstreams-go/internal/cuvs"
)

// Library error codes (the C API's UVS_E*; system codes are negative errno
// values and unwrap to syscall.Errno).
const (
	EOF          = -4095
	EBADHANDLE   = -30001
	ECLOSED      = -30002
	EBUSY        = -30003
	ELIMIT       = -30004
	EINCOMPLETE  = -30005
	ETLS         = -30006
	ETLSVERIFY   = -30007
	ESHUTDOWN    = -30008
	EINTERNAL    = -30009
	EOPBUSY      = -30010
	EWRITEEOF    = -30011
	EWRONGTHREAD = -30012
	EFORKED      = -30013
)

// Error is a failed call: Code is the negative UVS_E* code, Name its name
// ("ECONNREFUSED"), Message the library's detail, Op the call ("connect").
type Error struct {
	Op      string
	Code    int
	Name    string
	Message string
}

func newError(op string, code int, detail string) *Error {
	if detail == "" {
		detail = cuvs.Uvs_strerror(code)
	}
	return &Error{Op: op, Code: code, Name: cuvs.Uvs_err_name(code), Message: detail}
}

// Error gives "uvstreams: OP: MESSAGE (NAME)".
func (e *Error) Error() string {
	return fmt.Sprintf("uvstreams: %s: %s (%s)", e.Op, e.Message, e.Name)
}

// Timeout reports whether the call timed out (net.Error).
func (e *Error) Timeout() bool {
	return e.Code == int(cuvs.UVS_ETIMEDOUT)
}

// Is matches os.ErrDeadlineExceeded for a timeout, net.ErrClosed for a
// closed object and io.ErrUnexpectedEOF for an incomplete read.
func (e *Error) Is(target error) bool {
	switch target {
	case os.ErrDeadlineExceeded:
		return e.Timeout()
	case net.ErrClosed:
		return e.Code == ECLOSED
	case io.ErrUnexpectedEOF:
		return e.Code == EINCOMPLETE
	}
	return false
}

// Unwrap gives the syscall.Errno of a system error code (nil otherwise).
func (e *Error) Unwrap() error {
	if e.Code < 0 && e.Code > -1000 {
		return syscall.Errno(-e.Code)
	}
	return nil
}

// IncompleteReadError is asyncio's IncompleteReadError: EOF came first.
// Expected is the size readexactly wanted, or -1 for readuntil.
type IncompleteReadError struct {
	Partial  []byte
	Expected int64
	err      *Error
}

// Error gives how many bytes came before EOF and how many were expected.
func (e *IncompleteReadError) Error() string {
	expected := "undefined"
	if e.Expected >= 0 {
		expected = fmt.Sprint(e.Expected)
	}
	return fmt.Sprintf("uvstreams: %s: %d bytes read on a total of %s expected bytes",
		e.err.Op, len(e.Partial), expected)
}

// Is matches io.ErrUnexpectedEOF.
func (e *IncompleteReadError) Is(target error) bool {
	return target == io.ErrUnexpectedEOF
}

// Unwrap gives the *Error with Code EINCOMPLETE.
func (e *IncompleteReadError) Unwrap() error { return e.err }

// LimitOverrunError is asyncio's LimitOverrunError: the separator was not
// found within the limit, or the chunk up to it is longer than the limit.
// Consumed is the number of bytes to consume to get past the problem (for
// readline, whose asyncio error has no count, the line is already dropped).
type LimitOverrunError struct {
	Consumed int64
	Message  string
	err      *Error
}

// Error gives asyncio's message and the consumed count.
func (e *LimitOverrunError) Error() string {
	return fmt.Sprintf("uvstreams: %s: %s (consumed %d)", e.err.Op, e.Message, e.Consumed)
}

// Unwrap gives the *Error with Code ELIMIT.
func (e *LimitOverrunError) Unwrap() error { return e.err }

// readError builds the error of a failed read from its completed op.
func readError(what string, rc int, op uintptr, data []byte) error {
	err := newError(what, rc, cuvs.Uvs_op_error(op))
	switch rc {
	case EINCOMPLETE:
		return &IncompleteReadError{Partial: data, Expected: cuvs.Uvs_op_expected(op), err: err}
	case ELIMIT:
		return &LimitOverrunError{Consumed: cuvs.Uvs_op_consumed(op), Message: err.Message, err: err}
	}
	return err
}
