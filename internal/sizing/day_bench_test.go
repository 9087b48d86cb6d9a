package sizing

import (
	"fmt"
	"testing"

	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// BenchmarkRecommendDay: a recommendation over a day of 10 ms buckets
// (sizingtest.Day), idle and with two busy hours. Issue 14's goal is
// recommend, validate and report over 24 hours within 5 s, reading the
// file included (profile's BenchmarkDecodeDay).
func BenchmarkRecommendDay(b *testing.B) {
	for _, busy := range []float64{0, 2} {
		p := sizingtest.Day(24, busy)
		b.Run(fmt.Sprintf("busy-hours=%g", busy), func(b *testing.B) {
			for b.Loop() {
				if _, err := Recommend(p, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
