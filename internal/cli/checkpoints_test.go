package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// TestCheckpointsSaid: record's checkpoints replace the output; failures
// (what the recording hands over when a write fails) are said once on
// stderr however many come, naming the file that keeps the last one
// written, and the summary's line counts both.
func TestCheckpointsSaid(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	p.Checkpoint = &profile.Checkpoint{Seq: 1, UnixNs: 1.7e18, EveryNs: 60e9}
	path := filepath.Join(t.TempDir(), "p.json")
	var stderr bytes.Buffer
	c := &checkpoints{streams: streams{err: &stderr}, path: path}
	if err := c.write(p); err != nil {
		t.Fatal(err)
	}
	back, err := profile.ReadFile(path)
	if err != nil || back.Checkpoint == nil || back.Checkpoint.Seq != 1 {
		t.Fatalf("the checkpoint read back: %v, %+v", err, back)
	}
	for range 3 {
		c.failed(&os.PathError{Op: "write", Path: path + ".tmp", Err: syscall.ENOSPC})
	}
	want := "auditprof: write " + path + ".tmp: no space left on device; " + path +
		" keeps the last one written, and the recording goes on (said once: the summary counts the failures)\n"
	if stderr.String() != want {
		t.Errorf("stderr:\n%q\nwant\n%q", stderr.String(), want)
	}
	if s := c.String(); !strings.HasPrefix(s, "checkpoints: 1 written to "+path) || !strings.HasSuffix(s, "; 3 failed, the last: write "+path+".tmp: no space left on device") {
		t.Errorf("summary line %q", s)
	}
}
