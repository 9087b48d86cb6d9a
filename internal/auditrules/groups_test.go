package auditrules

import (
	"reflect"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

func TestGroups(t *testing.T) {
	loaded := []profile.LoadedRule{
		{Index: 1, Text: "-a always,exit -F arch=b64 -S open,openat -F key=file-open", List: "exit", Key: "file-open"},
		{Index: 2, Text: "-a always,exit -F arch=b64 -S chmod -F exit=-EACCES -F key=access", List: "exit", Key: "access"},
		{Index: 3, Text: "-a always,exit -F arch=b64 -S chmod -F exit=-EPERM -F key=access", List: "exit", Key: "access"},
		{Index: 4, Text: "-a always,exit -F arch=b64 -S chdir", List: "exit"},
	}
	openat := profile.Rule{Key: "file-open", Syscall: 257, Arch: "x86_64", SyscallName: "openat", Matches: []int{1},
		Records: 10, Events: 5, Lost: 1, Waits: 2, WaitNs: 100}
	open := profile.Rule{Key: "file-open", Syscall: 2, Arch: "x86_64", SyscallName: "open", Matches: []int{1},
		Records: 4, Events: 2, Lost: 3, Waits: 1, WaitNs: 50}
	chmod := profile.Rule{Key: "access", Syscall: 90, Arch: "x86_64", SyscallName: "chmod", Matches: []int{2, 3},
		Records: 7, Events: 7}
	chdirA := profile.Rule{Syscall: 80, Arch: "x86_64", SyscallName: "chdir", Comm: "a", Matches: []int{4}, Records: 3, Events: 3}
	chdirB := profile.Rule{Syscall: 80, Arch: "x86_64", SyscallName: "chdir", Comm: "b", Matches: []int{4}, Records: 2, Events: 2}
	goneOpen := profile.Rule{Key: "gone", Syscall: 2, Arch: "x86_64", SyscallName: "open", Records: 1}
	goneChdir := profile.Rule{Key: "gone", Syscall: 80, Arch: "x86_64", SyscallName: "chdir", Records: 1}
	other := profile.Rule{Syscall: profile.SyscallOther, Records: 9, Lost: 9}

	for _, tc := range []struct {
		name string
		rows []profile.Rule
		want []Group
	}{
		{"empty", nil, nil},
		{"two syscalls of one rule are one group, summed", []profile.Rule{openat, open}, []Group{
			{Rules: []int{1}, Rows: []int{0, 1}, Text: loaded[0].Text, Key: "file-open", Syscalls: []string{"openat", "open"},
				Records: 14, Events: 7, Lost: 4, Waits: 3, WaitNs: 150},
		}},
		{"rules the kernel cannot tell apart are named together", []profile.Rule{chmod}, []Group{
			{Rules: []int{2, 3}, Rows: []int{0}, Text: loaded[1].Text + " | " + loaded[2].Text, Key: "access",
				Syscalls: []string{"chmod"}, Records: 7, Events: 7},
		}},
		{"keyless rows stay apart by program", []profile.Rule{chdirA, chdirB}, []Group{
			{Rules: []int{4}, Rows: []int{0}, Text: loaded[3].Text, Comm: "a", Syscalls: []string{"chdir"}, Records: 3, Events: 3},
			{Rules: []int{4}, Rows: []int{1}, Text: loaded[3].Text, Comm: "b", Syscalls: []string{"chdir"}, Records: 2, Events: 2},
		}},
		{"unmatched rows stay apart by syscall, in profile order", []profile.Rule{goneOpen, other, openat, goneChdir}, []Group{
			{Rules: []int{}, Rows: []int{0}, Key: "gone", Syscalls: []string{"open"}, Records: 1},
			{Rules: []int{}, Rows: []int{1}, Syscalls: []string{"(other rules)"}, Records: 9, Lost: 9},
			{Rules: []int{1}, Rows: []int{2}, Text: loaded[0].Text, Key: "file-open", Syscalls: []string{"openat"},
				Records: 10, Events: 5, Lost: 1, Waits: 2, WaitNs: 100},
			{Rules: []int{}, Rows: []int{3}, Key: "gone", Syscalls: []string{"chdir"}, Records: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{LoadedRules: loaded, Rules: tc.rows}
			got := Groups(p)
			for i := range got {
				if got[i].ID != GroupID(tc.rows[got[i].Rows[0]]) {
					t.Errorf("group %d: ID %q is not its first row's", i, got[i].ID)
				}
				got[i].ID = ""
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Groups:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestGroupID(t *testing.T) {
	base := profile.Rule{Key: "k", Syscall: 2, Arch: "x86_64", Matches: []int{1}}
	same := base
	same.Syscall, same.SyscallName = 257, "openat"
	if GroupID(base) != GroupID(same) {
		t.Errorf("rows matching the same rule differ: %q %q", GroupID(base), GroupID(same))
	}
	unmatched := base
	unmatched.Matches = nil
	unmatched2 := unmatched
	unmatched2.Syscall = 257
	keyless := base
	keyless.Key, keyless.Comm = "", "sh"
	keyless2 := keyless
	keyless2.Comm = "bash"
	ids := map[string]string{}
	for name, r := range map[string]profile.Rule{"base": base, "unmatched": unmatched, "unmatched2": unmatched2,
		"keyless": keyless, "keyless2": keyless2} {
		if other, dup := ids[GroupID(r)]; dup {
			t.Errorf("%s and %s share the id %q", name, other, GroupID(r))
		}
		ids[GroupID(r)] = name
	}
}
