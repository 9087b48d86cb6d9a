package e2e

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

// recLimit is the backlog_limit s1 is recorded at: below the load's peak,
// so that the recording loses records, but not the kernel's default of 64.
// From a recording that drops most of its records the minimum errs high
// (dropped records cost producers less than queued ones, so the lossy
// bursts are shorter, and the consumer's pace under the real load is never
// seen), and R/2 then loses nothing: at 64 the minimum came out near
// twice the peak the same load reached with room. The README tells
// operators the same: record near the limit you run with.
const recLimit = 2000

func TestSizing(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			// One vCPU in instruction-counted time (vmtest's defaults):
			// the producers, kauditd and auditd share it as the guest's
			// scheduler decides, the same way whatever the host does.
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Vars:   map[string]string{"REC_LIMIT": strconv.Itoa(recLimit)},
				Script: guestScript(sizingSh), Timeout: 30 * time.Minute})
			checkSizing(t, g)
			checkApply(t, g)
		})
	}
}

func jsonOut(t *testing.T, g guestRun, name string) map[string]any {
	t.Helper()
	if rc := g.exitCode(name); rc != 0 {
		t.Fatalf("%s exited %d: %s", name, rc, g.section(name+".out"))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(g.section(name+".out")), &m); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, g.section(name+".out"))
	}
	return m
}

// number is a JSON number field; a missing or mistyped one fails the test
// (a panic would end every VM test of the package at once).
func number(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("%q is %v (%T), not a number, in %v", key, m[key], m[key], m)
	}
	return v
}

