package auditnl

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/asnobody"
	"github.com/auditprof/auditprof/internal/profile"
)

func TestMain(m *testing.M) {
	ServeChild()
	os.Exit(m.Run())
}

// checkSane asserts what holds for any kernel's status, and what this
// package can promise about the reply length.
func checkSane(t *testing.T, st *profile.AuditStatus, replyLen int) {
	t.Helper()
	if st.Enabled > 2 {
		t.Errorf("enabled = %d, want 0, 1 or 2", st.Enabled)
	}
	if st.Failure > 2 {
		t.Errorf("failure = %d, want 0, 1 or 2", st.Failure)
	}
	// AUDIT_SET refuses more than 10*AUDIT_BACKLOG_WAIT_TIME = 600*HZ, and
	// HZ is at most 1000.
	if st.BacklogWaitTime > 600*1000 {
		t.Errorf("backlog_wait_time = %d jiffies, more than 600 s at HZ=1000", st.BacklogWaitTime)
	}
	if st.FeatureBitmap == 0 {
		t.Errorf("feature_bitmap is 0 on a kernel newer than 3.19")
	}
	switch {
	case replyLen >= statusLenActual && st.BacklogWaitTimeActual == nil:
		t.Errorf("%d-byte reply but backlog_wait_time_actual is nil", replyLen)
	case replyLen < statusLenActual && st.BacklogWaitTimeActual != nil:
		t.Errorf("%d-byte reply but backlog_wait_time_actual is set", replyLen)
	}
	var r unix.Utsname
	if err := unix.Uname(&r); err == nil {
		var maj, min int
		if _, err := fmt.Sscanf(unix.ByteSliceToString(r.Release[:]), "%d.%d", &maj, &min); err == nil && (maj > 5 || maj == 5 && min >= 9) && replyLen != statusLenActual {
			t.Errorf("reply is %d bytes on %d.%d, want %d (backlog_wait_time_actual exists since 5.9)", replyLen, maj, min, statusLenActual)
		}
	}
}

func TestGetInProcess(t *testing.T) {
	st, n, err := request()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reply %d bytes: %+v actual=%v", n, *st, deref(st.BacklogWaitTimeActual))
	checkSane(t, st, n)
	st2, err := GetInProcess()
	if err != nil {
		t.Fatal(err)
	}
	if st2.BacklogLimit != st.BacklogLimit || st2.Enabled != st.Enabled {
		t.Fatalf("two reads disagree: %+v, %+v", st, st2)
	}
}

func TestGetThroughChild(t *testing.T) {
	direct, err := GetInProcess()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st, n, err := get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("child answered in %v: reply %d bytes: %+v actual=%v", time.Since(start), n, *st, deref(st.BacklogWaitTimeActual))
	checkSane(t, st, n)
	// Settings do not move between two reads; lost, backlog and
	// backlog_wait_time_actual may.
	if st.Enabled != direct.Enabled || st.Failure != direct.Failure || st.PID != direct.PID ||
		st.RateLimit != direct.RateLimit || st.BacklogLimit != direct.BacklogLimit ||
		st.BacklogWaitTime != direct.BacklogWaitTime || st.FeatureBitmap != direct.FeatureBitmap {
		t.Fatalf("child %+v, in process %+v", st, direct)
	}
	if st.Lost < direct.Lost {
		t.Fatalf("lost went back from %d to %d", direct.Lost, st.Lost)
	}
	if got, err := Get(context.Background()); err != nil || got.BacklogLimit != direct.BacklogLimit {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

func TestGetTimeout(t *testing.T) {
	old := childCommand
	childCommand = func() *exec.Cmd { return exec.Command("/bin/sh", "-c", "sleep 30") }
	t.Cleanup(func() { childCommand = old })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Get(ctx)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	msg := err.Error()
	for _, want := range []string{"after waiting ", "backlog_limit", "backlog_wait_time", "uninterruptibly",
		"slow or overloaded", "run again once the queue has drained", "auditctl -s", "shorter backlog_wait_time"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q: %v", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is more than one line: %q", msg)
	}
	// Given up on at the deadline, not after the child's 30 s (a loaded
	// host may add seconds to the start of a process, not 20).
	if elapsed > 10*time.Second {
		t.Fatalf("Get took %v with a 300 ms deadline", elapsed)
	}
	t.Logf("timed out after %v: %v", elapsed, err)
	// The abandoned child was killed; it is reaped in the background.
	deadline := time.Now().Add(5 * time.Second)
	for InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d children still in flight", InFlight())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGetCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestGetChildNotServing(t *testing.T) {
	old := childCommand
	childCommand = func() *exec.Cmd { return exec.Command("/bin/echo", "hello") }
	t.Cleanup(func() { childCommand = old })
	_, err := Get(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ServeChild") {
		t.Fatalf("err = %v, want a hint about ServeChild", err)
	}
}

// The real kernel refusing a user without CAP_AUDIT_CONTROL: the child runs
// as nobody.
func TestGetPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user")
	}
	exe := asnobody.Copy(t)
	old := childCommand
	childCommand = func() *exec.Cmd { return asnobody.Command(exe) }
	t.Cleanup(func() { childCommand = old })
	_, err := Get(context.Background())
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("err = %v, want EPERM", err)
	}
	if want := "reading audit status: permission denied: run as root or grant CAP_AUDIT_CONTROL"; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	_, err = ListRules(context.Background())
	if want := "listing audit rules: permission denied: run as root or grant CAP_AUDIT_CONTROL"; err == nil || err.Error() != want || !errors.Is(err, unix.EPERM) {
		t.Fatalf("ListRules err = %v, want %q", err, want)
	}
}

