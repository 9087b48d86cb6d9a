package netlink

import (
	"reflect"
	"testing"
	"time"
)

// Records as the kernel sends them on the multicast group (the netlink
// payload; auditd's log adds "type=... msg=" in front).
const (
	sysOpenat = `audit(1700000000.123:4567): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd1c2e4f10 a2=0 a3=0 items=1 ppid=1201 pid=1234 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" subj=unconfined key="etc-read"`
	cwd4567   = `audit(1700000000.123:4567): cwd="/root"`
	path4567  = `audit(1700000000.123:4567): item=0 name="/etc/shadow" inode=1234 dev=08:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`
	title4567 = `audit(1700000000.123:4567): proctitle=636174002F6574632F736861646F77`
	eoe4567   = `audit(1700000000.123:4567): `

	// comm with a space is hex-encoded; no key.
	sysChmod = `audit(1700000000.200:4568): arch=c000003e syscall=90 success=no exit=-1 a0=55d0 a1=1ff a2=0 a3=0 items=1 ppid=1 pid=2000 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=6D7920736372697074 exe="/usr/bin/bash" subj=unconfined key=(null)`
	eoe4568  = `audit(1700000000.200:4568): `

	// Two keys, hex-encoded with \x01 between them.
	sysUnlink = `audit(1700000000.300:4569): arch=c000003e syscall=87 success=yes exit=0 a0=7ffc a1=0 a2=0 a3=0 items=2 ppid=1201 pid=1234 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="rm" exe="/usr/bin/rm" subj=unconfined key=6B31016B32`

	// Not from a syscall event.
	userLogin    = `audit(1700000001.000:4570): pid=999 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=10.0.0.1 terminal=sshd res=success'`
	configChange = `audit(1700000002.000:4571): op=set audit_backlog_limit=8192 old=64 auid=4294967295 ses=4294967295 res=1`

	// An AVC emitted during the syscall, before its SYSCALL record.
	avc4580 = `audit(1700000003.000:4580): avc:  denied  { read } for  pid=1300 comm="httpd" name="index.html" dev="sda1" ino=12 scontext=system_u:system_r:httpd_t:s0 tcontext=unconfined_u:object_r:user_home_t:s0 tclass=file permissive=0`
	sys4580 = `audit(1700000003.000:4580): arch=c000003e syscall=2 success=no exit=-13 a0=1 a1=0 a2=0 a3=0 items=1 ppid=1 pid=1300 auid=4294967295 uid=48 gid=48 euid=48 suid=48 fsuid=48 egid=48 sgid=48 fsgid=48 tty=(none) ses=4294967295 comm="httpd" exe="/usr/sbin/httpd" subj=system_u:system_r:httpd_t:s0 key="web"`
	eoe4580 = `audit(1700000003.000:4580): `
)

type raw struct {
	typ uint16
	msg string
}

