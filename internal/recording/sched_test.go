package recording

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReaderPriority: the reader thread is SCHED_FIFO while it reads, and
// ordinary again afterwards.
func TestReaderPriority(t *testing.T) {
	restore, err := readerPriority()
	if err != nil {
		restore()
		if os.Geteuid() == 0 {
			t.Fatalf("root could not make the reader thread real-time: %v", err)
		}
		t.Skipf("no CAP_SYS_NICE: the reader stays an ordinary thread (%v)", err)
	}
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil || a.Policy != unix.SCHED_FIFO || a.Priority != 1 {
		t.Errorf("reader thread: %+v, %v; want SCHED_FIFO 1", a, err)
	}
	restore()
	if a, err := unix.SchedGetAttr(0, 0); err != nil || a.Policy != unix.SCHED_NORMAL {
		t.Errorf("after restore: %+v, %v; want SCHED_NORMAL", a, err)
	}
}
