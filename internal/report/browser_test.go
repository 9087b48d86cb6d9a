package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

const chromium = "/usr/bin/chromium"

// needBrowser skips without chromium, unless AUDITPROF_REQUIRE_BROWSER=1
// (make test) says its absence is a failure.
func needBrowser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("AUDITPROF_REQUIRE_BROWSER") == "1" {
			t.Fatalf("AUDITPROF_REQUIRE_BROWSER=1 and %s is missing (scripts/install-deps.sh installs it): %v", chromium, err)
		}
		t.Skipf("%s is missing (set AUDITPROF_REQUIRE_BROWSER=1 to fail instead)", chromium)
	}
}

// renderedBody loads the page in headless chromium and returns the
// attributes of <body> in the DOM after the page's script ran.
func renderedBody(t *testing.T, html []byte) map[string]string {
	t.Helper()
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The flags keep chromium off the network, which this closed network
	// would otherwise make it wait for.
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--virtual-time-budget=5000", "--dump-dom", "file://"+page)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("running chromium: %v\n%s", err, stderr.Bytes())
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

// TestBrowserRendersCharts: every chart the page promises is drawn, in a
// real browser, with no network.
func TestBrowserRendersCharts(t *testing.T) {
	needBrowser(t)
	overload, _ := sizingtest.Simulate(10_000, func(int) float64 { return 1.5 }, 5, 5, 64)
	hostile := simulated(t)
	// Would set data-pwned on <body> if it escaped its JSON string.
	hostile.Rules[0].Key = `</script><script>document.body.dataset.pwned=1</script>`
	hostile.Processes[0].Comm = `<img src=x onerror="document.body.dataset.pwned=2">`
	for _, tc := range []struct {
		name string
		p    *profile.Profile
	}{
		{"simulated", simulated(t)},
		{"hostile strings", hostile},
		{"sustained overload", overload},
		{"one hour", oneHour(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg, err := Build(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			body := renderedBody(t, pg.HTML)
			if e := body["data-charts-error"] + body["data-charts-failed"]; e != "" {
				t.Errorf("page script: %s", e)
			}
			if v, ok := body["data-pwned"]; ok {
				t.Errorf("a profile string ran as script (data-pwned=%s)", v)
			}
			rendered, err1 := strconv.Atoi(body["data-charts-rendered"])
			expected, err2 := strconv.Atoi(body["data-charts-expected"])
			if err1 != nil || err2 != nil {
				t.Fatalf("no chart markers on <body>: %v", body)
			}
			if rendered != expected || expected != pg.Charts || expected < 4 {
				t.Errorf("%d of %d charts drawn, Build promised %d (want all, at least 4)", rendered, expected, pg.Charts)
			}
		})
	}
}
