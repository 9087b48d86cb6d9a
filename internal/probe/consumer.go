package probe

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/auditprof/auditprof/internal/consumer"
	"github.com/auditprof/auditprof/internal/profile"
)

// consumerProgram counts the consumer's time on and off CPU.
const consumerProgram = "consumer_sched_switch"

// consumerAttached reports whether the consumer's program is attached.
func (p *Probe) consumerAttached() bool {
	for _, pt := range p.points {
		if pt.Program == consumerProgram {
			return pt.Attached
		}
	}
	return false
}

// SetConsumer tells the programs which process is auditd (AUDIT_GET's
// pid; 0: none). Call it whenever AUDIT_GET is sampled: auditd can be
// restarted during a recording. Its threads are counted from this moment.
func (p *Probe) SetConsumer(pid uint32) error {
	if n := len(p.consumers); n > 0 && p.consumers[n-1] == pid {
		return nil
	}
	if pid != 0 {
		p.consumers = append(p.consumers, pid)
	}
	tgid := int32(-1)
	if pid != 0 {
		tgid = int32(pid)
	}
	p.consumerSince = MonotonicNow()
	if err := p.coll.Variables["consumer_since_ns"].Set(p.consumerSince); err != nil {
		return fmt.Errorf("setting the consumer: %w", err)
	}
	if err := p.coll.Variables["consumer_tgid"].Set(tgid); err != nil {
		return fmt.Errorf("setting the consumer: %w", err)
	}
	return nil
}

// ConsumerPortid is the netlink portid kauditd sends to (auditd's), as
// the programs last saw it in kauditd_send_queue; 0 when not seen.
func (p *Probe) ConsumerPortid() uint32 {
	var send struct {
		Start  uint64
		Portid uint32
		Queue  uint32
		Open   uint32
		_      uint32
	}
	if err := p.coll.Variables["send"].Get(&send); err != nil {
		return 0
	}
	return send.Portid
}

