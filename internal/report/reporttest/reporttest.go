// Package reporttest opens report pages in a real browser (headless
// Chromium, as Debian packages it) for tests: the report's own and the
// end-to-end tests', which render pages of profiles recorded in a VM.
package reporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Chromium is where Debian's chromium package puts the browser.
const Chromium = "/usr/bin/chromium"

// NeedBrowser skips without chromium, unless AUDITPROF_REQUIRE_BROWSER=1
// (make test) says its absence is a failure.
func NeedBrowser(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		if os.Getenv("AUDITPROF_REQUIRE_BROWSER") == "1" {
			t.Fatalf("AUDITPROF_REQUIRE_BROWSER=1 and %s is missing (scripts/install-deps.sh installs it): %v", Chromium, err)
		}
		t.Skipf("%s is missing (set AUDITPROF_REQUIRE_BROWSER=1 to fail instead)", Chromium)
	}
}

// RenderedBody loads the page in headless chromium and returns the
// attributes of <body> in the DOM after the page's script ran.
func RenderedBody(t testing.TB, html []byte) map[string]string {
	t.Helper()
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	// A browser that crashes (killed by a signal of its own: seen as a
	// segfault while a make test's VMs and every unit test package ran
	// alongside) says nothing of the page; it is run again, twice at
	// most. Any other failure, and a third crash, fail the test.
	for try := 1; ; try++ {
		stdout.Reset()
		stderr.Reset()
		err := runChromium(dir, page, &stdout, &stderr)
		if err == nil {
			break
		}
		var exit *exec.ExitError
		crashed := errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled()
		if !crashed || try == 3 {
			t.Fatalf("running chromium: %v\n%s", err, stderr.Bytes())
		}
		t.Logf("chromium crashed (%v), running it again", err)
	}
	tag := regexp.MustCompile(`<body\b[^>]*>`).Find(stdout.Bytes())
	if tag == nil {
		t.Fatalf("chromium dumped no <body>:\n%.2000s\nstderr:\n%.2000s", stdout.Bytes(), stderr.Bytes())
	}
	attrs := map[string]string{}
	for _, m := range regexp.MustCompile(`([a-z-]+)="([^"]*)"`).FindAllSubmatch(tag, -1) {
		attrs[string(m[1])] = string(m[2])
	}
	return attrs
}

// runChromium dumps the DOM of page after its script ran, in headless
// chromium with its profile under dir, within two minutes.
func runChromium(dir, page string, stdout, stderr *bytes.Buffer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The flags keep chromium off the network, which this closed network
	// would otherwise make it wait for.
	cmd := exec.CommandContext(ctx, Chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--virtual-time-budget=5000", "--dump-dom", "file://"+page)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err) // not a crash: no ExitError to find
	}
	return err
}

// CheckCharts renders a report page (report.Page's HTML and Charts) and
// fails t unless every chart it promises was drawn without a script error.
// It returns <body>'s attributes.
func CheckCharts(t testing.TB, html []byte, charts int) map[string]string {
	t.Helper()
	body := RenderedBody(t, html)
	if e := body["data-charts-error"] + body["data-charts-failed"]; e != "" {
		t.Errorf("page script: %s", e)
	}
	rendered, err1 := strconv.Atoi(body["data-charts-rendered"])
	expected, err2 := strconv.Atoi(body["data-charts-expected"])
	if err1 != nil || err2 != nil {
		t.Fatalf("no chart markers on <body>: %v", body)
	}
	if rendered != expected || expected != charts || expected < 4 {
		t.Errorf("%d of %d charts drawn, Build promised %d (want all, at least 4)", rendered, expected, charts)
	}
	return body
}