// TestListRules reads this machine's loaded rules through the child (only
// reading: rules are never changed here; the VM tests load real ones).
func TestListRules(t *testing.T) {
	rules, err := ListRules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	direct, err := c.GetRules()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rules, direct) && !(len(rules) == 0 && len(direct) == 0) {
		t.Fatalf("through the child: %d rules, in process: %d", len(rules), len(direct))
	}
	t.Logf("%d rules loaded here, the same read in process", len(rules))
}

// The real kernel refusing a non-initial user namespace.
func TestGetOtherUserNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	exe := asnobody.Copy(t)
	old := childCommand
	childCommand = func() *exec.Cmd {
		c := exec.Command(exe)
		c.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		}
		return c
	}
	t.Cleanup(func() { childCommand = old })
	_, err := Get(context.Background())
	var se *exec.Error
	if errors.As(err, &se) || (err != nil && strings.Contains(err.Error(), "starting helper")) {
		t.Skipf("user namespaces unavailable here: %v", err)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("err = %v, want ECONNREFUSED", err)
	}
	if !strings.Contains(err.Error(), "run in the initial namespaces") {
		t.Fatalf("error does not say what to do: %v", err)
	}
	t.Log(err)
}

func TestHints(t *testing.T) {
	tests := []struct {
		errno unix.Errno
		want  string
	}{
		{unix.EPERM, "reading audit status: permission denied: run as root or grant CAP_AUDIT_CONTROL"},
		{unix.ECONNREFUSED, "reading audit status: the audit netlink socket refuses requests from this user or pid namespace: run in the initial namespaces (on the host, not in a container)"},
		{unix.EPROTONOSUPPORT, "reading audit status: kernel built without CONFIG_AUDIT: there is no audit backlog to profile; use a kernel with audit support"},
		{unix.EINVAL, "reading audit status: AUDIT_GET: invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			err := statusError(wrapErrno("AUDIT_GET", tt.errno))
			if err.Error() != tt.want || !errors.Is(err, tt.errno) {
				t.Fatalf("in process: %q (is errno %v), want %q", err, errors.Is(err, tt.errno), tt.want)
			}
			// The same error, carried through the child's JSON.
			a, err := decodeJSON(`{"errno":` + strconv.Itoa(int(tt.errno)) + `,"error":"` + err.Error() + `"}`)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = statusAnswer(a)
			if err.Error() != tt.want || !errors.Is(err, tt.errno) {
				t.Fatalf("through child: %q (is errno %v), want %q", err, errors.Is(err, tt.errno), tt.want)
			}
		})
	}
}

func wrapErrno(op string, e unix.Errno) error { return &opError{op, e} }

type opError struct {
	op string
	e  unix.Errno
}

func (o *opError) Error() string { return o.op + ": " + o.e.Error() }
func (o *opError) Unwrap() error { return o.e }

// msg builds one netlink message.
func msg(typ uint16, seq uint32, payload []byte) []byte {
	l := unix.NLMSG_HDRLEN + len(payload)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint32(b[0:], uint32(l))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	copy(b[unix.NLMSG_HDRLEN:], payload)
	return b
}

// status builds an audit_status payload of n bytes with field i = 100+i.
func status(n int) []byte {
	b := make([]byte, n)
	for i := 0; i*4+4 <= n; i++ {
		binary.NativeEndian.PutUint32(b[i*4:], uint32(100+i))
	}
	return b
}

func nlerr(errno int32) []byte {
	b := make([]byte, 4+unix.NLMSG_HDRLEN)
	binary.NativeEndian.PutUint32(b, uint32(-errno))
	return b
}