// fillConsumer reads the consumer's maps into prof.Consumer. Intervals
// still open are closed at the stop (or now, for a snapshot); threads of
// the current auditd that never switched while counted slept the whole
// time in the syscall /proc shows them in.
//
// Without the sched_switch program (Options.SchedSwitch off) only what the
// programs on kauditd's path count is filled: received, kauditd's send
// passes, auditd's pids; Threads and kauditd's time are the caller's to
// measure (internal/procsample). With it asked for and not attached,
// Consumer is nil (attach_points says why).
func (p *Probe) fillConsumer(prof *profile.Profile, t Counters) error {
	if p.opts.SchedSwitch && !p.consumerAttached() {
		prof.Consumer = nil
		return nil
	}
	c := &profile.Consumer{Received: t.Received, Overflow: t.ConsumerOverflow}
	if n := len(p.consumers); n > 0 {
		c.PID = p.consumers[n-1]
		if n > 1 {
			c.PIDs = append([]uint32(nil), p.consumers...)
		}
	}
	end := p.stopNs
	if end == 0 || end < p.startNs {
		end = MonotonicNow()
	}
	if !p.opts.SchedSwitch {
		return p.fillConsumerCounts(prof, c, t, end)
	}
	c.Source = profile.ConsumerSourceSchedSwitch
	type key struct {
		tid   uint32
		cause int32
	}
	times := map[key]backlogConsumerTime{}
	var k backlogConsumerKey
	var v backlogConsumerTime
	it := p.coll.Maps["consumer_times"].Iterate()
	for it.Next(&k, &v) {
		times[key{k.Tid, k.Cause}] = v
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading the consumer's times: %w", err)
	}
	tgids := map[uint32]uint32{}
	for kk, vv := range times {
		tgids[kk.tid] = vv.Tgid
	}
	var tid uint32
	var th backlogConsumerThread
	it = p.coll.Maps["consumer_threads"].Iterate()
	for it.Next(&tid, &th) {
		tgids[tid] = th.Tgid
		if th.Since < end {
			e := times[key{tid, th.Cause}]
			e.Ns += end - th.Since
			e.Tgid = th.Tgid
			times[key{tid, th.Cause}] = e
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading the consumer's threads: %w", err)
	}
	// Threads of auditd that did not switch once: asleep all along.
	if c.PID != 0 {
		since := max(p.startNs, p.consumerSince)
		if p.startNs == 0 || since > end {
			since = end
		}
		for _, tid := range taskIDs(c.PID) {
			if _, ok := tgids[tid]; ok {
				continue
			}
			nr, ok := procSyscall(c.PID, tid)
			cause := causeInt32(backlogConsumerCauseCAUSE_SLEEP_UNKNOWN)
			if ok {
				cause = nr
			}
			times[key{tid, cause}] = backlogConsumerTime{Ns: end - since, Tgid: c.PID}
			tgids[tid] = c.PID
		}
	}

	kauditd := int32(-1)
	if err := p.coll.Variables["kauditd_pid"].Get(&kauditd); err != nil {
		return fmt.Errorf("reading kauditd's pid: %w", err)
	}
	threads := map[uint32]*profile.ConsumerThread{}
	for kk, vv := range times {
		cause := kk.cause
		if kauditd >= 0 && kk.tid == uint32(kauditd) {
			if c.Kauditd == nil {
				c.Kauditd = &profile.Kauditd{PID: kk.tid, SendMainNs: t.SendNsMain, SendRetryNs: t.SendNsRetry, SendHoldNs: t.SendNsHold}
			}
			switch cause {
			case causeInt32(backlogConsumerCauseCAUSE_ON_CPU):
				c.Kauditd.OnCPUNs += vv.Ns
			case causeInt32(backlogConsumerCauseCAUSE_RUNNABLE):
				c.Kauditd.RunnableNs += vv.Ns
			case causeInt32(backlogConsumerCauseCAUSE_KAUDITD_SEND):
				c.Kauditd.SendBlockedNs += vv.Ns
			default:
				c.Kauditd.IdleNs += vv.Ns
			}
			continue
		}
		if c.PID == 0 || vv.Tgid != c.PID {
			continue // an earlier auditd's: its pid is in PIDs
		}
		row := threads[kk.tid]
		if row == nil {
			row = &profile.ConsumerThread{TID: kk.tid, Main: kk.tid == c.PID, OffCPUNs: map[string]uint64{},
				Comm: procComm(c.PID, kk.tid)}
			threads[kk.tid] = row
		}
		switch {
		case cause == causeInt32(backlogConsumerCauseCAUSE_ON_CPU):
			row.OnCPUNs += vv.Ns
		case cause == causeInt32(backlogConsumerCauseCAUSE_RUNNABLE):
			row.RunnableNs += vv.Ns
		case cause == causeInt32(backlogConsumerCauseCAUSE_NO_SYSCALL):
			row.OffCPUNs[profile.ConsumerFault] += vv.Ns
		case cause < 0:
			row.OffCPUNs[profile.ConsumerUnknown] += vv.Ns
		default:
			name := consumer.SyscallName(cause)
			class := consumer.Classify(name)
			row.OffCPUNs[class] += vv.Ns
			row.Syscalls = append(row.Syscalls, profile.ConsumerSyscall{Name: name, Nr: cause, Class: class, Ns: vv.Ns, Sleeps: vv.Count})
		}
	}
	if kauditd >= 0 && c.Kauditd == nil && (t.SendNsMain+t.SendNsRetry+t.SendNsHold) > 0 {
		c.Kauditd = &profile.Kauditd{PID: uint32(kauditd), SendMainNs: t.SendNsMain, SendRetryNs: t.SendNsRetry, SendHoldNs: t.SendNsHold}
	}
	for _, row := range threads {
		sort.Slice(row.Syscalls, func(i, j int) bool { return row.Syscalls[i].Ns > row.Syscalls[j].Ns })
		c.Threads = append(c.Threads, *row)
	}
	sort.Slice(c.Threads, func(i, j int) bool {
		if c.Threads[i].Main != c.Threads[j].Main {
			return c.Threads[i].Main
		}
		return c.Threads[i].TID < c.Threads[j].TID
	})
	p.finishConsumer(prof, c, end)
	return nil
}

// fillConsumerCounts is fillConsumer without the sched_switch program:
// kauditd's send passes (its pid as the programs saw it in
// kauditd_send_queue), received, the pids.
func (p *Probe) fillConsumerCounts(prof *profile.Profile, c *profile.Consumer, t Counters, end uint64) error {
	kauditd := int32(-1)
	if err := p.coll.Variables["kauditd_pid"].Get(&kauditd); err != nil {
		return fmt.Errorf("reading kauditd's pid: %w", err)
	}
	if kauditd >= 0 || t.SendNsMain+t.SendNsRetry+t.SendNsHold > 0 {
		c.Kauditd = &profile.Kauditd{SendMainNs: t.SendNsMain, SendRetryNs: t.SendNsRetry, SendHoldNs: t.SendNsHold}
		if kauditd >= 0 {
			c.Kauditd.PID = uint32(kauditd)
		}
	}
	p.finishConsumer(prof, c, end)
	return nil
}

// finishConsumer sets what both ways share: auditd's comm, the rate and
// the time watched.
func (p *Probe) finishConsumer(prof *profile.Profile, c *profile.Consumer, end uint64) {
	if c.PID != 0 {
		c.Comm = procComm(c.PID, c.PID)
	}
	if p.startNs != 0 && end > p.startNs {
		c.ReceivedPerSecond = float64(c.Received) / (float64(end-p.startNs) / 1e9)
	}
	if c.PID != 0 {
		if since := max(p.startNs, p.consumerSince); p.startNs != 0 && end > since {
			c.WatchedNs = end - since
		}
	}
	prof.Consumer = c
}

// causeInt32 is a consumer_cause value as consumer_key.cause holds it
// (see syscallInt32: clang-14 writes BTF enums unsigned).
func causeInt32(v backlogConsumerCause) int32 { return int32(v) }

func taskIDs(pid uint32) []uint32 {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil
	}
	var out []uint32
	for _, e := range ents {
		if n, err := strconv.ParseUint(e.Name(), 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

// procSyscall is the syscall a sleeping task is in (/proc/PID/task/TID/
// syscall: its first field, or "running", or -1 outside a syscall).
func procSyscall(pid, tid uint32) (int32, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 32)
	if err != nil {
		return 0, false
	}
	if n < 0 {
		return causeInt32(backlogConsumerCauseCAUSE_NO_SYSCALL), true
	}
	return int32(n), true
}

func procComm(pid, tid uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/comm", pid, tid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
