// Package auditnl reads the kernel's audit status (AUDIT_GET) without ever
// hanging its caller.
//
// Any audit netlink request, AUDIT_GET included, can put the sender to
// sleep uninterruptibly (D state) for up to backlog_wait_time, 60 s by
// default and up to 600 s, after the kernel has answered, whenever the
// audit queue is longer than backlog_limit: audit_receive() in
// kernel/audit.c "penalizes the sender" (Linux 5.17, commit 8f110f530635,
// backported to 5.10 and 5.15 stable). That is exactly when a profiler of
// the backlog is needed, and a Go thread in D state keeps the whole process
// from exiting, whatever the signal. So Get sends the request from a child
// process (this same executable, started again with EnvChild=1), reads its
// answer from a pipe with a timeout, and abandons the child if it does not
// answer in time. A Helper does the same with one child for many reads.
//
// Programs using Get must call ServeChild first thing in main, and test
// binaries first thing in TestMain.
package auditnl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elastic/go-libaudit/v2"

	"github.com/auditprof/auditprof/internal/profile"
)

// EnvChild is the environment variable that makes ServeChild act.
const EnvChild = "AUDITPROF_AUDIT_GET"

// DefaultTimeout is how long Get waits for the child when ctx has no
// deadline. A healthy answer takes a few milliseconds (one fork and exec);
// an answer later than this means the child is asleep in the kernel's
// backlog penalty.
const DefaultTimeout = 3 * time.Second

// ErrTimeout is wrapped by Get's error when the child did not answer in
// time.
var ErrTimeout = errors.New("no answer to AUDIT_GET")

// childCommand builds the command Get runs; tests replace it to exercise
// the timeout.
var childCommand = func() *exec.Cmd {
	// The resolved path, so that the child's comm is the program's name
	// (it shows up in profiles when it produces audit records), not "exe".
	// /proc/self/exe still works when the binary was replaced meanwhile.
	self, err := os.Executable()
	if err != nil {
		return exec.Command("/proc/self/exe")
	}
	if _, err := os.Stat(self); err != nil {
		return exec.Command("/proc/self/exe")
	}
	return exec.Command(self)
}

// inFlight counts children started by Get that have not exited yet.
var inFlight atomic.Int64

// InFlight returns the number of AUDIT_GET children that have not exited,
// including ones Get gave up on. A caller that samples periodically should
// skip a sample while this is non-zero: a child still asleep in the
// kernel's backlog wait is one more exclusive waiter on audit_backlog_wait,
// taking wake-ups that would otherwise go to a producer.
func InFlight() int { return int(inFlight.Load()) }

