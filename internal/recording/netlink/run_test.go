package netlink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/auditprof/auditprof/internal/asnobody"
	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/profile"
)

const envRunChild = "NETLINK_TEST_RUN_CHILD"

// testBucket is the bucket width recording.Run passes by default.
const testBucket = 10 * time.Millisecond

func TestMain(m *testing.M) {
	auditnl.ServeChild()
	if os.Getenv(envRunChild) == "1" {
		// A child of TestRunPermissionDenied, running as another user.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := Run(ctx, Options{Bucket: testBucket})
		fmt.Print(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// checkConsistent asserts what must hold for any Run result.
func checkConsistent(t *testing.T, p *profile.Profile) {
	t.Helper()
	var procs, rules, events, arrivals uint64
	for _, x := range p.Processes {
		procs += x.Records
	}
	for _, x := range p.Rules {
		rules += x.Records
		events += x.Events
	}
	for _, a := range p.Timeline.Dense().Arrivals {
		arrivals += uint64(a)
	}
	d := p.Totals.Delivered
	if procs != d || rules != d || arrivals != d || events > d {
		t.Fatalf("delivered %d: processes sum %d, rules sum %d, timeline sum %d, events %d", d, procs, rules, arrivals, events)
	}
	if p.Totals.Records != d || p.Totals.Queued != d {
		t.Fatalf("totals %+v", p.Totals)
	}
}

// Run on this host, where audit is expected to be off: nothing (or next
// to nothing) arrives; the profile must still be complete and Run prompt.
// Nothing here is timed against the host's clock alone: a loaded host may
// take seconds to start the AUDIT_GET child, so the stop comes after the
// second sample rather than after a fixed second, and the timeline is
// checked against the recording's own duration.
func TestRunHere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progress atomic.Int32
	var started atomic.Bool
	var startedAt, stopped time.Time
	var mu sync.Mutex
	begin := time.Now()
	helper := auditnl.NewHelper()
	defer helper.Close()
	p, err := Run(ctx, Options{
		Helper:      helper,
		Bucket:      testBucket,
		SampleEvery: 300 * time.Millisecond,
		// Long enough that a Run which waited for it is told apart
		// from a prompt one, whatever the host's load.
		DrainTimeout: 30 * time.Second,
		Started: func() error {
			mu.Lock()
			startedAt = time.Now()
			mu.Unlock()
			started.Store(true)
			return nil
		},
		Progress: func(Progress) {
			if progress.Add(1) == 2 {
				mu.Lock()
				stopped = time.Now()
				mu.Unlock()
				cancel()
			}
		},
	})
	returned := time.Now()
	mu.Lock()
	late := returned.Sub(stopped)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("returned %v after the stop; delivered %d, lost %d, max depth %d, %d buckets, %d progress calls; before %+v",
		late, p.Totals.Delivered, p.Totals.Lost, p.Totals.MaxDepth, p.Timeline.Len(), progress.Load(), *p.AuditBefore)
	if stopped.IsZero() {
		t.Fatalf("%d progress calls in a minute", progress.Load())
	}
	if late > 10*time.Second {
		t.Fatalf("Run returned %v after the stop: it waited for the drain timeout with nothing queued", late)
	}
	if p.Attach != profile.AttachNetlink {
		t.Fatalf("attach %q", p.Attach)
	}
	p.SchemaVersion = profile.SchemaVersion
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, p)
	if p.AuditBefore == nil || p.AuditAfter == nil {
		t.Fatal("no AUDIT_GET sample")
	}
	// Audit is off here: nothing queued at the stop, nothing left.
	if n := p.Netlink; n == nil || n.LeftInQueue != 0 || (p.AuditAfter.Backlog == 0 && n.AfterStop != 0) {
		t.Fatalf("netlink account %+v with backlog %d at the stop", n, p.AuditAfter.Backlog)
	}
	if p.AuditBefore.Enabled == 0 && p.Totals.Delivered != 0 {
		t.Logf("audit is disabled yet %d records were delivered (kernel-generated records)", p.Totals.Delivered)
	}
	if !started.Load() || progress.Load() < 2 {
		t.Fatalf("started %v, %d progress calls", started.Load(), progress.Load())
	}
	// At least four AUDIT_GET reads (the first, two progress samples, the
	// last), all from one child: a process start for each read would cost
	// the machine more than the read (auditnl.Helper).
	if n := helper.Started(); n != 1 {
		t.Errorf("Run started %d AUDIT_GET children for %d samples, want 1", n, progress.Load())
	}
	// The timeline covers the recording, bucket for bucket: at least
	// from counting's start to the stop, at most from Run's call to its
	// return (give or take the two buckets at its ends).
	n := int64(p.Timeline.Len())
	least, most := int64(stopped.Sub(startedAt)/testBucket)-2, int64(returned.Sub(begin)/testBucket)+2
	if n < least || n > most || p.Timeline.BucketNs != int64(testBucket) {
		t.Fatalf("%d buckets of %d ns, want %d to %d", n, p.Timeline.BucketNs, least, most)
	}
	if p.Processes == nil || p.Rules == nil || p.WaitHistogramNs == nil || p.Totals.LostByReason == nil {
		t.Fatal("nil tables would encode as null")
	}
}

func TestRunCancelledEarly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stopped time.Time
	p, err := Run(ctx, Options{Bucket: testBucket, DrainTimeout: 30 * time.Second,
		Started: func() error { stopped = time.Now(); cancel(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	// Prompt: it did not wait for the drain timeout with nothing queued.
	if d := time.Since(stopped); d > 10*time.Second {
		t.Fatalf("returned %v after the stop", d)
	}
	p.SchemaVersion = profile.SchemaVersion
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRunStartedError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Run(context.Background(), Options{Bucket: testBucket, Started: func() error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

// Joining the group without CAP_AUDIT_READ, for real: the test binary runs
// Run as nobody.
func TestRunPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user")
	}
	cmd := asnobody.Command(asnobody.Copy(t))
	cmd.Env = append(os.Environ(), envRunChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if want := "joining the audit multicast group: permission denied: run as root or grant CAP_AUDIT_READ"; strings.TrimSpace(string(out)) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

// A real record through the multicast path. Opt-in: it does not change any
// audit setting, but with audit disabled and no auditd the kernel also
// prints the record to the console (kauditd_printk_skb). With audit
// disabled the kernel still accepts AUDIT_USER_AVC from user space
// (audit_receive_msg), which makes this possible without enabling audit.
func TestRunReceivesUserAVC(t *testing.T) {
	if os.Getenv("AUDITPROF_TEST_EMIT_RECORD") != "1" {
		t.Skip("set AUDITPROF_TEST_EMIT_RECORD=1 to send one AUDIT_USER_AVC record (printed to the console)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	sent := make(chan error, 1)
	p, err := Run(ctx, Options{Bucket: testBucket, Started: func() error {
		go func() { sent <- sendUserAVC("auditprof netlink test") }()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("delivered %d; processes %+v; rules %+v", p.Totals.Delivered, p.Processes, p.Rules)
	checkConsistent(t, p)
	if p.Totals.Delivered < 1 {
		t.Fatal("the record sent was not received")
	}
	last := p.Processes[len(p.Processes)-1]
	if last.Comm != CommUnattributed || last.Records < 1 {
		t.Fatalf("a user message belongs to no syscall event: %+v", p.Processes)
	}
}

// sendUserAVC sends one AUDIT_USER_AVC (1107) message to the kernel.
func sendUserAVC(text string) error {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_AUDIT)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	payload := append([]byte(text), 0)
	b := make([]byte, syscall.NLMSG_HDRLEN+len(payload))
	*(*syscall.NlMsghdr)(unsafe.Pointer(&b[0])) = syscall.NlMsghdr{
		Len: uint32(len(b)), Type: 1107, Flags: syscall.NLM_F_REQUEST, Seq: 1,
	}
	copy(b[syscall.NLMSG_HDRLEN:], payload)
	return syscall.Sendto(fd, b, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK})
}

// TestRunNeedsBucket: the bucket width has one default, probe.DefaultBucket,
// which recording.Run passes; netlink refuses to guess one.
func TestRunNeedsBucket(t *testing.T) {
	_, err := Run(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "bucket width must be positive") {
		t.Fatalf("Run without a bucket width: %v", err)
	}
}