func checkSizing(t *testing.T, g guestRun) {
	// Keep the first recording when anything below fails, to replay it.
	t.Cleanup(func() {
		if t.Failed() {
			keep := filepath.Join(os.TempDir(), "auditprof-sizing-s1-"+strings.ReplaceAll(t.Name(), "/", "-")+".json")
			if os.WriteFile(keep, []byte(g.sections["s1.json"]), 0o644) == nil {
				t.Logf("the recorded profile is in %s", keep)
			}
		}
	})
	rec := jsonOut(t, g, "rec")
	r := uint64(number(t, rec, "backlog_limit"))
	lost1 := g.delta("s1", "lost")
	vRec, vR := jsonOut(t, g, "vRec"), jsonOut(t, g, "vR")
	predRec := number(t, vRec, "predicted_lost")
	t.Logf("s1: kernel lost %d at limit %d; recommended %d (minimum %v, peak %.0f, arrivals %.0f/s, drain %.0f/s); validate predicts %.0f lost at %d, %.0f at %d",
		lost1, recLimit, r, rec["minimum_limit"], rec["peak_depth"], rec["arrival_rate"], rec["drain_rate"], predRec, recLimit, vR["predicted_lost"], r)
	t.Logf("s2 at %d: kernel lost %d, peak depth %d; s3 at %d: kernel lost %d", r, g.delta("s2", "lost"), g.profile("s2").Totals.MaxDepth,
		r/2, g.delta("s3", "lost"))
	if lost1 == 0 {
		t.Fatalf("the recorded workload lost nothing at limit %d: not an overload, nothing to prove", recLimit)
	}
	if rec["sustained_overload"] != false || r <= recLimit {
		t.Fatalf("recommendation %v", rec)
	}
	// The replay works in 10 ms buckets: where a burst overflows, what
	// the consumer took inside the bucket the queue filled in is known
	// only as that bucket's total, so each of the load's three bursts
	// may be off by up to one bucket of drain (about 160 records at
	// 16,000 records/s).
	tol := max(0.1*float64(lost1), 3*number(t, rec, "drain_rate")*0.010)
	if math.Abs(predRec-float64(lost1)) > tol {
		t.Errorf("validate predicts %.0f lost at the recorded setting, the kernel counted %d (more than %.0f off: 10%%, or a bucket of drain per burst)", predRec, lost1, tol)
	}
	if number(t, vR, "predicted_lost") != 0 || vR["held"] != true {
		t.Errorf("validate at the recommended %d: %v", r, vR)
	}
	// recommend --apply set it, and verified it with AUDIT_GET.
	applied, _ := rec["applied"].(map[string]any)
	after, _ := applied["after"].(map[string]any)
	if after == nil || uint64(number(t, after, "backlog_limit")) != r {
		t.Fatalf("recommend --apply: %v", applied)
	}
	if got := g.status("s2.before")["backlog_limit"]; got != r {
		t.Errorf("backlog_limit %d after recommend --apply of %d", got, r)
	}
	if l := g.delta("s2", "lost"); l != 0 {
		t.Errorf("the same workload at the recommended limit %d lost %d records", r, l)
	}
	// At R/2, a setting the recording never ran at, the prediction is out
	// of sample: logged (the README quotes it), and it must at least say
	// that records are lost when the kernel lost some.
	vH := jsonOut(t, g, "vH")
	t.Logf("s3 at %d: validate on the s1 profile predicted %.0f lost, the kernel counted %d (s1 reached depth %d, s3 %d)", r/2, vH["predicted_lost"], g.delta("s3", "lost"),
		g.profile("s1").Totals.MaxDepth, g.profile("s3").Totals.MaxDepth)
	checkWaitModel(t, g)
	// Tight: the replay's minimum with no stall, the part of R the model
	// computes from the recording, must be under twice what the same
	// load needed in the kernel: its peak depth at R (s2) or at R/2 (s3,
	// clipped there when it lost). R adds to it the headroom and a stall
	// at the worst moment, which the runs at R and R/2 need not meet, and
	// the load's own peak moves from run to run (3,600 to 4,050 for this
	// load on 6.12 in one day's runs), so whether R/2 loses is logged,
	// not asserted: with R about twice the peak it is a coin toss.
	need := max(g.profile("s2").Totals.MaxDepth, g.profile("s3").Totals.MaxDepth)
	noStall := number(t, rec, "no_stall_minimum_limit")
	t.Logf("tightness: the replay's no-stall minimum %.0f is %.2fx the peak the load reached at R or R/2 (%d); R is %.2fx", noStall, noStall/float64(need), need, float64(r)/float64(need))
	if noStall >= 2*float64(need) {
		t.Errorf("the replay's minimum with no stall, %.0f, is at least twice the depth the same load reached in the kernel (%d): the model is not tight", noStall, need)
	}
	if l := g.delta("s3", "lost"); l == 0 {
		t.Logf("the same workload at half the recommended limit (%d) lost nothing", r/2)
	} else if number(t, vH, "predicted_lost") == 0 {
		t.Errorf("validate predicted no loss at %d, the kernel lost %d", r/2, l)
	}

	// recommend --duration: recorded the load, wrote the profile, decided.
	recdur := jsonOut(t, g, "recdur")
	t.Logf("recommend --duration: %v (peak %v)", recdur["backlog_limit"], recdur["peak_depth"])
	if recdur["sustained_overload"] == true || number(t, recdur, "backlog_limit") <= 64 {
		t.Errorf("recommend --duration over the bursts: %v", recdur)
	}
	if p := g.profile("s5"); p.Totals.Lost == 0 {
		t.Errorf("the profile recommend --duration wrote saw no loss at limit 64")
	}

	rec4 := jsonOut(t, g, "rec4")
	t.Logf("s4: sustained %v, ride-out %v, arrivals %.0f/s, drain %.0f/s", rec4["sustained_overload"], rec4["ride_out_limit"],
		rec4["arrival_rate"], rec4["drain_rate"])
	if rec4["sustained_overload"] != true || number(t, rec4, "backlog_limit") != 0 {
		t.Errorf("a load outlasting the recording was not called sustained overload: %v", rec4)
	}
}

