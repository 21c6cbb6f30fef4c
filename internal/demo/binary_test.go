package demo

import (
	"fmt"
	"github.com/ghlsync/ghlsync/internal/testutil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The end-to-end tests build the real ghlsync binary once and drive it over
// HTTP.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// repoRoot is the module root (this package is internal/demo).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	return root
}

// ghlsyncBinary builds cmd/ghlsync with `go build` (once per test process).
func ghlsyncBinary(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ghlsync-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "ghlsync")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/ghlsync")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/ghlsync: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type syncBuffer = testutil.SyncBuffer

// proc is a running ghlsync process.
type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// testEnv is a clean environment: no GHLSYNC_* setting of the machine leaks
// into the process.
func testEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=UTC"}
	if v := os.Getenv("GOCACHE"); v != "" {
		env = append(env, "GOCACHE="+v)
	}
	return append(env, extra...)
}

// startProc starts the binary in dir; it is stopped (SIGINT, then killed)
// when the test ends.
func startProc(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(ghlsyncBinary(t), args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop interrupts the process and waits for it to exit.
func (p *proc) stop(t *testing.T) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop within 20s of SIGINT; killed\nstderr:\n%s", strings.Join(p.cmd.Args, " "), p.stderr.String())
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// waitFor waits until the process's stdout matches re and returns the
// submatches.
func (p *proc) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %s\nstdout:\n%s\nstderr:\n%s", strings.Join(p.cmd.Args, " "), p.err, re, p.stdout, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no %s within %s\nstdout:\n%s\nstderr:\n%s", strings.Join(p.cmd.Args, " "), re, timeout, p.stdout, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runBinary runs the binary to completion in dir.
func runBinary(t *testing.T, dir string, timeout time.Duration, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	p := startProc(t, dir, testEnv(), args...)
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("ghlsync %s did not finish within %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), timeout, p.stdout, p.stderr)
	}
	return p.stdout.String(), p.stderr.String(), p.cmd.ProcessState.ExitCode()
}