// answer is the child's report on its stdout.
type answer struct {
	Status *profile.AuditStatus `json:"status,omitempty"`
	// Rules is AUDIT_LIST_RULES's answer, in the kernel's wire format.
	Rules    [][]byte `json:"rules,omitempty"`
	HasRules bool     `json:"has_rules,omitempty"`
	ReplyLen int      `json:"reply_len,omitempty"`
	Errno    int      `json:"errno,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// ServeChild returns false unless EnvChild is "1". When it is, the process
// is Get's child: it sends AUDIT_GET, writes the answer as JSON to stdout
// and exits without returning. Call it before anything else in main (and
// in TestMain), so that the child does no other work.
func ServeChild() bool {
	var a answer
	var err error
	switch os.Getenv(EnvChild) {
	case "1":
		a.Status, a.ReplyLen, err = request()
	case childRules:
		a.Rules, err = listRules()
		a.HasRules = true
	case childServe:
		serveChild()
	default:
		return false
	}
	if err != nil {
		a = errorAnswer(err)
	}
	code := 0
	if err := json.NewEncoder(os.Stdout).Encode(a); err != nil {
		code = 1
	}
	os.Exit(code)
	return true
}

// errorAnswer is the answer that reports err, with its errno.
func errorAnswer(err error) answer {
	a := answer{Error: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		a.Errno = int(errno)
	}
	return a
}

// Get returns the kernel's audit status, read by a child process (see the
// package documentation). It waits until ctx's deadline, or DefaultTimeout
// if ctx has none; if the child has not answered by then it returns an
// error wrapping ErrTimeout and leaves the child behind (it is killed, which
// takes effect when its kernel sleep ends, and reaped in the background).
func Get(ctx context.Context) (*profile.AuditStatus, error) {
	st, _, err := get(ctx)
	return st, err
}

// childRules is EnvChild's value for ListRules's child.
const childRules = "rules"

// ListRules returns the loaded audit rules (AUDIT_LIST_RULES, in the
// kernel's list order and wire format), read by a child process for the
// same reason as Get, with the same timeout.
func ListRules(ctx context.Context) ([][]byte, error) {
	a, err := ask(ctx, childRules, "listing audit rules")
	if err != nil {
		return nil, err
	}
	return rulesAnswer(a)
}

// rulesAnswer returns the rules of a child's answer to a rules request.
func rulesAnswer(a answer) ([][]byte, error) {
	if err := answerError(a, "listing audit rules"); err != nil {
		return nil, err
	}
	if !a.HasRules {
		return nil, errors.New("listing audit rules: helper process answered without rules")
	}
	return a.Rules, nil
}

// listRules runs in the child.
func listRules() ([][]byte, error) {
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return nil, fmt.Errorf("listing audit rules: opening audit netlink socket: %w", err)
	}
	defer c.Close()
	rules, err := c.GetRules()
	if err != nil {
		return nil, fmt.Errorf("listing audit rules: %w", err)
	}
	return rules, nil
}

func get(ctx context.Context) (*profile.AuditStatus, int, error) {
	a, err := ask(ctx, "1", "reading audit status")
	if err != nil {
		return nil, 0, err
	}
	return statusAnswer(a)
}

// ask runs the child in the given mode and decodes its answer; what names
// the request in error messages.
func ask(ctx context.Context, mode, what string) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, fmt.Errorf("%s: %w", what, err)
	}
	timeout := DefaultTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	r, w, err := os.Pipe()
	if err != nil {
		return answer{}, fmt.Errorf("%s: creating pipe: %w", what, err)
	}
	defer r.Close()
	cmd := childCommand()
	cmd.Env = append(os.Environ(), EnvChild+"="+mode)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		w.Close()
		return answer{}, fmt.Errorf("%s: starting helper process %s: %w", what, cmd.Path, err)
	}
	w.Close()
	inFlight.Add(1)
	// Reap in the background: waiting here would block for as long as the
	// kernel keeps the child asleep. A goroutine in wait4 sleeps
	// interruptibly and does not keep the process from exiting; when this
	// process exits first, init reaps the child.
	go func() {
		_ = cmd.Wait()
		inFlight.Add(-1)
	}()

	// Decode one JSON value rather than read to EOF: the answer is
	// complete before the child exits (a race-enabled binary, for one,
	// sleeps a second in exit).
	type result struct {
		raw []byte
		err error
		a   answer
	}
	ch := make(chan result, 1)
	go func() {
		var raw bytes.Buffer
		var res result
		res.err = json.NewDecoder(io.TeeReader(io.LimitReader(r, 64<<20), &raw)).Decode(&res.a)
		res.raw = raw.Bytes()
		ch <- res
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		r.Close() // ends the decoder's read
		_ = cmd.Process.Kill()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return answer{}, timeoutError(what, timeout)
		}
		return answer{}, fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if res.err != nil {
		return answer{}, garbled(what, res.raw, res.err)
	}
	return res.a, nil
}

// timeoutError is the one-line error of a request that did not answer
// within waited: how long it waited, what that usually means and what to
// try.
func timeoutError(what string, waited time.Duration) error {
	return fmt.Errorf("%s: %w after waiting %v: audit is usually busy then (while the queue is over backlog_limit the kernel puts an AUDIT_GET sender to sleep, uninterruptibly, for up to backlog_wait_time), or the machine is slow or overloaded; run again once the queue has drained, compare backlog with backlog_limit in `auditctl -s`, or set a shorter backlog_wait_time",
		what, ErrTimeout, waited.Round(time.Millisecond))
}

// garbled is the error for a child's answer that is not one; what names
// the request.
func garbled(what string, raw []byte, decodeErr error) error {
	const max = 512
	raw = bytes.TrimSpace(raw)
	if len(raw) > max {
		raw = raw[:max]
	}
	return fmt.Errorf("%s: helper process answered %q (is auditnl.ServeChild called first in main?): %w", what, raw, decodeErr)
}

// statusAnswer turns the child's answer into the result GetInProcess
// would have returned, with the same error messages and errno.
func statusAnswer(a answer) (*profile.AuditStatus, int, error) {
	if err := answerError(a, "reading audit status"); err != nil {
		return nil, 0, err
	}
	switch {
	case a.Status == nil:
		return nil, 0, errors.New("reading audit status: helper process answered without a status")
	}
	return a.Status, a.ReplyLen, nil
}

// answerError returns the error the child reported, if any.
func answerError(a answer, what string) error {
	switch {
	case a.Errno != 0:
		e := errnoError{msg: a.Error, errno: syscall.Errno(a.Errno)}
		if h := hint(what, e); h != nil {
			return h
		}
		return e
	case a.Error != "":
		return errors.New(a.Error)
	}
	return nil
}

// errnoError carries the child's message with its errno.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e errnoError) Error() string { return e.msg }
func (e errnoError) Unwrap() error { return e.errno }