func checkApply(t *testing.T, g guestRun) {
	// --dry-run changes nothing.
	if rc := g.exitCode("dry"); rc != 0 {
		t.Errorf("dry run exited %d: %s", rc, g.section("dry.out"))
	}
	if b, a := g.status("dry.before")["backlog_limit"], g.status("dry.after")["backlog_limit"]; a != b {
		t.Errorf("--dry-run changed backlog_limit %d -> %d", b, a)
	}
	if strings.Contains(g.section("dry.ls"), "50-backlog") || !strings.Contains(g.section("dry.out"), "+ -b 1300") {
		t.Errorf("--dry-run: files %q, output %q", g.section("dry.ls"), g.section("dry.out"))
	}
	// --persist: the kernel and the file say the same; later files warned about.
	if rc := g.exitCode("persist"); rc != 0 {
		t.Fatalf("persist exited %d: %s", rc, g.section("persist.out"))
	}
	st := g.status("persist.after")
	if st["backlog_limit"] != 1300 || st["backlog_wait_time"] != 500 {
		t.Errorf("after apply 1300/2s at HZ 250: %v", st)
	}
	if f := g.section("persist.file"); !strings.Contains(f, "-b 1300\n") || !strings.Contains(f, "--backlog_wait_time 500\n") {
		t.Errorf("persisted file %q", f)
	}
	if !strings.Contains(g.section("persist.out"), "99-late.rules:1 sets -b 320") {
		t.Errorf("no warning about the later rules file: %s", g.section("persist.out"))
	}
	if rc := g.exitCode("again"); rc != 0 || !strings.Contains(g.section("again.file"), "-b 2600\n") ||
		!strings.Contains(g.section("again.bak"), "-b 1300\n") {
		t.Errorf("second persist: exit %d, file %q, backup %q", rc, g.section("again.file"), g.section("again.bak"))
	}
	if st := g.status("reload"); g.exitCode("reload") != 0 || st["backlog_limit"] != 2600 || st["backlog_wait_time"] != 500 {
		t.Errorf("auditctl -R of the persisted file: exit %d, backlog_limit %d, backlog_wait_time %d; want 2600 and 500",
			g.exitCode("reload"), st["backlog_limit"], st["backlog_wait_time"])
	}
	// Bad values: usage errors, one line.
	for _, n := range []string{"zero", "longwait"} {
		if rc := g.exitCode(n); rc != 2 || strings.Count(g.section(n+".out"), "\n") != 1 {
			t.Errorf("%s: exit %d, output %q", n, rc, g.section(n+".out"))
		}
	}
	// Locked audit: refused with exit 4, nothing changed.
	if rc := g.exitCode("locked"); rc != 4 || !strings.Contains(g.section("locked.out"), "audit is locked") {
		t.Errorf("locked: exit %d, output %q", rc, g.section("locked.out"))
	}
	if got := g.status("locked.after")["backlog_limit"]; got != 2600 {
		t.Errorf("backlog_limit %d after a refused apply on locked audit, want 2600", got)
	}
}

// checkWaitModel compares validate's wait prediction, from the recording
// at wait time 0, with what the kernel counted (backlog_wait_time_actual)
// when the same load ran at 5 jiffies. The bounds are loose: the
// producers share the vCPU with kauditd and auditd here, which a
// recording cannot see: the prediction is a model's, not an account,
// and must land within a quarter to eight times the kernel's wait.
func checkWaitModel(t *testing.T, g guestRun) {
	p := g.profile("w")
	if p.HZ != 250 {
		t.Fatalf("HZ %d: the guest script gives validate 5 jiffies as 20 ms, which holds at HZ 250 only", p.HZ)
	}
	vW := jsonOut(t, g, "vW")
	kernelNs := float64(g.delta("w", "backlog_wait_time_actual")) * 4e6
	pred := number(t, vW, "predicted_wait_ns")
	t.Logf("w at wait time 5 jiffies: kernel lost %d, slept %.2fs; validate on s1 predicted %.0f lost, %.2fs (%.2fx)",
		g.delta("w", "lost"), kernelNs/1e9, vW["predicted_lost"], pred/1e9, pred/kernelNs)
	if kernelNs == 0 {
		t.Fatal("the load at wait time 5 jiffies never waited: not an overload")
	}
	if pred < kernelNs/4 || pred > kernelNs*8 {
		t.Errorf("validate predicted %.2fs of backlog wait, the kernel counted %.2fs", pred/1e9, kernelNs/1e9)
	}
}
