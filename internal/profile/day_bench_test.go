package profile_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// BenchmarkDecodeDay reads a day of 10 ms buckets (sizingtest.Day), idle
// and with two busy hours, as written to a .json and to a .json.gz
// (Profile.WriteFile); it reports the file's size. sizingtest.Day's
// buckets repeat far more than a real recording's, so its gzip ratio is
// an upper bound.
func BenchmarkDecodeDay(b *testing.B) {
	for _, busy := range []float64{0, 2} {
		var buf, gz bytes.Buffer
		if err := sizingtest.Day(24, busy).Encode(&buf); err != nil {
			b.Fatal(err)
		}
		zw := gzip.NewWriter(&gz)
		zw.Write(buf.Bytes())
		zw.Close()
		for _, f := range []struct {
			name string
			data []byte
		}{{"json", buf.Bytes()}, {"json.gz", gz.Bytes()}} {
			b.Run(fmt.Sprintf("busy-hours=%g/%s", busy, f.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := profile.Decode(bytes.NewReader(f.data)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(f.data)), "file-bytes")
			})
		}
	}
}