func TestParseReply(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	full := profile.AuditStatus{Enabled: 101, Failure: 102, PID: 103, RateLimit: 104, BacklogLimit: 105,
		Lost: 106, Backlog: 107, FeatureBitmap: 108, BacklogWaitTime: 109}
	withActual := full
	withActual.BacklogWaitTimeActual = u(110)
	pre314 := full
	pre314.BacklogWaitTime = 0
	tests := []struct {
		name    string
		in      []byte
		want    *profile.AuditStatus
		wantLen int
		wantErr error
	}{
		{"5.9+: 44 bytes", msg(unix.AUDIT_GET, 1, status(44)), &withActual, 44, nil},
		{"before 5.9: 40 bytes, no actual", msg(unix.AUDIT_GET, 1, status(40)), &full, 40, nil},
		{"before 3.14: 36 bytes", msg(unix.AUDIT_GET, 1, status(36)), &pre314, 36, nil},
		{"a future longer reply", msg(unix.AUDIT_GET, 1, status(52)), &withActual, 52, nil},
		{"ack then status in one datagram", append(msg(unix.NLMSG_ERROR, 1, nlerr(0)), msg(unix.AUDIT_GET, 1, status(44))...), &withActual, 44, nil},
		{"ack alone", msg(unix.NLMSG_ERROR, 1, nlerr(0)), nil, 0, nil},
		{"other sequence", msg(unix.AUDIT_GET, 2, status(44)), nil, 0, nil},
		{"refused", msg(unix.NLMSG_ERROR, 1, nlerr(int32(unix.EPERM))), nil, 0, unix.EPERM},
		{"namespace", msg(unix.NLMSG_ERROR, 1, nlerr(int32(unix.ECONNREFUSED))), nil, 0, unix.ECONNREFUSED},
		{"too short", msg(unix.AUDIT_GET, 1, status(28)), nil, 0, errAny},
		{"bad length", func() []byte { b := msg(unix.AUDIT_GET, 1, status(44)); b[0] = 200; return b }(), nil, 0, errAny},
		{"runt", []byte{1, 2, 3}, nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, n, done, err := parseReply(tt.in, 1)
			switch {
			case tt.wantErr == errAny:
				if err == nil {
					t.Fatal("want an error")
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if done != (tt.want != nil) {
				t.Fatalf("done = %v", done)
			}
			if tt.want == nil {
				return
			}
			if n != tt.wantLen {
				t.Fatalf("len %d, want %d", n, tt.wantLen)
			}
			if (st.BacklogWaitTimeActual == nil) != (tt.want.BacklogWaitTimeActual == nil) ||
				(st.BacklogWaitTimeActual != nil && *st.BacklogWaitTimeActual != *tt.want.BacklogWaitTimeActual) {
				t.Fatalf("actual = %v, want %v", deref(st.BacklogWaitTimeActual), deref(tt.want.BacklogWaitTimeActual))
			}
			a, b := *st, *tt.want
			a.BacklogWaitTimeActual, b.BacklogWaitTimeActual = nil, nil
			if a != b {
				t.Fatalf("got %+v, want %+v", a, b)
			}
		})
	}
}

var errAny = errors.New("any error")

func FuzzParseReply(f *testing.F) {
	f.Add(msg(unix.AUDIT_GET, 1, status(44)))
	f.Add(msg(unix.AUDIT_GET, 1, status(40)))
	f.Add(append(msg(unix.NLMSG_ERROR, 1, nlerr(0)), msg(unix.AUDIT_GET, 1, status(44))...))
	f.Add(msg(unix.NLMSG_ERROR, 1, nlerr(1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, n, done, err := parseReply(b, 1)
		if err != nil || !done {
			return
		}
		if n < statusLenMin || n > len(b) {
			t.Fatalf("payload length %d from %d bytes", n, len(b))
		}
		if (st.BacklogWaitTimeActual != nil) != (n >= statusLenActual) {
			t.Fatalf("%d bytes, actual %v", n, st.BacklogWaitTimeActual)
		}
	})
}

func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte(`{"status":{"enabled":1,"backlog_limit":64},"reply_len":44}`))
	f.Add([]byte(`{"errno":1,"error":"x"}`))
	f.Add([]byte(`garbage`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeJSON(string(b))
		var st *profile.AuditStatus
		if err == nil {
			st, _, err = statusAnswer(a)
		}
		if err == nil && st == nil {
			t.Fatal("nil status without error")
		}
	})
}

// decodeJSON decodes like ask does.
func decodeJSON(s string) (answer, error) {
	var a answer
	if err := json.NewDecoder(strings.NewReader(s)).Decode(&a); err != nil {
		return answer{}, garbled("reading audit status", []byte(s), err)
	}
	return a, nil
}

func deref(p *uint32) any {
	if p == nil {
		return nil
	}
	return *p
}
