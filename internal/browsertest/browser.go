// Package browsertest drives ghlsync's browser surfaces — the dashboard
// and the OAuth consent and callback pages — in a real headless Chromium,
// from go test.
//
// The tests need Chromium at /usr/bin/chromium (Debian's package:
// `apt-get install chromium`; GHLSYNC_CHROMIUM names another binary). Without
// it they are skipped, except under CI=true, where they fail: CI installs it
// in .ci/run.
package browsertest

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultChromium is Debian's Chromium.
const DefaultChromium = "/usr/bin/chromium"

// ChromiumPath is the browser the tests run: GHLSYNC_CHROMIUM when set, else
// DefaultChromium.
func ChromiumPath() string {
	if p := os.Getenv("GHLSYNC_CHROMIUM"); p != "" {
		return p
	}
	return DefaultChromium
}

// RequireChromium returns the browser's path. When it is missing the test
// fails under CI=true (CI must install it) and is skipped elsewhere, with
// the command that installs it.
func RequireChromium(t testing.TB) string {
	t.Helper()
	p := ChromiumPath()
	st, err := os.Stat(p)
	if err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return p
	}
	why := "not found"
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		why = err.Error()
	} else if err == nil {
		why = "not an executable file"
	}
	msg := "browser tests need Chromium at " + p + " (" + why + "): install it with `apt-get install chromium` (Debian), or set GHLSYNC_CHROMIUM to a Chromium binary"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; under CI=true it is required (.ci/run installs it)")
	}
	t.Skip(msg)
	return ""
}

// Flags are the command line of every browser the tests start: headless,
// as root without a sandbox, no GPU, and nothing that reaches the network
// by itself (QUIC, background requests, component updates, sync).
func Flags(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1280, 900),
	}
}

// New starts a fresh Chromium (an empty profile of its own) for t and
// returns a tab's context that ends after timeout, so a hung browser fails
// the test instead of hanging it. The browser is closed when t ends.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	RequireChromium(t)
	// Registered first, removed last: after the browser has exited.
	profile := t.TempDir()
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, Flags(profile)...)
	var done atomic.Bool // no logging to t once it has ended
	tctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if !done.Load() {
			t.Logf("chromium: "+format, args...)
		}
	}))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
		cancelTimeout()
		done.Store(true)
	})
	// Start the browser now, so a browser that cannot start says so here.
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("start %s: %v", ChromiumPath(), err)
	}
	return tctx
}

// HTML returns the whole document of the tab's page as the browser holds it.
func HTML(ctx context.Context) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}

// Screenshot captures the whole page as PNG into t's temporary folder and,
// when GHLSYNC_SCREENSHOT_DIR is set, also there, and returns the paths
// written.
func Screenshot(t testing.TB, ctx context.Context, name string) []string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("GHLSYNC_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("GHLSYNC_SCREENSHOT_DIR: %v", err)
		}
		dirs = append(dirs, d)
	}
	var paths []string
	for _, d := range dirs {
		p := filepath.Join(d, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatalf("write screenshot: %v", err)
		}
		paths = append(paths, p)
	}
	t.Logf("screenshot %s: %s (%d bytes)", name, paths[len(paths)-1], len(png))
	return paths
}
