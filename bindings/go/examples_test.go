// The Go examples (examples/go, copied to examples/ in the module) built
// with the go command and run against each other: the echo server on a
// free port, the echo client sending one line through it.

package uvstreams

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildExample builds ./examples/<name> into a temporary directory.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goCmd, "build", "-o", bin, "./examples/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}

func TestEchoExamples(t *testing.T) {
	server := exec.Command(buildExample(t, "echo_server"), "127.0.0.1", "0")
	stdout, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		server.Process.Kill()
		server.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "serving on ") {
		t.Fatalf("server said %q", lines.Text())
	}
	host, port, err := splitHostPort(strings.TrimPrefix(lines.Text(), "serving on "))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := exec.CommandContext(ctx, buildExample(t, "echo_client"), host, strconv.Itoa(port), "hi there")
	out, err := client.CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	if want := "send: \"hi there\"\nreceived: \"hi there\"\n"; string(out) != want {
		t.Errorf("client printed %q, want %q", out, want)
	}
	if !lines.Scan() || !strings.Contains(lines.Text(), `received "hi there\n"`) {
		t.Errorf("server printed %q", lines.Text())
	}
}
