package sizing

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// BenchmarkRecommendDay: a recommendation over a day of 10 ms buckets
// (sizingtest.Day), idle and with two busy hours. Issue 14's goal is
// recommend, validate and report over 24 hours within 5 s, reading the
// file included (profile's BenchmarkDecodeDay). "dense" is the day as
// sizingtest builds it, every series a value per bucket; "rows" is it
// read back from a file, as the CLI has it: only its non-empty buckets
// (Timeline.Rows), which Reconstruct reads without densifying.
func BenchmarkRecommendDay(b *testing.B) {
	for _, busy := range []float64{0, 2} {
		dense := sizingtest.Day(24, busy)
		var buf bytes.Buffer
		if err := dense.Encode(&buf); err != nil {
			b.Fatal(err)
		}
		rows, err := profile.Decode(&buf)
		if err != nil {
			b.Fatal(err)
		}
		for _, form := range []struct {
			name string
			p    *profile.Profile
		}{{"dense", dense}, {"rows", rows}} {
			b.Run(fmt.Sprintf("busy-hours=%g/%s", busy, form.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := Recommend(form.p, Options{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
