// Package e2e tests Sluice as a user runs it: the real binary (this test
// binary re-executed as sluice), a real server on a loopback port, the CLI,
// and plain HTTP clients.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/cli"
)

// TestMain lets this test binary act as the sluice command when re-executed
// with SLUICE_E2E_AS_CLI=1, so tests exercise the exact CLI users run.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_E2E_AS_CLI") == "1" {
		os.Exit(cli.Main(signalContext(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// sluiceCmd returns a command running `sluice args...`.
func sluiceCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SLUICE_E2E_AS_CLI=1")
	return cmd
}

// server is a running `sluice server`.
type server struct {
	URL string
	// DataDir is the server's data directory; Token the admin token its
	// first start wrote there (empty with --auth=off, or for a second
	// node on a shared store: copy the first node's).
	DataDir string
	Token   string
	cmd     *exec.Cmd
	logs    *logBuffer
	done    chan error
}

type logBuffer struct {
	lines chan string
	all   strings.Builder
}

var addrRe = regexp.MustCompile(`addr=(\S+)`)

// startServer runs `sluice server` on a free loopback port with a fresh data
// directory and waits until it serves.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	args := append([]string{"server", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--poll-interval", "200ms"}, extra...)
	dataDir := ""
	for i, a := range args[:len(args)-1] {
		if a == "--data-dir" {
			dataDir = args[i+1]
		}
	}
	cmd := sluiceCmd(context.Background(), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{DataDir: dataDir, cmd: cmd, logs: &logBuffer{lines: make(chan string, 1024)}, done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case s.logs.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line := <-s.logs.lines:
			s.logs.all.WriteString(line + "\n")
			if strings.Contains(line, "sluice serving") {
				m := addrRe.FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("no addr in %q", line)
				}
				s.URL = "http://" + m[1]
				if strings.Contains(line, "scheme=https") {
					s.URL = "https://" + m[1]
				}
				if b, err := os.ReadFile(filepath.Join(dataDir, "admin.token")); err == nil {
					s.Token = strings.TrimSpace(string(b))
				}
				go s.drainLogs()
				return s
			}
		case err := <-s.done:
			t.Fatalf("server exited before serving: %v\n%s", err, s.logs.all.String())
		case <-deadline:
			t.Fatalf("server did not start in 20s\n%s", s.logs.all.String())
		}
	}
}

func (s *server) drainLogs() {
	for line := range s.logs.lines {
		_ = line
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Errorf("server did not stop within 40s of SIGTERM")
	}
}

// cliRun runs a client command against s and returns its stdout; a failure
// fails the test with stderr.
func (s *server) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := s.cliResult(args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (s *server) cliResult(args ...string) (stdout, stderr string, code int) {
	cmd := sluiceCmd(context.Background(), args...)
	cmd.Env = append(cmd.Env, "SLUICE_SERVER="+s.URL)
	if s.Token != "" {
		cmd.Env = append(cmd.Env, "SLUICE_TOKEN="+s.Token)
	}
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return o.String(), e.String(), code
}

// client returns an API client with the server's admin token.
func (s *server) client() *apiclient.Client {
	return apiclient.New(s.URL, apiclient.WithToken(s.Token))
}

// cliJSON runs a client command with -o json and decodes its output.
func (s *server) cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := s.cli(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("sluice %s: decoding %q: %v", strings.Join(args, " "), out, err)
	}
}

// repoRoot returns the repository root (two levels up from test/e2e).
func repoRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
