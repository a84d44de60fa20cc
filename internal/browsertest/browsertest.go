// Package browsertest starts Debian's chromium headless for the console's
// browser tests, driven with chromedp. It never downloads a browser: it
// uses $CHROMIUM_BIN or /usr/bin/chromium (apt-get install chromium), and
// skips the test when neither exists, except under CI=true, where .ci/run
// has installed it and a missing browser fails the test. It imports
// nothing of ours.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultBin is where Debian's chromium package puts the browser.
const DefaultBin = "/usr/bin/chromium"

// Bin is the chromium to run: $CHROMIUM_BIN when set, else DefaultBin;
// "" when that file does not exist.
func Bin() string {
	bin := os.Getenv("CHROMIUM_BIN")
	if bin == "" {
		bin = DefaultBin
	}
	if _, err := os.Stat(bin); err != nil {
		return ""
	}
	return bin
}

// Size is a browser window: Desktop and Phone (a 360 px wide phone).
type Size struct{ Width, Height int }

var (
	Desktop = Size{1280, 900}
	Phone   = Size{360, 740}
)

// New starts a headless chromium with a window of size and returns the
// context of its first tab, bounded by timeout; the browser ends with the
// test. Tabs of the same browser (another user, another cookie jar) come
// from NewIncognito.
func New(t testing.TB, size Size, timeout time.Duration) context.Context {
	t.Helper()
	bin := Bin()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s (set CHROMIUM_BIN): CI installs it with apt-get install chromium", DefaultBin)
		}
		t.Skipf("browser test skipped: no chromium at %s (apt-get install chromium, or set CHROMIUM_BIN)", DefaultBin)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.WindowSize(size.Width, size.Height),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first action starts the browser, which lives as long as the
	// context of that call: the time limit goes on a context derived
	// after it (chromedp.Run's rule).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", bin, err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

// NewIncognito opens a tab of the same browser in its own browser context
// (its own cookies): a second user signed in beside the first.
func NewIncognito(t testing.TB, parent context.Context, size Size) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(size.Width), int64(size.Height))); err != nil {
		t.Fatalf("open a second tab: %v", err)
	}
	return ctx
}
