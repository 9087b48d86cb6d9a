package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/probe"
)

// TestProcessMinAgeFlag: record's --process-min-age refuses a negative age,
// and its 0 ("every process") reaches the probe as NoProcessMinAge, not as
// the probe's "default" zero.
func TestProcessMinAgeFlag(t *testing.T) {
	code, _, stderr := run(t, "record", "--process-min-age", "-1s")
	if code != ExitUsage || !strings.Contains(stderr, "--process-min-age must not be negative") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	for in, want := range map[time.Duration]time.Duration{
		0:           probe.NoProcessMinAge,
		time.Second: time.Second,
		time.Minute: time.Minute,
	} {
		if got := processMinAge(in); got != want {
			t.Errorf("processMinAge(%s) = %s, want %s", in, got, want)
		}
	}
	cmd := newRecordCmd(streams{})
	if f := cmd.Flags().Lookup("process-min-age"); f == nil || f.DefValue != "1s" {
		t.Errorf("--process-min-age: %+v, want default 1s", f)
	}
}
