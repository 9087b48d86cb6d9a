package e2e

import (
	_ "embed"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

//go:embed testdata/checkpoint.sh
var checkpointSh string

// checkpointEvery is the tests' --checkpoint: short, for a short guest.
const checkpointEvery = 2 * time.Second

// TestCheckpoint (issue 20, items 4 to 6): record's checkpoints on a real
// filesystem that fills (a tmpfs), with records lost on both sides of
// each fault. A checkpoint taken after the queue emptied holds exactly
// the kernel's lost delta; while the filesystem is full the last one
// written stays, said once, and the journal holds its rows in memory;
// once there is room the next checkpoint has everything, the rows of the
// full stretch too; the recorder killed with SIGKILL leaves it, and
// recommend and validate read it and say it ended early. A recording that
// finds the filesystem full at its end saves its whole profile in the
// fallback directory. The oracle is the kernel's lost counter.
func TestCheckpoint(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Vars: map[string]string{"CHECKPOINT": strconv.Itoa(int(checkpointEvery / time.Second)),
					// A checkpoint, and its write: the maps are read
					// after the queue emptied.
					"CHECKPOINT_WAIT": strconv.Itoa(int(2*checkpointEvery/time.Second) + 1)},
				Script: guestScript(checkpointSh), Timeout: 20 * time.Minute})
			checkCheckpoint(t, g)
		})
	}
}

func checkCheckpoint(t *testing.T, g guestRun) {
	lostMid := g.status("a.mid")["lost"] - g.status("a.before")["lost"]
	lostAll := g.delta("a", "lost")
	ck := []*profile.Profile{g.profile("a.ck1"), g.profile("a.ck2"), g.profile("a.ck3")}
	for i, p := range ck {
		if p.Checkpoint == nil {
			t.Fatalf("checkpoint %d: no checkpoint field", i+1)
		}
		var tlLost uint64
		for b, err := range p.Timeline.All() {
			if err != nil {
				t.Fatal(err)
			}
			tlLost += b.Lost
		}
		t.Logf("checkpoint %d: seq %d, %v in, lost %d (timeline %d), records %d, processes %d, rules %d",
			i+1, p.Checkpoint.Seq, time.Duration(p.DurationNs), p.Totals.Lost, tlLost, p.Totals.Records, len(p.Processes), len(p.Rules))
		if tlLost != p.Totals.Lost {
			t.Errorf("checkpoint %d: the timeline loses %d, totals.lost %d", i+1, tlLost, p.Totals.Lost)
		}
		if len(p.Rules) == 0 || len(p.Processes) == 0 || p.AuditAfter == nil {
			t.Errorf("checkpoint %d: not a complete profile: %d rules, %d processes, audit_after %v", i+1, len(p.Rules), len(p.Processes), p.AuditAfter)
		}
	}
	t.Logf("kernel: lost %d by the first checkpoint, %d in all", lostMid, lostAll)
	if lostMid == 0 || lostAll <= lostMid {
		t.Fatalf("the kernel lost %d, then %d in all: want some in each burst", lostMid, lostAll)
	}
	// Taken after the first burst's queue emptied: exactly the kernel's.
	if ck[0].Totals.Lost != lostMid {
		t.Errorf("the first checkpoint counts %d lost, the kernel lost %d", ck[0].Totals.Lost, lostMid)
	}
	// Written before the filesystem filled (the last one written stays):
	// the second burst is not in it.
	if ck[1].Totals.Lost != lostMid || ck[1].Checkpoint.Seq < ck[0].Checkpoint.Seq {
		t.Errorf("the checkpoint while full: seq %d, lost %d; want the first burst's %d, seq at least %d",
			ck[1].Checkpoint.Seq, ck[1].Totals.Lost, lostMid, ck[0].Checkpoint.Seq)
	}
	// Room again: everything, the full stretch's rows too.
	if ck[2].Totals.Lost != lostAll || ck[2].Checkpoint.Seq <= ck[1].Checkpoint.Seq {
		t.Errorf("the checkpoint after: seq %d, lost %d; want the kernel's %d, seq past %d",
			ck[2].Checkpoint.Seq, ck[2].Totals.Lost, lostAll, ck[1].Checkpoint.Seq)
	}
	// Said once each: the checkpoints that failed, the journal behind and
	// caught up.
	out := g.section("a.out")
	if n := strings.Count(out, "keeps the last one written, and the recording goes on"); n != 1 {
		t.Errorf("record's output says %d times that a checkpoint failed, want once:\n%s", n, out)
	}
	// The journal falls behind: the full stretch's rows (the trickle's
	// 300 buckets) need more than its last page (a burst's alone may fit
	// there: seen on 6.12 with the host busy); it says so once, and once
	// that it caught up. The third checkpoint's totals and timeline
	// (above) show that nothing held was lost.
	behind := strings.Count(out, "held in memory, written once there is room); the recording goes on")
	caught := strings.Count(out, "the journal /out/a.json.partial is written again, nothing missing")
	t.Logf("the journal fell behind %d times, caught up %d times", behind, caught)
	if behind != 1 || caught != 1 {
		t.Errorf("record's output: the journal fell behind %d times and caught up %d times, want once each:\n%s", behind, caught, out)
	}
	if !strings.Contains(out, "no space left on device") {
		t.Errorf("record's output does not say why:\n%s", out)
	}

	// The last checkpoint, read after the kill.
	if rc := g.exitCode("arec"); rc != 0 || !strings.Contains(g.section("arec.out"), "note: /out/a.json is a checkpoint (the ") {
		t.Errorf("recommend on the last checkpoint: exit %d\n%s", rc, g.section("arec.out"))
	}
	v := jsonOut(t, g, "avalid")
	rec := jsonOut(t, g, "arecj")
	// The replay's check (TestSizing's tolerance: 10%, or a bucket of
	// drain) at the limit in force.
	tol := max(0.1*float64(lostAll), number(t, rec, "drain_rate")*0.010)
	if pred := number(t, rec, "current_predicted_lost"); math.Abs(pred-float64(lostAll)) > tol || number(t, rec, "recorded_lost") != float64(lostAll) {
		t.Errorf("the replay of the last checkpoint at 300 predicts %.0f lost, recorded %v, the kernel lost %d (more than %.0f off)",
			pred, rec["recorded_lost"], lostAll, tol)
	}
	if number(t, v, "recorded_lost") != float64(lostAll) {
		t.Errorf("validate on the last checkpoint: recorded_lost %v, want %d", v["recorded_lost"], lostAll)
	}

	// Full at the end: saved elsewhere, whole, not a checkpoint.
	if rc := g.exitCode("b"); rc == 0 {
		t.Errorf("record exited 0 with its output's filesystem full:\n%s", g.section("b.out"))
	}
	b := g.profile("b")
	checkDeliveredSum(t, "b", b)
	if b.Checkpoint != nil || b.Totals.Lost != g.delta("b", "lost") || g.delta("b", "lost") == 0 {
		t.Errorf("the profile saved at the end: checkpoint %v, lost %d; the kernel lost %d", b.Checkpoint, b.Totals.Lost, g.delta("b", "lost"))
	}
}
