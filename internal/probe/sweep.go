package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// kprobeGroupPrefix starts the tracefs group of every kretprobe auditprof
// creates (attach: TraceFSPrefix "auditprof" gives auditprof_<random>).
const kprobeGroupPrefix = "auditprof_"

// tracefsDirs are where tracefs may be mounted; a variable for tests.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// sweepKprobeEvents removes the kprobe events an auditprof that did not
// exit left in tracefs. Kretprobes with a maxactive are created through
// tracefs's kprobe_events (the perf PMU has no maxactive), and only a
// process that closes its links removes them: one killed outright (SIGKILL,
// the OOM killer) leaves them, and its next run would add more. An event
// another auditprof is using cannot be removed (EBUSY) and is left alone.
// It returns how many it removed.
func sweepKprobeEvents() (int, error) {
	for _, dir := range tracefsDirs {
		path := filepath.Join(dir, "kprobe_events")
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("reading %s: %w", path, err)
		}
		removed := 0
		for _, ev := range staleKprobeEvents(string(data)) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return removed, fmt.Errorf("opening %s: %w", path, err)
			}
			_, err = f.WriteString("-:" + ev)
			f.Close()
			switch {
			case errors.Is(err, syscall.EBUSY):
				// In use: a running auditprof's.
			case err != nil:
				return removed, fmt.Errorf("removing kprobe event %s: %w", ev, err)
			default:
				removed++
			}
		}
		return removed, nil
	}
	return 0, nil
}

// staleKprobeEvents returns the GROUP/EVENT of each line of kprobe_events
// ("r4096:auditprof_08aa0865c7f995a0/audit_log_start audit_log_start")
// whose group is auditprof's.
func staleKprobeEvents(kprobeEvents string) []string {
	var out []string
	for _, line := range strings.Split(kprobeEvents, "\n") {
		def, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		_, ev, ok := strings.Cut(def, ":")
		if ok && strings.HasPrefix(ev, kprobeGroupPrefix) && strings.Contains(ev, "/") {
			out = append(out, ev)
		}
	}
	return out
}
