package rulesd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func u32(v uint32) *uint32 { return &v }

func TestEdit(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		s              Settings
		changes        int
	}{
		{name: "empty file", in: "", s: Settings{BacklogLimit: u32(1300)}, want: "-b 1300\n", changes: 1},
		{name: "rewrites -b in place", in: "-D\n-b 8192\n-a always,exit -S openat -k k\n",
			s: Settings{BacklogLimit: u32(1300)}, want: "-D\n-b 1300\n-a always,exit -S openat -k k\n", changes: 1},
		{name: "glued value", in: "-b8192\n", s: Settings{BacklogLimit: u32(64)}, want: "-b 64\n", changes: 1},
		{name: "earlier duplicates removed, last rewritten", in: "-b 1\n# c\n-b 2\n",
			s: Settings{BacklogLimit: u32(3)}, want: "# c\n-b 3\n", changes: 2},
		{name: "both settings, one appended", in: "-b 10\n",
			s: Settings{BacklogLimit: u32(10), BacklogWaitTime: u32(0)}, want: "-b 10\n--backlog_wait_time 0\n", changes: 1},
		{name: "nil leaves a setting alone", in: "--backlog_wait_time 60000\n-b 5\n",
			s: Settings{BacklogLimit: u32(7)}, want: "--backlog_wait_time 60000\n-b 7\n", changes: 1},
		{name: "commented -b is not a setting", in: "# -b 1\n", s: Settings{BacklogLimit: u32(9)}, want: "# -b 1\n-b 9\n", changes: 1},
		{name: "no change", in: "-b 9\n", s: Settings{BacklogLimit: u32(9)}, want: "-b 9\n", changes: 0},
		{name: "no final newline", in: "-e 1", s: Settings{BacklogLimit: u32(9)}, want: "-e 1\n-b 9\n", changes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ch, err := Edit([]byte(tc.in), tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || len(ch) != tc.changes {
				t.Errorf("got %q with %d changes %+v, want %q with %d", got, len(ch), ch, tc.want, tc.changes)
			}
		})
	}
	for _, bad := range []string{"-b\n", "-b lots\n", "--backlog_wait_time -1\n", "-b 99999999999\n"} {
		if _, _, err := Edit([]byte(bad), Settings{BacklogLimit: u32(1)}); err == nil {
			t.Errorf("Edit(%q) accepted", bad)
		}
	}
}

func TestPersist(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "50-backlog.rules")
	later := filepath.Join(dir, "99-finalize.rules")
	if err := os.WriteFile(later, []byte("-b 320\n-e 2\n"), 0o640); err != nil {
		t.Fatal(err)
	}

	// A plan reports and writes nothing.
	r, err := PlanEdit(file, Settings{BacklogLimit: u32(1300)})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Created || len(r.Changes) != 1 || len(r.Overrides) != 1 || r.Overrides[0].Value != 320 {
		t.Fatalf("plan %+v", r)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("planning created %s", file)
	}

	// Create.
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	if string(b) != header+"-b 1300\n" {
		t.Fatalf("created %q", b)
	}
	// Update: backup holds the old content, the file the new.
	r, err = PlanEdit(file, Settings{BacklogLimit: u32(2600), BacklogWaitTime: u32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(r.Backup)
	now, _ := os.ReadFile(file)
	if string(old) != string(b) || !strings.Contains(string(now), "-b 2600\n--backlog_wait_time 0\n") {
		t.Fatalf("backup %q, file %q", old, now)
	}
	// Nothing else left behind (no temporary files).
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "50-backlog.rules 50-backlog.rules.auditprof.bak 99-finalize.rules" {
		t.Errorf("directory holds %s", got)
	}
	// The file keeps the permissions it had.
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err = PlanEdit(file, Settings{BacklogLimit: u32(5)}); err != nil || r.Write() != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after an edit, was 0600", st.Mode().Perm())
	}
	// A bad file is refused and left alone.
	if err := os.WriteFile(file, []byte("-b many\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := PlanEdit(file, Settings{BacklogLimit: u32(1)}); err == nil {
		t.Fatal("a file with a bad -b line was accepted")
	}
	if b, _ := os.ReadFile(file); string(b) != "-b many\n" {
		t.Fatalf("bad file changed to %q", b)
	}
	// A directory is not a rules file.
	if _, err := PlanEdit(dir, Settings{BacklogLimit: u32(1)}); err == nil {
		t.Fatal("persisted into a directory")
	}
}

// parse returns the backlog settings in content, in order.
func parse(content []byte) ([]Setting, error) {
	var out []Setting
	for i, l := range strings.Split(strings.TrimRight(string(content), "\n"), "\n") {
		flag, v, ok, err := flagOf(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if ok {
			out = append(out, Setting{Line: i + 1, Flag: flag, Value: v})
		}
	}
	return out, nil
}

func FuzzEdit(f *testing.F) {
	f.Add("-D\n-b 8192\n-a always,exit -S openat\n", uint32(100), uint32(0), true)
	f.Add("-b8192\n# x\n--backlog_wait_time 1\n-b 3", uint32(1), uint32(60000), false)
	f.Fuzz(func(t *testing.T, in string, limit, wait uint32, setWait bool) {
		s := Settings{BacklogLimit: &limit}
		if setWait {
			s.BacklogWaitTime = &wait
		}
		out, _, err := Edit([]byte(in), s)
		if err != nil {
			return // refused input is fine; it is never written
		}
		got, err := parse(out)
		if err != nil {
			t.Fatalf("edited output does not parse: %v\n%q", err, out)
		}
		var bs, ws int
		for _, g := range got {
			switch {
			case g.Flag == "-b":
				bs++
				if g.Value != limit {
					t.Fatalf("-b %d, want %d", g.Value, limit)
				}
			case setWait:
				ws++
				if g.Value != wait {
					t.Fatalf("wait %d, want %d", g.Value, wait)
				}
			}
		}
		if bs != 1 || (setWait && ws != 1) {
			t.Fatalf("%d -b lines, %d wait lines in %q", bs, ws, out)
		}
		// Every other line is kept, in order.
		others := func(text string) []string {
			var kept []string
			for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
				if flag, _, ok, _ := flagOf(l); ok && (flag == "-b" || setWait) {
					continue
				}
				kept = append(kept, l)
			}
			return kept
		}
		if a, b := strings.Join(others(in), "\n"), strings.Join(others(string(out)), "\n"); a != b && in != "" {
			t.Fatalf("lines not kept: %q -> %q", in, out)
		}
		// Idempotent.
		again, ch, err := Edit(out, s)
		if err != nil || string(again) != string(out) || len(ch) != 0 {
			t.Fatalf("second edit changed %q to %q (%v)", out, again, ch)
		}
	})
}
