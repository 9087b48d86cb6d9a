package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/auditprof/auditprof/internal/live"
	"github.com/auditprof/auditprof/internal/profile"
)

// Terminal control, plain ANSI.
const (
	ansiHome       = "\033[H"
	ansiClear      = "\033[2J"
	ansiClearLine  = "\033[K"
	ansiClearBelow = "\033[J"
	ansiHideCursor = "\033[?25l"
	ansiShowCursor = "\033[?25h"
)

// screen is the interactive view: redrawn every interval, and at once
// when a key changes the sort or the terminal is resized.
type screen struct {
	mu        sync.Mutex
	w         io.Writer
	fd        int // stdout, for its size
	opts      live.Options
	interval  time.Duration
	prev, cur *profile.Profile
	// keys: stdin is a terminal, read in raw mode. closed: the terminal
	// was given back, nothing more is drawn.
	keys, closed bool
}

// startScreen takes the terminal: raw mode on stdin when it is a terminal
// (keys are read until ctx ends; q and Ctrl-C call quit), the cursor
// hidden, redraws on SIGWINCH. stop gives it back as it was; it must be
// called on every path out, and is safe to call more than once.
func startScreen(ctx context.Context, quit context.CancelFunc, s streams, opts live.Options, interval time.Duration) (*screen, func(), error) {
	sc := &screen{w: s.out, fd: int(s.out.(*os.File).Fd()), opts: opts, interval: interval}
	var cleanups []func()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		})
	}

	// Signals that would end the process without Main's SIGINT and
	// SIGTERM handling end top as they do, so the terminal is restored.
	sctx, sstop := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGQUIT)
	cleanups = append(cleanups, sstop)
	go func() {
		<-sctx.Done()
		quit()
	}()

	if in, ok := s.in.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		fd := int(in.Fd())
		old, err := term.MakeRaw(fd)
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("setting the terminal to raw mode: %w", err)
		}
		cleanups = append(cleanups, func() { term.Restore(fd, old) })
		sc.keys = true
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc.readKeys(ctx, fd, quit)
		}()
		// Keys stop being read before the terminal is restored.
		cleanups = append(cleanups, func() { quit(); wg.Wait() })
	}

	io.WriteString(sc.w, ansiHideCursor+ansiHome+ansiClear+"auditprof top: attaching...\r\n")
	cleanups = append(cleanups, func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		sc.closed = true
		io.WriteString(sc.w, ansiShowCursor)
	})

	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				sc.mu.Lock()
				sc.draw()
				sc.mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	cleanups = append(cleanups, func() { signal.Stop(winch); close(done) })
	return sc, stop, nil
}

// readKeys reads the terminal until ctx ends, polling so that it never
// blocks past the end.
func (sc *screen) readKeys(ctx context.Context, fd int, quit context.CancelFunc) {
	buf := make([]byte, 64)
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if errors.Is(err, unix.EINTR) || (err == nil && n == 0) {
			continue
		}
		if err != nil || fds[0].Revents&unix.POLLIN == 0 {
			return // the terminal is gone: stop reading it (signals still end top)
		}
		n, err = unix.Read(fd, buf)
		if err != nil || n == 0 {
			return
		}
		sc.mu.Lock()
		sortBy, stop := live.Keys(buf[:n], sc.opts.SortBy)
		changed := sortBy != sc.opts.SortBy
		sc.opts.SortBy = sortBy
		if changed && !stop {
			sc.draw()
		}
		sc.mu.Unlock()
		if stop {
			quit()
			return
		}
	}
}

func (sc *screen) ready(attach string) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	_, err := fmt.Fprintf(sc.w, "%s%sauditprof top: attached (%s) and counting; the first screen comes in %s (%s)\r\n",
		ansiHome, ansiClear, attach, sc.interval, sc.quitHint())
	return err
}

// keysLine is the screen's first line.
func (sc *screen) keysLine() string {
	if sc.keys {
		return "keys: r records  l lost  w wait  q quit"
	}
	return "Ctrl-C quits (stdin is not a terminal: no keys)"
}

func (sc *screen) quitHint() string {
	if sc.keys {
		return "q quits"
	}
	return "Ctrl-C quits"
}

func (sc *screen) frame(prev, cur *profile.Profile) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.prev, sc.cur = prev, cur
	return sc.draw()
}

// draw shows the last interval, cut to the terminal's size. Called with
// sc.mu held.
func (sc *screen) draw() error {
	if sc.cur == nil || sc.closed {
		return nil
	}
	width, height, err := term.GetSize(sc.fd)
	if err != nil || width <= 0 || height <= 0 {
		width, height = 80, 24
	}
	b, err := screenFrame(live.Frame(sc.prev, sc.cur, sc.opts), sc.keysLine(), width, height)
	if err != nil {
		return err
	}
	if _, err := sc.w.Write(b); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return nil
}

// screenFrame is one screen: the view under the keys line, fitted to
// width x height (table rows dropped first, then lines cut at the bottom),
// drawn over the previous screen from the top-left corner. The last line
// is left empty: writing on it would scroll the screen.
func screenFrame(v live.View, keys string, width, height int) ([]byte, error) {
	render := func(v live.View) ([]string, error) {
		var text bytes.Buffer
		text.WriteString(live.Fit(keys, width) + "\n")
		if err := live.Render(&text, v, width); err != nil {
			return nil, err
		}
		return strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n"), nil
	}
	lines, err := render(v)
	if err != nil {
		return nil, err
	}
	if over := len(lines) - (height - 1); over > 0 {
		if lines, err = render(live.TrimRows(v, over)); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	b.WriteString(ansiHome)
	for i, line := range lines {
		if i == height-1 {
			break
		}
		b.WriteString(line + ansiClearLine + "\r\n")
	}
	b.WriteString(ansiClearBelow)
	return b.Bytes(), nil
}
