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

// BenchmarkWriteDay writes a day of 10 ms buckets with two busy hours
// (sizingtest.Day), read back first as record's stop holds it (its rows),
// to a .json and a .json.gz (Profile.WriteFile): what writing costs in
// time and memory beyond the rows themselves.
func BenchmarkWriteDay(b *testing.B) {
	var buf bytes.Buffer
	if err := sizingtest.Day(24, 2).Encode(&buf); err != nil {
		b.Fatal(err)
	}
	p, err := profile.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"p.json", "p.json.gz"} {
		b.Run(name, func(b *testing.B) {
			path := b.TempDir() + "/" + name
			b.ReportAllocs()
			for b.Loop() {
				if err := p.WriteFile(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
