package sizing

import (
	"fmt"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// BenchmarkRecommendDayStall: BenchmarkRecommendDay's day with two busy
// hours and a recorded stall of 0.5 s in them (records queued, none
// delivered), on a kernel whose kauditd gives up (moves): sized for the
// longest stall measured, as recommend does by default, and for 2 s. A
// real recording has stalls, and the search for the worst one reads every
// bucket; the day without one does not show its cost.
func BenchmarkRecommendDayStall(b *testing.B) {
	p := sizingtest.Day(24, 2)
	t := &p.Timeline
	for i := t.Len() / 2; i < t.Len()/2+50; i++ {
		t.Dense().Delivered[i] = 0
	}
	p.KauditdSendTimeoutNs = int64(100 * time.Millisecond)
	for _, stall := range []time.Duration{-1, 2 * time.Second} {
		b.Run(fmt.Sprintf("stall=%s", stall), func(b *testing.B) {
			for b.Loop() {
				if _, err := Recommend(p, Options{Stall: stall}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
