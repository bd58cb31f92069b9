// The parser of tests/conformance/scenarios.txt (the format is
// tests/conformance/FORMAT.md): scenarios made of steps, each step its
// tokens, its key=value options and its expectation. Client and peer steps
// are both kept (the peer's only to count them); bytes tokens are decoded
// when a step is run, so that the parser stays independent of the steps.

package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// scenario is one "scenario <name>" block.
type scenario struct {
	name  string
	steps []step
}

// step is one line: args are the positional tokens after the step name.
type step struct {
	line   int
	peer   bool
	name   string
	args   []string
	opts   map[string]string
	expect expectation
}

// expectation is what follows "=>": ok (the default), bytes, or an error
// kind with its attributes.
type expectation struct {
	bytes []byte // non-nil: the call returns exactly these
	kind  string // non-empty: the call fails with this kind
	attrs map[string]string
}

var scenarioName = regexp.MustCompile(`^[a-z0-9_]+$`)

// parseFile reads a scenario file.
func parseFile(path string) ([]scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []scenario
	seen := map[string]bool{}
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, 1<<20)
	for n := 1; lines.Scan(); n++ {
		fields := strings.Fields(lines.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[0] == "scenario" {
			if len(fields) != 2 || !scenarioName.MatchString(fields[1]) || seen[fields[1]] {
				return nil, fmt.Errorf("%s:%d: bad or duplicate scenario line", path, n)
			}
			seen[fields[1]] = true
			out = append(out, scenario{name: fields[1]})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s:%d: step outside a scenario", path, n)
		}
		st, err := parseStep(fields)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		st.line = n
		last := &out[len(out)-1]
		last.steps = append(last.steps, st)
	}
	return out, lines.Err()
}

// parseStep splits one step's tokens into name, arguments, options and
// expectation.
func parseStep(fields []string) (step, error) {
	st := step{opts: map[string]string{}}
	if fields[0] == "peer" {
		st.peer = true
		fields = fields[1:]
		if len(fields) == 0 {
			return st, fmt.Errorf("empty peer step")
		}
	}
	for i, tok := range fields {
		if tok == "=>" {
			exp, err := parseExpectation(fields[i+1:])
			if err != nil {
				return st, err
			}
			st.expect = exp
			fields = fields[:i]
			break
		}
	}
	st.name = fields[0]
	for _, tok := range fields[1:] {
		if k, v, ok := strings.Cut(tok, "="); ok {
			st.opts[k] = v
		} else {
			st.args = append(st.args, tok)
		}
	}
	return st, nil
}

func parseExpectation(toks []string) (expectation, error) {
	var exp expectation
	if len(toks) == 0 {
		return exp, fmt.Errorf("nothing after =>")
	}
	switch {
	case toks[0] == "ok" && len(toks) == 1:
	case strings.HasPrefix(toks[0], "!"):
		exp.kind = toks[0][1:]
		exp.attrs = map[string]string{}
		for _, tok := range toks[1:] {
			k, v, ok := strings.Cut(tok, "=")
			if !ok {
				return exp, fmt.Errorf("bad attribute %q", tok)
			}
			exp.attrs[k] = v
		}
	case len(toks) == 1:
		b, err := decodeBytes(toks[0])
		if err != nil {
			return exp, err
		}
		exp.bytes = b
	default:
		return exp, fmt.Errorf("bad expectation %q", strings.Join(toks, " "))
	}
	return exp, nil
}

// decodeBytes decodes a bytes token: "-" (empty), "*N:unit" (unit N
// times) or percent-encoding.
func decodeBytes(tok string) ([]byte, error) {
	if tok == "-" {
		return []byte{}, nil
	}
	if strings.HasPrefix(tok, "*") {
		count, unit, ok := strings.Cut(tok[1:], ":")
		n, err := strconv.Atoi(count)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("bad repetition %q", tok)
		}
		b, err := percentDecode(unit)
		if err != nil {
			return nil, err
		}
		return bytes.Repeat(b, n), nil
	}
	return percentDecode(tok)
}

func percentDecode(tok string) ([]byte, error) {
	out := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		if tok[i] != '%' {
			out = append(out, tok[i])
			continue
		}
		if i+3 > len(tok) {
			return nil, fmt.Errorf("truncated escape in %q", tok)
		}
		v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("bad escape in %q", tok)
		}
		out = append(out, byte(v))
		i += 2
	}
	return out, nil
}
