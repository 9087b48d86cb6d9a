package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// kprobeGroupPrefix starts the tracefs group of every kretprobe auditprof
// creates: attach's TraceFSPrefix, kprobeTraceFSPrefix, gives
// auditprof_<pid>_<random>; before the pid was added, auditprof_<random>.
const kprobeGroupPrefix = "auditprof_"

// kprobeTraceFSPrefix names this process in its kprobe events' group, so
// that a sweep by another auditprof knows they are not stale while this
// one lives, even in the moment between creating an event and opening it
// (when removing it would not fail with EBUSY).
func kprobeTraceFSPrefix() string { return fmt.Sprintf("%s%d", kprobeGroupPrefix, os.Getpid()) }

// processAlive reports whether a process with that pid exists; a variable
// for tests.
var processAlive = func(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return err == nil
}

// tracefsDirs are where tracefs may be mounted; a variable for tests.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// sweepKprobeEvents removes the kprobe events an auditprof that did not
// exit left in tracefs. Kretprobes with a maxactive are created through
// tracefs's kprobe_events (the perf PMU has no maxactive), and only a
// process that closes its links removes them: one killed outright (SIGKILL,
// the OOM killer) leaves them, and its next run would add more. An event
// another auditprof is using cannot be removed (EBUSY) and is left alone,
// and so is every event whose group names a process that is alive: it may
// have created the event and not yet opened it. (A stale event whose pid
// was reused is left until that process exits: one more set of events,
// never a removed live one.) It returns how many it removed.
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
		for _, ev := range staleKprobeEvents(string(data), processAlive) {
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
// ("r4096:auditprof_1234_08aa0865c7f995a0/audit_log_start audit_log_start")
// whose group is auditprof's and names no live process (groups from
// before the pid, auditprof_<random>, name none).
func staleKprobeEvents(kprobeEvents string, alive func(pid int) bool) []string {
	var out []string
	for _, line := range strings.Split(kprobeEvents, "\n") {
		def, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		_, ev, ok := strings.Cut(def, ":")
		group, _, hasEvent := strings.Cut(ev, "/")
		if !ok || !hasEvent || !strings.HasPrefix(group, kprobeGroupPrefix) {
			continue
		}
		if pid, ok := groupPID(group); ok && alive(pid) {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// groupPID returns the pid in a group auditprof_<pid>_<random>.
func groupPID(group string) (int, bool) {
	digits, _, ok := strings.Cut(strings.TrimPrefix(group, kprobeGroupPrefix), "_")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}
