package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrKallsymsRestricted means /proc/kallsyms shows every address as 0: the
// kernel hides addresses from this process (kernel.kptr_restrict, or no
// CAP_SYSLOG with kptr_restrict=1).
var ErrKallsymsRestricted = errors.New("kernel symbol addresses are hidden")

var kallsymsPath = "/proc/kallsyms"

// Kallsyms returns the addresses of the named kernel symbols, as listed in
// /proc/kallsyms. Names must match exactly: compiler clones such as
// "audit_log_start.part.0" or "foo.cold" are other names, and symbols of
// modules (lines ending in "[module]") are ignored. A name listed more
// than once (static symbols of the same name in different files) is left
// out, because any one address would be a guess. Names not found are
// absent from the map; data symbols such as audit_queue are listed only on
// kernels built with CONFIG_KALLSYMS_ALL.
//
// If every address in the file is 0 the error wraps ErrKallsymsRestricted.
func Kallsyms(names ...string) (map[string]uint64, error) {
	f, err := os.Open(kallsymsPath)
	if err != nil {
		return nil, fmt.Errorf("reading kernel symbols: %w", err)
	}
	defer f.Close()
	syms, _, err := parseKallsyms(bufio.NewReaderSize(f, 256<<10), names, nil)
	if err != nil {
		return nil, kallsymsError(err)
	}
	return syms, nil
}

// KallsymsClones is Kallsyms, and also says which of the functions named
// in parts have a ".part.N" clone: a compiler split of a function into a
// wrapper and a body that callers in its own file call directly, so that
// a probe on the name misses those calls (Ubuntu's audit_log_end, 5.19 to
// 6.8).
func KallsymsClones(parts []string, names ...string) (map[string]uint64, map[string]bool, error) {
	f, err := os.Open(kallsymsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("reading kernel symbols: %w", err)
	}
	defer f.Close()
	syms, clones, err := parseKallsyms(bufio.NewReaderSize(f, 256<<10), names, parts)
	if err != nil {
		return nil, nil, kallsymsError(err)
	}
	return syms, clones, nil
}

func kallsymsError(err error) error {
	if errors.Is(err, ErrKallsymsRestricted) {
		return fmt.Errorf("reading %s: %w (kernel.kptr_restrict=%s): run as root with CAP_SYSLOG, and with kernel.kptr_restrict at most 1", kallsymsPath, err, kptrRestrict())
	}
	return fmt.Errorf("reading %s: %w", kallsymsPath, err)
}

func kptrRestrict() string {
	b, err := os.ReadFile("/proc/sys/kernel/kptr_restrict")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// parseKallsyms reads lines of the form "ffffffff81234560 T name" or
// "ffffffffc0123000 t name\t[module]": the addresses of names, and which
// of parts have a "<part>.part.N" clone in the kernel proper.
func parseKallsyms(r io.Reader, names, parts []string) (map[string]uint64, map[string]bool, error) {
	want := make(map[string]int, len(names)) // name -> times seen
	for _, n := range names {
		want[n] = 0
	}
	wantPart := make(map[string]bool, len(parts))
	for _, n := range parts {
		wantPart[n] = true
	}
	clones := map[string]bool{}
	found := make(map[string]uint64, len(names))
	anyNonZero, anyLine := false, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || len(f[1]) != 1 {
			continue
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		anyLine = true
		if addr != 0 {
			anyNonZero = true
		}
		if len(f) > 3 { // "[module]"
			continue
		}
		if base, _, ok := strings.Cut(f[2], ".part."); ok && wantPart[base] {
			clones[base] = true
		}
		seen, ok := want[f[2]]
		if !ok {
			continue
		}
		want[f[2]] = seen + 1
		if seen == 0 {
			found[f[2]] = addr
		} else {
			delete(found, f[2])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if !anyLine {
		return nil, nil, errors.New("no symbols listed")
	}
	if !anyNonZero {
		return nil, nil, ErrKallsymsRestricted
	}
	return found, clones, nil
}
