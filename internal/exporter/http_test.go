package exporter

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeAndParse serves a Collector on a real loopback listener and
// reads it back with ParseText, as the end-to-end tests do.
func TestServeAndParse(t *testing.T) {
	c := New(DefaultTop)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(c), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	base := "http://" + ln.Addr().String()
	get := func(path string) (string, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return string(b), resp.Header.Get("Content-Type")
	}

	if body, _ := get("/metrics"); strings.Contains(body, "auditprof_") {
		t.Errorf("metrics before the first snapshot:\n%s", body)
	}
	mustUpdate(t, c, testProfile())
	body, ctype := get("/metrics")
	if !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("Content-Type %q", ctype)
	}
	fams, err := ParseText(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name := range fams {
		if !strings.HasPrefix(name, "auditprof_") {
			t.Errorf("%s is served: only auditprof_ metrics should be", name)
		}
	}
	if v, ok := Value(fams, "auditprof_records_lost_total", "reason", "backlog limit exceeded"); !ok || v != 90 {
		t.Errorf("auditprof_records_lost_total{reason=backlog limit exceeded} = %g, %v; want 90", v, ok)
	}
	if v, ok := Value(fams, "auditprof_records_total"); !ok || v != 1000 {
		t.Errorf("auditprof_records_total = %g, %v", v, ok)
	}
	if _, ok := Value(fams, "auditprof_records_lost_total"); ok {
		t.Error("Value matched several series")
	}
	h := fams["auditprof_backlog_blocked_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 40 || h.GetSampleSum() != 3 || len(h.GetBucket()) != 24 {
		t.Fatalf("histogram: count %d sum %g buckets %d", h.GetSampleCount(), h.GetSampleSum(), len(h.GetBucket()))
	}
	// The text format's +Inf bucket comes last.
	if last := h.GetBucket()[23]; !math.IsInf(last.GetUpperBound(), 1) || last.GetCumulativeCount() != 40 {
		t.Errorf("last bucket %g %d, want +Inf 40", last.GetUpperBound(), last.GetCumulativeCount())
	}
	for i, b := range h.GetBucket()[:23] {
		if b.GetUpperBound() != Bounds()[i] {
			t.Errorf("bucket %d bound %g, want %g", i, b.GetUpperBound(), Bounds()[i])
		}
	}
	if b := h.GetBucket()[7]; b.GetUpperBound() != 0.001048576 || b.GetCumulativeCount() != 33 {
		t.Errorf("bucket le=2^20 ns: %g %d", b.GetUpperBound(), b.GetCumulativeCount())
	}
	if v, ok := Value(fams, "auditprof_backlog_blocked_seconds_count"); !ok || v != 40 {
		t.Errorf("_count = %g, %v", v, ok)
	}
	if v, ok := Value(fams, "auditprof_backlog_blocked_seconds_sum"); !ok || v != 3 {
		t.Errorf("_sum = %g, %v", v, ok)
	}
	if s := Sum(fams, "auditprof_rule_records_total"); s != 1000 {
		t.Errorf("rule records sum to %g", s)
	}

	if page, _ := get("/"); !strings.Contains(page, `href="/metrics"`) {
		t.Errorf("index page does not link /metrics:\n%s", page)
	}
	resp, err := http.Get(base + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %d", resp.StatusCode)
	}
}

func TestParseTextError(t *testing.T) {
	if _, err := ParseText(strings.NewReader("auditprof_x{ 1\n")); err == nil {
		t.Error("no error for a broken exposition")
	}
}
