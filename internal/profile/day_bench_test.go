package profile_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// BenchmarkDecodeDay reads a day of 10 ms buckets (sizingtest.Day), idle
// and with two busy hours; it reports the file's size.
func BenchmarkDecodeDay(b *testing.B) {
	for _, busy := range []float64{0, 2} {
		var buf bytes.Buffer
		if err := sizingtest.Day(24, busy).Encode(&buf); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("busy-hours=%g", busy), func(b *testing.B) {
			for b.Loop() {
				if _, err := profile.Decode(bytes.NewReader(buf.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "file-bytes")
		})
	}
}
