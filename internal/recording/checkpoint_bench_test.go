package recording

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// BenchmarkCheckpoint is one of record's checkpoints (the journal's
// timeline and stalls, the profile written as cli's checkpoints write it)
// at 2 h and at 24 h into a day of 10 ms buckets (sizingtest.Day): an
// idle one, and one with two busy hours in its middle (and the idle one
// without delivered, whose stalls are measured in full). old reads the
// whole journal again (fillFull, what checkpoints did before
// checkpointRows); new goes on from a checkpoint a minute before, made
// outside the timing. Issue 14 asks for a checkpoint's cost independent
// of the recording's length: new at 24 h about new at 2 h.
func BenchmarkCheckpoint(b *testing.B) {
	for _, d := range []struct {
		name        string
		busy        float64
		noDelivered bool
	}{{"idle", 0, false}, {"busy2h", 2, false}, {"idle-nodelivered", 0, true}} {
		dir := b.TempDir()
		day := sizingtest.Day(24, d.busy)
		if d.noDelivered {
			// No consumer registered: the stalls are measured in full
			// (sizing.StallTracker).
			day.Timeline.Dense().Delivered = nil
		}
		path, head := writeJournal(b, dir, day)
		for _, at := range []time.Duration{2 * time.Hour, 24 * time.Hour} {
			size := journalSizeAt(b, path, at)
			before := journalSizeAt(b, path, at-time.Minute)
			snap := func() *profile.Profile {
				p := *head
				p.DurationNs = int64(at)
				p.Checkpoint = &profile.Checkpoint{Seq: int(at / time.Minute), UnixNs: 1, EveryNs: int64(time.Minute)}
				return &p
			}
			out := filepath.Join(dir, "out.json")
			b.Run(d.name+"/at="+at.String()+"/old", func(b *testing.B) {
				var cpu cpuTime
				for b.Loop() {
					cpu.start()
					p := snap()
					if err := fillFull(p, path, size); err != nil {
						b.Fatal(err)
					}
					if err := p.WriteFile(out); err != nil {
						b.Fatal(err)
					}
					p.Timeline.Close()
					cpu.stop()
				}
				cpu.report(b)
			})
			b.Run(d.name+"/at="+at.String()+"/new", func(b *testing.B) {
				var cpu cpuTime
				for b.Loop() {
					b.StopTimer()
					var rows checkpointRows
					p := snap()
					if err := rows.fill(p, path, before); err != nil {
						b.Fatal(err)
					}
					p.Timeline.Close()
					runtime.GC() // the setup's garbage is not the checkpoint's
					b.StartTimer()
					cpu.start()
					p = snap()
					if err := rows.fill(p, path, size); err != nil {
						b.Fatal(err)
					}
					if err := p.WriteFile(out); err != nil {
						b.Fatal(err)
					}
					p.Timeline.Close()
					cpu.stop()
					b.StopTimer()
					if err := rows.close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				cpu.report(b)
			})
		}
	}
}

// journalSizeAt is the size of the journal at path as a checkpoint at
// the recording's at would read it: its lines up to the first one past
// that bucket.
func journalSizeAt(b testing.TB, path string, at time.Duration) int64 {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	first, err := br.ReadBytes('\n')
	if err != nil {
		b.Fatal(err)
	}
	const bucketNs = int64(10 * time.Millisecond)
	target, off, bucket := int64(at)/bucketNs, int64(len(first)), int64(0)
	for {
		l, err := br.ReadBytes('\n')
		if err != nil {
			return off // the whole journal
		}
		switch {
		case bytes.HasPrefix(l, []byte("[")):
			skip, _ := strconv.ParseInt(string(l[1:bytes.IndexByte(l, ',')]), 10, 64)
			bucket += skip + 1
		case bytes.HasPrefix(l, []byte(`{"end":`)):
			bucket, _ = strconv.ParseInt(string(bytes.TrimSpace(l[len(`{"end":`):len(l)-2])), 10, 64)
		}
		if bucket > target {
			return off
		}
		off += int64(len(l))
	}
}

// cpuTime sums the process's user and system CPU time over the timed
// parts of a benchmark (getrusage): a checkpoint's cost is CPU, which
// the wall time (ns/op) mixes with waiting for the disk (WriteFile
// syncs the file and its directory).
type cpuTime struct {
	user, sys time.Duration
	n         int
	at        syscall.Rusage
}

func (c *cpuTime) start() { _ = syscall.Getrusage(syscall.RUSAGE_SELF, &c.at) }

func (c *cpuTime) stop() {
	var now syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &now)
	c.user += time.Duration(now.Utime.Nano() - c.at.Utime.Nano())
	c.sys += time.Duration(now.Stime.Nano() - c.at.Stime.Nano())
	c.n++
}

func (c *cpuTime) report(b *testing.B) {
	if c.n > 0 {
		b.ReportMetric(float64(c.user.Microseconds())/1e3/float64(c.n), "user-ms/op")
		b.ReportMetric(float64(c.sys.Microseconds())/1e3/float64(c.n), "sys-ms/op")
	}
}
