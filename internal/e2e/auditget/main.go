// Command auditget is TestScenarios' guest helper for audit_receive's
// penalty: a sender of audit netlink requests that sleeps on
// audit_backlog_wait when it sends while the queue is over the limit
// (kernel/audit.c, audit_receive: "penalize the sender now"), a sleep that
// backlog_wait_time_actual leaves out. Each turn sends one AUDIT_GET and
// reads its answer, then opens and closes a file, so that a rule on openat
// makes a record right after each penalty: a tool that took the penalty's
// sleep for a backlog wait would count it in that record's wait.
//
//	auditget SECONDS FILE
//
// It prints how many requests it sent, how many slept (the thread switched
// out voluntarily during the send: AUDIT_GET itself never sleeps, and
// the audit netlink socket's send does not block) and the nanoseconds
// those sends took, in CLOCK_MONOTONIC.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "auditget:", err)
		os.Exit(1)
	}
}

// auditGet is AUDIT_GET of include/uapi/linux/audit.h.
const auditGet = 1000

func run(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: auditget SECONDS FILE")
	}
	secs, err := strconv.Atoi(args[0])
	if err != nil || secs <= 0 {
		return fmt.Errorf("parsing seconds %q: a positive whole number is needed", args[0])
	}
	// The rusage read is the calling thread's: keep the loop on one.
	runtime.LockOSThread()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT)
	if err != nil {
		return fmt.Errorf("opening the audit socket: %w", err)
	}
	defer unix.Close(fd)
	msg := make([]byte, unix.NLMSG_HDRLEN)
	le := binary.LittleEndian
	le.PutUint32(msg[0:], uint32(len(msg)))
	le.PutUint16(msg[4:], auditGet)
	le.PutUint16(msg[6:], unix.NLM_F_REQUEST)
	buf := make([]byte, 8192)
	to := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	var requests, penalized uint64
	var penalizedNs int64
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for seq := uint32(1); time.Now().Before(end); seq++ {
		var before, after unix.Rusage
		le.PutUint32(msg[8:], seq)
		if err := unix.Getrusage(unix.RUSAGE_THREAD, &before); err != nil {
			return fmt.Errorf("reading rusage: %w", err)
		}
		t0 := time.Now()
		if err := unix.Sendto(fd, msg, 0, to); err != nil {
			return fmt.Errorf("sending AUDIT_GET: %w", err)
		}
		d := time.Since(t0)
		if err := unix.Getrusage(unix.RUSAGE_THREAD, &after); err != nil {
			return fmt.Errorf("reading rusage: %w", err)
		}
		requests++
		if after.Nvcsw > before.Nvcsw {
			penalized++
			penalizedNs += d.Nanoseconds()
		}
		if _, _, err := unix.Recvfrom(fd, buf, 0); err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		f, err := unix.Open(args[1], unix.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", args[1], err)
		}
		unix.Close(f)
	}
	fmt.Printf("requests %d\npenalized %d\npenalized_ns %d\n", requests, penalized, penalizedNs)
	return nil
}
