package netlink

import (
	"strings"
	"testing"
	"time"
)

func TestDrainedNotes(t *testing.T) {
	if n := (drained{timeout: time.Second}).notes(3*time.Second, time.Millisecond); len(n) != 0 {
		t.Fatalf("nothing drained, nothing left: notes %q", n)
	}
	n := (drained{records: 1200, left: 30, timeout: 10 * time.Second}).notes(3*time.Second, 2*time.Second)
	if len(n) != 2 || !strings.Contains(n[0], "stopped at 3s; the last 2s received 1200 records") ||
		!strings.Contains(n[1], "30 records were still in the audit queue 10s after the stop") {
		t.Fatalf("notes %q", n)
	}
}