const (
	tSyscall      = 1300
	tPath         = 1302
	tCwd          = 1307
	tConfigChange = 1305
	tEOE          = 1320
	tProctitle    = 1327
	tAVC          = 1400
	tUserLogin    = 1112
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      raw
		want    message
		wantErr bool
	}{
		{"SYSCALL", raw{tSyscall, sysOpenat}, message{typ: tSyscall, serial: 4567,
			sc: &syscallInfo{tgid: 1234, ppid: 1201, comm: "cat", exe: "cat", key: "etc-read", nr: 257, arch: 0xc000003e}}, false},
		{"SYSCALL, hex comm, no key", raw{tSyscall, sysChmod}, message{typ: tSyscall, serial: 4568,
			sc: &syscallInfo{tgid: 2000, ppid: 1, comm: "my script", exe: "bash", key: "", nr: 90, arch: 0xc000003e}}, false},
		{"SYSCALL, two keys", raw{tSyscall, sysUnlink}, message{typ: tSyscall, serial: 4569,
			sc: &syscallInfo{tgid: 1234, ppid: 1201, comm: "rm", exe: "rm", key: "k1\x01k2", nr: 87, arch: 0xc000003e}}, false},
		{"CWD", raw{tCwd, cwd4567}, message{typ: tCwd, serial: 4567}, false},
		{"PATH", raw{tPath, path4567}, message{typ: tPath, serial: 4567}, false},
		{"PROCTITLE", raw{tProctitle, title4567}, message{typ: tProctitle, serial: 4567}, false},
		{"EOE", raw{tEOE, eoe4567}, message{typ: tEOE, serial: 4567}, false},
		{"EOE padded with NULs", raw{tEOE, eoe4567 + "\x00\x00"}, message{typ: tEOE, serial: 4567}, false},
		{"user message", raw{tUserLogin, userLogin}, message{typ: tUserLogin, serial: 4570}, false},
		{"CONFIG_CHANGE of a setting", raw{tConfigChange, `audit(1700000000.500:100): op=set audit_pid=487 old=0 auid=1000 ses=3 subj=unconfined res=1`},
			message{typ: tConfigChange, serial: 100, cfg: &configInfo{name: "audit_pid", new: 487, old: 0, auid: 1000, ses: 3, allowed: true}}, false},
		{"CONFIG_CHANGE refused", raw{tConfigChange, `audit(1700000000.500:101): op=set audit_backlog_limit=1 old=64 auid=4294967295 ses=4294967295 res=0`},
			message{typ: tConfigChange, serial: 101, cfg: &configInfo{name: "audit_backlog_limit", new: 1, old: 64, auid: 4294967295, ses: 4294967295}}, false},
		{"CONFIG_CHANGE of a rule", raw{tConfigChange, `audit(1700000000.500:102): auid=4294967295 ses=4294967295 subj=unconfined op=add_rule key="k" list=4 res=1`},
			message{typ: tConfigChange, serial: 102}, false},
		{"no header", raw{tSyscall, "arch=c000003e syscall=1 pid=5"}, message{typ: tSyscall}, true},
		{"SYSCALL without pid", raw{tSyscall, "audit(1.000:9): arch=c000003e syscall=1"}, message{typ: tSyscall, serial: 9}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMessage(tt.in.typ, []byte(tt.in.msg))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			// Every record here is stamped at .123 to .300 of second
			// 1700000000 or 1700000001, or has no header.
			if s := got.stamp; got.serial >= 4567 && (s.Unix() < 1700000000 || s.Unix() > 1700000001) {
				t.Fatalf("stamp %v", s)
			}
			if got.serial == 4567 && !got.stamp.Equal(time.Unix(1700000000, 123e6)) {
				t.Fatalf("stamp %v, want 1700000000.123", got.stamp)
			}
			got.stamp = time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v (sc %+v, cfg %+v), want %+v (sc %+v, cfg %+v)", got, got.sc, got.cfg, tt.want, tt.want.sc, tt.want.cfg)
			}
		})
	}
}

func TestScanFields(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a=1 b="x y" c=(null)`, []string{"a=1", `b="x y"`, "c=(null)"}},
		{`avc:  denied  { read } for  pid=1300 comm="httpd"`, []string{"pid=1300", `comm="httpd"`}},
		{`msg='op=login acct="root" res=success' pid=3`, []string{`msg='op=login acct="root" res=success'`, "pid=3"}},
		{`unterminated="abc`, []string{`unterminated="abc`}},
		{`k=`, []string{"k="}},
		{`=v x`, []string{"=v"}},
		{``, nil},
	}
	for _, tt := range tests {
		var got []string
		scanFields(tt.in, func(k, v string) { got = append(got, k+"="+v) })
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("scanFields(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"cat"`, "cat"},
		{"(null)", ""},
		{"6D7920736372697074", "my script"},
		{"6B31016B32", "k1\x01k2"},
		{"abc", "abc"}, // not upper-case hex
		{"ABC", "ABC"}, // odd length
		{`"`, `"`},     // a lone quote
		{"", ""},
	}
	for _, tt := range tests {
		if got := decodeValue(tt.in); got != tt.want {
			t.Errorf("decodeValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, r := range []raw{{tSyscall, sysOpenat}, {tSyscall, sysChmod}, {tSyscall, sysUnlink}, {tCwd, cwd4567},
		{tPath, path4567}, {tProctitle, title4567}, {tEOE, eoe4567}, {tUserLogin, userLogin}, {tAVC, avc4580}} {
		f.Add(r.typ, []byte(r.msg))
	}
	f.Fuzz(func(t *testing.T, typ uint16, payload []byte) {
		a := newAttributor()
		a.maxSerials = 2
		var n uint64
		// The record, then an EOE and a SYSCALL of the same serial, through
		// attribution: every record must be counted exactly once.
		m, err := parseMessage(typ, payload)
		if err == nil && m.typ == tSyscall && m.sc == nil {
			t.Fatal("SYSCALL record parsed without its fields")
		}
		a.add(m, err == nil)
		n++
		if err == nil {
			a.add(message{typ: tSyscall, serial: m.serial, sc: &syscallInfo{tgid: 1, nr: -1}}, true)
			a.add(message{typ: tEOE, serial: m.serial}, true)
			n += 2
		}
		procs, rules, _ := a.finish()
		var sp, sr uint64
		for _, p := range procs {
			sp += p.Records
		}
		for _, r := range rules {
			sr += r.Records
		}
		if sp != n || sr != n {
			t.Fatalf("%d records, processes count %d, rules %d", n, sp, sr)
		}
	})
}
