package auditnl

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelperGet: one child answers every read, the same settings as a read
// in this process, and exits when the Helper is closed.
func TestHelperGet(t *testing.T) {
	direct, err := GetInProcess()
	if err != nil {
		t.Fatal(err)
	}
	// The rule list from a one-shot child, to compare the helper's with;
	// that child is reaped in the background, so InFlight is back to 0
	// only a moment after.
	want, err := ListRules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the one-shot child is still in flight")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := NewHelper()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		st, err := h.Get(context.Background())
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if st.Enabled != direct.Enabled || st.BacklogLimit != direct.BacklogLimit || st.BacklogWaitTime != direct.BacklogWaitTime ||
			st.FeatureBitmap != direct.FeatureBitmap {
			t.Fatalf("read %d: helper %+v, in process %+v", i, st, direct)
		}
	}
	// The rule list from the same child, interleaved with the reads: the
	// same list as the one-shot child's.
	for i := 0; i < 2; i++ {
		got, err := h.ListRules(context.Background())
		if err != nil {
			t.Fatalf("rules %d: %v", i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("rules %d: %d rules from the helper, %d from a one-shot child", i, len(got), len(want))
		}
		for j := range got {
			if string(got[j]) != string(want[j]) {
				t.Fatalf("rules %d: rule %d differs", i, j)
			}
		}
		if _, err := h.Get(context.Background()); err != nil {
			t.Fatalf("read after rules %d: %v", i, err)
		}
	}
	if h.started != 1 {
		t.Errorf("%d children started for five reads and two rule lists, want 1", h.started)
	}
	if InFlight() != 0 {
		t.Errorf("InFlight() = %d with a working helper, want 0", InFlight())
	}
	pid := h.cmd.Process.Pid
	h.Close()
	if _, err := h.Get(context.Background()); err == nil {
		t.Errorf("Get after Close succeeded")
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		// Reaped by the helper's wait: gone from /proc (or a zombie of
		// another process by then, which would be a reused pid).
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the helper's child %d did not exit after Close", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHelperTimeout: a child that does not answer is abandoned (counted in
// InFlight until it exits) and the next read starts another.
func TestHelperTimeout(t *testing.T) {
	old := childCommand
	childCommand = func() *exec.Cmd { return exec.Command("/bin/sh", "-c", "sleep 30") }
	t.Cleanup(func() { childCommand = old })
	h := NewHelper()
	defer h.Close()
	for i := 1; i <= 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := h.Get(ctx)
		cancel()
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "backlog_wait_time") {
			t.Fatalf("read %d: err = %v, want ErrTimeout and its advice", i, err)
		}
		if h.started != i {
			t.Fatalf("read %d: %d children started", i, h.started)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d abandoned children still in flight", InFlight())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHelperChildNotServing: a child that answers something else is one
// clear error, and abandoned.
func TestHelperChildNotServing(t *testing.T) {
	old := childCommand
	childCommand = func() *exec.Cmd { return exec.Command("/bin/echo", "hello") }
	t.Cleanup(func() { childCommand = old })
	h := NewHelper()
	defer h.Close()
	_, err := h.Get(context.Background())
	if err == nil || !strings.Contains(err.Error(), `"hello"`) || !strings.Contains(err.Error(), "ServeChild") {
		t.Fatalf("err = %v", err)
	}
	if h.cmd != nil {
		t.Errorf("the child that did not serve was kept")
	}
}
