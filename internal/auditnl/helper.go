package auditnl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// childServe is EnvChild's value for a Helper's child: it answers one
// request per line read on its stdin (reqGet: AUDIT_GET; reqRules:
// AUDIT_LIST_RULES), until stdin closes.
const childServe = "serve"

// A Helper's requests, a line each.
const (
	reqGet   = "get"
	reqRules = "rules"
)

// A Helper reads AUDIT_GET (and the rule list) from one long-lived child
// process, for a caller that reads it again and again (a recording: before
// and after it, auditd's pid every 5 s, live snapshots). Get starts a child
// each time, and starting a process is most of a read's cost: in the test
// guests (one vCPU, instruction-counted time) about 20 ms of guest time a
// read, which landed inside whatever else the machine was doing
// (docs/testing.md, "Off the audit path"). A Helper starts its child at
// Start or the first request and asks it again each time; a
// child that does not answer in time (asleep in the kernel's backlog
// penalty, see the package documentation) is killed and abandoned like
// Get's, and the next Get starts a new one. Its methods may be called
// from several goroutines; requests are answered one at a time.
type Helper struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	child *helperChild
	stdin io.WriteCloser
	// out is the read end of the child's stdout, closed when the child is
	// given up or the Helper closed, not when the child exits: what a
	// child wrote before exiting is still to be read (and then EOF).
	out    *os.File
	answer *json.Decoder
	raw    *bytes.Buffer
	closed bool
	// Started counts the children started (tests: one for many reads).
	started int
}

// helperChild says whether a Helper's child has exited and whether it was
// abandoned: an abandoned child counts in InFlight until it exits (it may
// be asleep in the backlog wait), a working one does not (InFlight's
// callers skip their own reads while it is non-zero).
type helperChild struct {
	mu                sync.Mutex
	exited, abandoned bool
}

// NewHelper returns a Helper; its child starts at Start or the first Get.
func NewHelper() *Helper { return &Helper{} }

// serveChild runs in a Helper's child: one answer (a JSON line) per
// request line, until stdin ends.
func serveChild() {
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var a answer
		var err error
		switch in.Text() {
		case reqGet:
			a.Status, a.ReplyLen, err = request()
		case reqRules:
			a.Rules, err = listRules()
			a.HasRules = true
		default:
			err = fmt.Errorf("unknown request %q", in.Text())
		}
		if err != nil {
			a = errorAnswer(err)
		}
		if out.Encode(a) != nil {
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// Start starts the child now, so that a caller's first Get does not pay
// for it at a moment that matters more (record starts it before it is
// ready). A child that fails to start is tried again by Get.
func (h *Helper) Start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.cmd != nil {
		return nil
	}
	if err := h.start(); err != nil {
		return fmt.Errorf("reading audit status: %w", err)
	}
	return nil
}

// Started returns how many children the Helper has started: one for
// any number of reads while the first keeps answering.
func (h *Helper) Started() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started
}

// Get returns the kernel's audit status, as the package's Get does, from
// the Helper's child. It waits until ctx's deadline, or DefaultTimeout.
func (h *Helper) Get(ctx context.Context) (*profile.AuditStatus, error) {
	a, err := h.ask(ctx, reqGet, "reading audit status")
	if err != nil {
		return nil, err
	}
	st, _, err := statusAnswer(a)
	return st, err
}

// ListRules returns the loaded audit rules, as the package's ListRules
// does, from the Helper's child.
func (h *Helper) ListRules(ctx context.Context) ([][]byte, error) {
	a, err := h.ask(ctx, reqRules, "listing audit rules")
	if err != nil {
		return nil, err
	}
	return rulesAnswer(a)
}

// ask sends one request to the child (started if there is none) and
// reads its answer; a child that fails or does not answer in time is
// abandoned, and the error says so. what names the request in errors.
func (h *Helper) ask(ctx context.Context, req, what string) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, fmt.Errorf("%s: %w", what, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return answer{}, fmt.Errorf("%s: helper closed", what)
	}
	timeout := DefaultTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if h.cmd == nil {
		if err := h.start(); err != nil {
			return answer{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	type result struct {
		a   answer
		err error
	}
	ch := make(chan result, 1)
	h.raw.Reset()
	// A child that has already exited (one that does not serve: it
	// answered without being asked) breaks the pipe; what it wrote is the
	// better error, so its output is read either way.
	_, writeErr := io.WriteString(h.stdin, req+"\n")
	dec := h.answer
	go func() {
		var res result
		res.err = dec.Decode(&res.a)
		ch <- res
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			raw := append([]byte(nil), h.raw.Bytes()...)
			h.abandon()
			if writeErr != nil && len(bytes.TrimSpace(raw)) == 0 {
				return answer{}, fmt.Errorf("%s: asking the helper process: %w", what, writeErr)
			}
			return answer{}, garbled(what, raw, res.err)
		}
		if writeErr != nil {
			h.abandon()
			return answer{}, fmt.Errorf("%s: asking the helper process: %w", what, writeErr)
		}
		return res.a, nil
	case <-ctx.Done():
		// The decoder's read ends when the killed child's stdout closes.
		h.abandon()
		if ctx.Err() == context.DeadlineExceeded {
			return answer{}, timeoutError(what, timeout)
		}
		return answer{}, fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// start starts the child; h.mu is held.
func (h *Helper) start() error {
	cmd := childCommand()
	cmd.Env = append(os.Environ(), EnvChild+"="+childServe)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("creating pipe: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return fmt.Errorf("creating pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		stdin.Close()
		r.Close()
		w.Close()
		return fmt.Errorf("starting helper process %s: %w", cmd.Path, err)
	}
	w.Close()
	c := &helperChild{}
	go func() {
		_ = cmd.Wait()
		c.mu.Lock()
		c.exited = true
		if c.abandoned {
			inFlight.Add(-1)
		}
		c.mu.Unlock()
	}()
	h.cmd, h.child, h.stdin, h.out, h.raw, h.started = cmd, c, stdin, r, &bytes.Buffer{}, h.started+1
	h.answer = json.NewDecoder(io.TeeReader(io.LimitReader(r, 64<<20), h.raw))
	return nil
}

// abandon kills the child (which takes effect when a kernel sleep ends)
// and forgets it; h.mu is held. It is reaped in the background.
func (h *Helper) abandon() {
	if h.cmd == nil {
		return
	}
	c := h.child
	c.mu.Lock()
	if !c.exited {
		c.abandoned = true
		inFlight.Add(1)
	}
	c.mu.Unlock()
	_ = h.cmd.Process.Kill()
	h.stdin.Close()
	h.out.Close() // ends a read in flight now, not when the kill takes effect
	h.cmd, h.child, h.stdin, h.out, h.answer = nil, nil, nil, nil, nil
}

// Close ends the child: its stdin closes and it exits. Get fails after.
func (h *Helper) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.cmd != nil {
		h.stdin.Close()
		h.out.Close()
		h.cmd, h.child, h.stdin, h.out, h.answer = nil, nil, nil, nil, nil
	}
}
