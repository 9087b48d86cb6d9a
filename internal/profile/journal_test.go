package profile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func journalHead() *Profile {
	return &Profile{SchemaVersion: SchemaVersion, Attach: AttachFentry, KernelRelease: "6.12.0", HZ: 250,
		StartUnixNs: 1e18, AuditBefore: &AuditStatus{Enabled: 1, BacklogLimit: 64}, Notes: []string{"a note"}}
}

// writeJournal writes buckets (in order) to a new journal of n buckets,
// flushing after every bucket as record does after every poll.
func writeJournal(t *testing.T, buckets []Bucket, n int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.json.partial")
	j, err := CreateJournal(path, journalHead(), 1e7, 5e9)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets {
		if err := j.Append(b); err != nil {
			t.Fatal(err)
		}
		if err := j.Flush(b.Index + 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(n); err != nil {
		t.Fatal(err)
	}
	return path
}

func readJournalFile(t *testing.T, path string) *Profile {
	t.Helper()
	p, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJournalRoundTrip(t *testing.T) {
	buckets := []Bucket{
		{Index: 0, Arrivals: 3, Events: 1, Queued: 3, MaxDepth: 3, Drained: 2, Delivered: 2},
		{Index: 1, Drained: 1, Delivered: 1},
		{Index: 2}, // empty: not written
		{Index: 4000, Arrivals: 10, Events: 2, LostEvents: 1, Queued: 9, Lost: 1, MaxDepth: 65, Waits: 2, WaitNs: 4e6, Drained: 9, Delivered: 9},
	}
	path := writeJournal(t, buckets, 6000)
	p := readJournalFile(t, path)
	// record reads its journal from the file, twice over, not whole into
	// memory: the same profile.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fp, err := ReadJournal(f); err != nil || !reflect.DeepEqual(fp, p) {
		t.Fatalf("read from the file: %v, and a profile different from the one read through Decode", err)
	}
	tl := p.Timeline
	tl.Dense() // to index the series
	if tl.Len() != 6000 || tl.BucketNs != 1e7 || tl.StartNs != 5e9 {
		t.Fatalf("timeline of %d buckets of %d ns from %d, want 6000 of 1e7 from 5e9", tl.Len(), tl.BucketNs, tl.StartNs)
	}
	if p.DurationNs != 60e9 {
		t.Errorf("duration %d, want 60 s", p.DurationNs)
	}
	if tl.Dense().Producers != nil {
		t.Errorf("producers %d long, want absent: none was counted", len(tl.Dense().Producers))
	}
	if len(tl.Dense().Delivered) != 6000 || tl.Dense().Delivered[4000] != 9 {
		t.Errorf("delivered not read back")
	}
	for _, b := range buckets {
		got := Bucket{Index: b.Index, Arrivals: tl.Dense().Arrivals[b.Index], Events: tl.Dense().Events[b.Index], LostEvents: tl.Dense().LostEvents[b.Index],
			Queued: tl.Dense().Queued[b.Index], Lost: tl.Dense().Lost[b.Index], Drained: tl.Dense().Drained[b.Index], MaxDepth: tl.Dense().MaxDepth[b.Index],
			Waits: tl.Dense().Waits[b.Index], WaitNs: tl.Dense().WaitNs[b.Index], Delivered: tl.Dense().Delivered[b.Index]}
		if got != b {
			t.Errorf("bucket %d: %+v, want %+v", b.Index, got, b)
		}
	}
	want := Totals{Records: 13, Events: 3, LostEvents: 1, Queued: 12, Lost: 1, Drained: 12, Waits: 2, WaitNs: 4e6, MaxDepth: 65,
		LostByReason: map[string]uint64{}}
	if !reflect.DeepEqual(p.Totals, want) {
		t.Errorf("totals %+v, want %+v", p.Totals, want)
	}
	if p.KernelRelease != "6.12.0" || p.AuditBefore == nil || p.AuditBefore.BacklogLimit != 64 || p.Attach != AttachFentry {
		t.Errorf("the first line's profile not read back: %+v", p)
	}
	if len(p.Notes) != 2 || !strings.Contains(p.Notes[1], "did not finish: its first 1m0s") {
		t.Errorf("notes %q, want the recording's and one saying what the journal lacks", p.Notes)
	}
	// A profile written from it reads back the same: the tools can save it.
	var buf bytes.Buffer
	if err := p.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q.Timeline, p.Timeline) {
		t.Errorf("the journal's timeline does not survive Encode and Decode")
	}
}

// A journal cut anywhere (the process killed mid-write) reads as the
// buckets of its whole lines: a prefix of the whole journal's timeline.
func TestJournalCutShort(t *testing.T) {
	var buckets []Bucket
	for i := int64(0); i < 50; i++ {
		if i%7 == 3 {
			continue
		}
		buckets = append(buckets, Bucket{Index: i * 300, Arrivals: i + 1, Events: 1, Queued: uint64(i + 1), Drained: uint64(i), MaxDepth: uint64(i + 2), Producers: 1})
	}
	path := writeJournal(t, buckets, 15000)
	whole := readJournalFile(t, path).Timeline
	whole.Dense() // to index the series
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first := bytes.IndexByte(data, '\n') + 1
	lastLen := -1
	for cut := first; cut <= len(data); cut++ {
		p, err := ReadJournal(bytes.NewReader(data[:cut]))
		if err != nil {
			t.Fatalf("cut at %d of %d bytes: %v", cut, len(data), err)
		}
		p.Timeline.Dense() // to index the series
		n := p.Timeline.Len()
		if n < lastLen {
			t.Fatalf("cut at %d: %d buckets, fewer than a shorter cut's %d", cut, n, lastLen)
		}
		lastLen = n
		if n > 0 && !reflect.DeepEqual(p.Timeline.Dense().Queued, whole.Dense().Queued[:n]) {
			t.Fatalf("cut at %d: queued is not the first %d buckets of the whole journal's", cut, n)
		}
	}
	if lastLen != 15000 {
		t.Errorf("the whole journal has %d buckets, want 15000", lastLen)
	}
}

// While nothing happens the journal still says how far it was read, at
// most JournalMarkEvery apart: a recording killed in a quiet stretch keeps
// the stretch.
func TestJournalQuietMarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.partial")
	j, err := CreateJournal(path, journalHead(), 1e7, 0)
	if err != nil {
		t.Fatal(err)
	}
	every := int64(JournalMarkEvery / (10 * time.Millisecond))
	for read := int64(0); read <= 10*every+50; read += 100 { // a poll a second
		if err := j.Flush(read); err != nil {
			t.Fatal(err)
		}
	}
	// Killed: no Close, once the writer has written what it was handed.
	barrier(j)
	p := readJournalFile(t, path)
	if got, want := int64(p.Timeline.Len()), 10*every; got != want {
		t.Errorf("%d buckets kept, want %d", got, want)
	}
	data, _ := os.ReadFile(path)
	if marks := len(data) - bytes.IndexByte(data, '\n') - 1; marks > 200 {
		t.Errorf("%d bytes after the first line for 100 quiet seconds:\n%s", marks, data)
	}
	if p.Totals.Records != 0 {
		t.Errorf("records %d", p.Totals.Records)
	}
}

func TestJournalRejects(t *testing.T) {
	head := func() string {
		path := writeJournal(t, nil, 0)
		data, _ := os.ReadFile(path)
		return string(data[:bytes.IndexByte(data, '\n')+1])
	}()
	row := "[0,1,1,0,1,0,1,1,0,0,0,0]\n"
	for name, tc := range map[string]struct{ data, want string }{
		"no first line":    {`{"journal":1`, "no complete first line"},
		"version":          {strings.Replace(head, `"journal":2`, `"journal":3`, 1), "version 3"},
		"version 0":        {strings.Replace(head, `"journal":2`, `"journal":0`, 1), "version 0"},
		"bad setting":      {head + row + "{\"setting\":{\"mono_ns\":\"x\"}}\n" + row, "a setting line that does not read"},
		"setting field":    {head + row + "{\"setting\":{\"field\":\"limit\",\"seen\":\"poll\"}}\n" + row, `settings[0].field is "limit"`},
		"bad row mid-file": {head + row + "[0,1,x]\n" + row, "line 3"},
		"short row":        {head + "[0,1,2]\n" + row, "2 values, want 11"},
		"long row":         {head + "[0,1,1,0,1,0,1,1,0,0,0,0,7]\n" + row, "more values than columns"},
		"negative skip":    {head + "[-1,1,1,0,1,0,1,1,0,0,0,0]\n" + row, "skip -1"},
		"negative count":   {head + "[0,1,-1,0,1,0,1,1,0,0,0,0]\n" + row, "events is -1"},
		"end going back":   {head + row + row + "{\"end\":1}\n" + row, "end 1"},
		"other object":     {head + "{\"x\":1}\n" + row, "want {\"end\": N}, {\"setting\": ...} or a row"},
		"past the maximum": {head + "[33554432,1,1,0,1,0,1,1,0,0,0,0]\n" + row, "at most"},
		"text":             {head + "hello\n" + row, "want a row"},
	} {
		t.Run(name, func(t *testing.T) {
			// From a file (read twice over), and through Decode (whole).
			_, err := ReadJournal(strings.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			if !strings.HasPrefix(tc.data, `{"journal"`) {
				return
			}
			_, err = Decode(strings.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("through Decode: error %v, want one saying %q", err, tc.want)
			}
			// Opened in place, as record's stop reads its own: only the
			// timeline, whose passes skip setting lines (record keeps its
			// settings in memory).
			if strings.Contains(name, "setting") {
				return
			}
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = OpenJournalTimeline(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("opened in place: error %v, want one saying %q", err, tc.want)
			}
		})
	}
	// The journal of an earlier recording is never overwritten.
	path := writeJournal(t, nil, 10)
	if _, err := CreateJournal(path, journalHead(), 1e7, 0); err == nil || !os.IsExist(errorsUnwrapAll(err)) {
		t.Errorf("creating over an existing journal: %v, want a file-exists error", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// FuzzJournal: whatever follows a journal's first line, ReadJournal does
// not panic, and a journal it accepts has series of one length and a
// duration that is that length in buckets.
func FuzzJournal(f *testing.F) {
	f.Add([]byte("[0,1,1,0,1,0,1,1,0,0,0,0]\n{\"end\":10}\n[2,1,1,0,1,0,1,1,0,0,0,1]\n[0,1,"))
	f.Add([]byte("{\"end\":5}\n"))
	f.Add([]byte("[3,0,0,0,0,0,0,0,0,0,0,0]\n"))
	var head []byte
	{
		dir := f.TempDir()
		path := filepath.Join(dir, "j")
		j, err := CreateJournal(path, journalHead(), 1e7, 0)
		if err != nil {
			f.Fatal(err)
		}
		j.Close(0)
		head, _ = os.ReadFile(path)
		head = head[:bytes.IndexByte(head, '\n')+1]
	}
	f.Fuzz(func(t *testing.T, rest []byte) {
		p, err := ReadJournal(bytes.NewReader(append(append([]byte(nil), head...), rest...)))
		if err != nil {
			return
		}
		tl := &p.Timeline
		tl.Dense() // the series' lengths
		for _, c := range tl.columns() {
			if l := c.len(); l != tl.Len() && !(c.optional && l == 0) {
				t.Fatalf("%s has %d buckets, arrivals %d", c.name, l, tl.Len())
			}
		}
		if p.DurationNs != int64(tl.Len())*tl.BucketNs {
			t.Fatalf("duration %d for %d buckets", p.DurationNs, tl.Len())
		}
	})
}

// A write that fails (a full disk) is returned by the next Flush, and by
// Close, not lost.
func TestJournalWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.partial")
	j, err := CreateJournal(path, journalHead(), 1e7, 0)
	if err != nil {
		t.Fatal(err)
	}
	j.f.Close() // every write from now on fails
	if err := j.Append(Bucket{Index: 3, Arrivals: 1}); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(4); err != nil {
		t.Fatalf("the first flush only hands the row over: %v", err)
	}
	barrier(j)
	if err := j.Flush(5); err == nil || !strings.Contains(err.Error(), "writing journal") {
		t.Errorf("flush after a failed write: %v, want the write's error", err)
	}
	if err := j.Close(6); err == nil {
		t.Errorf("close after a failed write: no error")
	}
}

// A line longer than the reader's buffer, read from a file, is an error.
func TestJournalLongLine(t *testing.T) {
	path := writeJournal(t, nil, 0)
	data, _ := os.ReadFile(path)
	data = append(data[:bytes.IndexByte(data, '\n')+1], "[0"+strings.Repeat(",1", 40000)+"]\n"...)
	if _, err := ReadJournal(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("error %v, want one about a long line", err)
	}
}

// SetBucket fills every series there is at the bucket's index and leaves
// an absent optional series absent.
func TestSetBucket(t *testing.T) {
	tl := NewTimeline(0, 0, Series{
		Arrivals:   make([]int64, 3),
		Events:     make([]uint64, 3),
		LostEvents: make([]uint64, 3),
		Queued:     make([]uint64, 3),
		Lost:       make([]uint64, 3),
		Drained:    make([]uint64, 3),
		MaxDepth:   make([]uint64, 3),
		Waits:      make([]uint64, 3),
		WaitNs:     make([]uint64, 3),
		Delivered:  make([]uint64, 3),
	})
	b := Bucket{Index: 2, Arrivals: 1, Events: 2, LostEvents: 3, Queued: 4, Lost: 5, Drained: 6, MaxDepth: 7, Waits: 8, WaitNs: 9, Producers: 10, Delivered: 11}
	tl.SetBucket(b)
	got := Bucket{Index: 2, Arrivals: tl.Dense().Arrivals[2], Events: tl.Dense().Events[2], LostEvents: tl.Dense().LostEvents[2], Queued: tl.Dense().Queued[2],
		Lost: tl.Dense().Lost[2], Drained: tl.Dense().Drained[2], MaxDepth: tl.Dense().MaxDepth[2], Waits: tl.Dense().Waits[2], WaitNs: tl.Dense().WaitNs[2], Producers: 10, Delivered: tl.Dense().Delivered[2]}
	if got != b || tl.Dense().Producers != nil || tl.Dense().Arrivals[1] != 0 {
		t.Errorf("SetBucket gave %+v (producers %v), want %+v in bucket 2 only", got, tl.Dense().Producers, b)
	}
}

// TestOpenJournalTimeline: a journal's timeline opened in place (record's
// stop) holds none of its rows, and reads as the one ReadJournal gives:
// the same rows on every pass, the same series, the same bytes written,
// after the file is removed too (record removes it once the profile is
// saved). A file changed under it makes the pass fail.
func TestOpenJournalTimeline(t *testing.T) {
	buckets := []Bucket{
		{Index: 0, Arrivals: 3, Events: 1, Queued: 3, MaxDepth: 3, Drained: 2, Delivered: 2, Producers: 1},
		{Index: 1, Drained: 1, Delivered: 1},
		{Index: 2}, // empty: not written
		{Index: 700, Waits: 1},
		{Index: 4000, Arrivals: 10, Events: 2, LostEvents: 1, Queued: 9, Lost: 1, MaxDepth: 65, Waits: 2, WaitNs: 4e6, Drained: 9, Delivered: 9},
	}
	path := writeJournal(t, buckets, 6000)
	want := readJournalFile(t, path)
	tl, err := OpenJournalTimeline(path)
	if err != nil {
		t.Fatal(err)
	}
	if tl.rows != nil || tl.file == nil {
		t.Fatalf("the opened timeline holds %d rows", len(tl.rows))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if tl.Len() != want.Timeline.Len() || tl.BucketNs != want.Timeline.BucketNs || tl.StartNs != want.Timeline.StartNs {
		t.Errorf("timeline of %d buckets, want %d", tl.Len(), want.Timeline.Len())
	}
	for _, name := range names {
		if tl.Carries(name) != want.Timeline.Carries(name) {
			t.Errorf("carries %s: %v, want %v", name, tl.Carries(name), want.Timeline.Carries(name))
		}
	}
	wantRows, err := want.Timeline.Rows()
	if err != nil {
		t.Fatal(err)
	}
	for pass := range 2 {
		var got []Bucket
		for b, err := range tl.All() {
			if err != nil {
				t.Fatalf("pass %d: %v", pass, err)
			}
			got = append(got, *b)
		}
		rows, err := tl.Rows()
		if err != nil {
			t.Fatalf("pass %d: Rows: %v", pass, err)
		}
		if !reflect.DeepEqual(got, wantRows) || !reflect.DeepEqual(rows, got) {
			t.Errorf("pass %d: rows %+v, want %+v", pass, got, wantRows)
		}
	}
	// A loop that breaks stops the pass, without an error.
	seen := 0
	for _, err := range tl.All() {
		if err != nil {
			t.Fatalf("broken pass: %v", err)
		}
		if seen++; seen == 2 {
			break
		}
	}
	p := *want
	p.Timeline = tl
	if got, exp := encodedBoth(t, &p, want); got != exp {
		t.Errorf("encoded:\n%s\nwant:\n%s", got, exp)
	}
	gotRows, err := tl.Rows()
	if err != nil {
		t.Fatal(err)
	}
	if wantRows, _ := want.Timeline.Rows(); !reflect.DeepEqual(gotRows, wantRows) {
		t.Errorf("rows %+v, want %+v", gotRows, wantRows)
	}
	// No dense form: Dense refuses at once rather than load a day.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Dense of a journal's timeline did not panic")
			}
		}()
		tl.Dense()
	}()

	// Cut short under it: the next pass fails, and so does Encode.
	path = writeJournal(t, buckets, 6000)
	tl, err = OpenJournalTimeline(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:bytes.Index(data, []byte("\n[4000"))+1], 0o644); err != nil {
		t.Fatal(err)
	}
	var last error
	for b, err := range tl.All() {
		if last != nil {
			t.Fatalf("a row after the error %v", last)
		}
		if last = err; err != nil && b != nil {
			t.Errorf("the error came with a row")
		}
	}
	if last == nil || !strings.Contains(last.Error(), "changed") {
		t.Errorf("the pass after the file was cut ended with %v", last)
	}
	if _, err := tl.Rows(); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("Rows after the file was cut: %v", err)
	}
	p.Timeline = tl
	if err := p.Encode(&bytes.Buffer{}); err == nil {
		t.Errorf("encoded a timeline whose rows could not be read again")
	}
}

// TestOpenJournalTimelineZero: series zero in every bucket of a journal
// are the encoded profile's zero_columns from what its first read found,
// as ReadJournal's; after Close a pass fails.
func TestOpenJournalTimelineZero(t *testing.T) {
	buckets := []Bucket{
		{Index: 0, Arrivals: 3, Events: 1, Queued: 3, MaxDepth: 3, Drained: 2, Delivered: 2, Producers: 1},
		{Index: 9, Arrivals: 2, Events: 1, Queued: 2, MaxDepth: 3, Drained: 3, Delivered: 3, Producers: 1},
	}
	path := writeJournal(t, buckets, 20)
	want := readJournalFile(t, path)
	tl, err := OpenJournalTimeline(path)
	if err != nil {
		t.Fatal(err)
	}
	p := *want
	p.Timeline = tl
	if got, exp := encodedBoth(t, &p, want); got != exp || !strings.Contains(got, `"zero_columns": ["lost_events", "lost", "waits", "wait_ns"]`) {
		t.Errorf("encoded:\n%s\nwant, with zero_columns:\n%s", got, exp)
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tl.Rows(); err == nil {
		t.Errorf("the rows of a closed journal read again")
	}
}

// encodedBoth is p and want encoded: a profile over an opened journal's
// timeline and the same profile read whole (ReadJournal).
func encodedBoth(t *testing.T, p, want *Profile) (string, string) {
	t.Helper()
	var got, exp bytes.Buffer
	if err := p.Encode(&got); err != nil {
		t.Fatal(err)
	}
	if err := want.Encode(&exp); err != nil {
		t.Fatal(err)
	}
	return got.String(), exp.String()
}

// TestJournalSettings: setting lines come back as the profile's settings,
// in time order whatever order they were written in, without moving a
// bucket; the timeline opened in place skips them; a version 1 journal
// (no setting lines) is still read.
func TestJournalSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json.partial")
	j, err := CreateJournal(path, journalHead(), 1e7, 5e9)
	if err != nil {
		t.Fatal(err)
	}
	raise := SettingChange{MonoNs: 5e9 + 15e6, Field: SettingBacklogLimit, Old: 64, New: 20000, Seen: SeenKernel,
		By: &SettingSender{Tgid: 9, PID: 9, Comm: "auditctl", Auid: 4294967295, Ses: 4294967295}}
	gone := SettingChange{MonoNs: 5e9 + 12e6, SinceNs: 5e9 + 2e6, Field: SettingPID, Old: 640, Seen: SeenPoll}
	buckets := []Bucket{{Index: 0, Arrivals: 3, Queued: 3, MaxDepth: 3, Drained: 3}, {Index: 2, Arrivals: 1, Queued: 1, MaxDepth: 1, Drained: 1}}
	if err := j.Append(buckets[0]); err != nil {
		t.Fatal(err)
	}
	// The kernel's raise seen first, then the poll's earlier change.
	if err := j.AddSetting(raise); err != nil {
		t.Fatal(err)
	}
	if err := j.AddSetting(gone); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(1); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(buckets[1]); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(5); err != nil {
		t.Fatal(err)
	}
	p := readJournalFile(t, path)
	if want := []SettingChange{gone, raise}; !reflect.DeepEqual(p.Settings, want) {
		t.Errorf("settings %+v, want %+v", p.Settings, want)
	}
	rows, _ := p.Timeline.Rows()
	if len(rows) != 2 || rows[0].Index != 0 || rows[1].Index != 2 || p.Timeline.Len() != 5 {
		t.Errorf("rows %+v of %d buckets, want buckets 0 and 2 of 5", rows, p.Timeline.Len())
	}
	tl, err := OpenJournalTimeline(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	inPlace, err := tl.Rows()
	if err != nil || !reflect.DeepEqual(inPlace, rows) {
		t.Errorf("opened in place: rows %+v (%v), want %+v", inPlace, err, rows)
	}

	// A version 1 journal: the same lines less the settings.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v1 []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(l, `{"setting"`) {
			v1 = append(v1, strings.Replace(l, `{"journal":2`, `{"journal":1`, 1))
		}
	}
	old, err := ReadJournal(strings.NewReader(strings.Join(v1, "")))
	if err != nil {
		t.Fatalf("a version 1 journal: %v", err)
	}
	if old.Settings != nil || old.Timeline.Len() != 5 {
		t.Errorf("a version 1 journal: settings %+v, %d buckets", old.Settings, old.Timeline.Len())
	}
}

// barrier waits until the writer has written what j handed it.
func barrier(j *Journal) {
	done := make(chan error, 1)
	j.out <- journalChunk{done: done}
	<-done
}

// TestJournalWrittenCheckpoint: a checkpoint's timeline is the journal up
// to what Written handed over, read buckets long, whatever is appended
// after; and the profile made with it is a valid one that says it is a
// checkpoint.
func TestJournalWrittenCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json.partial")
	j, err := CreateJournal(path, journalHead(), 1e7, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(0)
	for _, b := range []Bucket{{Index: 2, Arrivals: 5, Queued: 5}, {Index: 7, Drained: 5}} {
		if err := j.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	size, wait, err := j.Written(40) // 40 buckets read, quiet since bucket 7
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Bucket{Index: 45, Arrivals: 9}); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(60); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	barrier(j) // the later rows are on file too
	tl, err := OpenJournalTimelineSize(path, size)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	if tl.Len() != 40 {
		t.Errorf("%d buckets, want the 40 read at the checkpoint", tl.Len())
	}
	var arrivals int64
	for b, err := range tl.All() {
		if err != nil {
			t.Fatal(err)
		}
		arrivals += b.Arrivals
	}
	if arrivals != 5 {
		t.Errorf("%d arrivals, want the 5 before the checkpoint", arrivals)
	}
	p := journalHead()
	p.Timeline = tl
	p.DurationNs = 400e6
	p.Checkpoint = &Checkpoint{Seq: 2, UnixNs: 1.7e18, EveryNs: 60e9}
	var buf bytes.Buffer
	if err := p.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.Unfinished(), "a checkpoint (the 2nd, written 2023-11-14 22:13:20 UTC): the recording had not finished; this is its first 400ms, what came after is not in it"; got != want {
		t.Errorf("Unfinished() = %q, want %q", got, want)
	}
	if back.Timeline.Len() != 40 {
		t.Errorf("decoded: %d buckets", back.Timeline.Len())
	}
	back.Checkpoint.Seq = 0
	if err := back.Validate(); err == nil {
		t.Error("a checkpoint with seq 0 validates")
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 102: "102nd", 111: "111th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}

// fullFile is a journal file on a filesystem with room for room more
// bytes: a write past it writes what fits and fails with ENOSPC, as
// write(2) does.
type fullFile struct {
	*os.File
	mu   sync.Mutex
	room int
}

func (f *fullFile) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(len(b), f.room)
	n, err := f.File.Write(b[:n])
	f.room -= n
	if err == nil && n < len(b) {
		err = syscall.ENOSPC
	}
	return n, err
}

func (f *fullFile) setRoom(n int) {
	f.mu.Lock()
	f.room = n
	f.mu.Unlock()
}

// TestJournalBehind: a journal whose filesystem fills keeps what it could
// not write, says so at each Flush, writes it once there is room, and
// loses nothing; full at the end, its timeline is whole (Timeline: the
// rest from memory) while its file holds the first bytes; past
// JournalBehindMax it gives up.
func TestJournalBehind(t *testing.T) {
	for _, freed := range []bool{true, false} {
		t.Run(fmt.Sprintf("freed=%v", freed), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.json.partial")
			j, err := CreateJournal(path, journalHead(), 1e7, 0)
			if err != nil {
				t.Fatal(err)
			}
			ff := &fullFile{File: j.f.(*os.File), room: 100}
			j.f = ff
			var want int64
			for i := int64(0); i < 40; i++ {
				if err := j.Append(Bucket{Index: i, Arrivals: i + 1, Queued: uint64(i + 1)}); err != nil {
					t.Fatal(err)
				}
				want += i + 1
				// A flush says what the writer held when it came: three
				// rows of 26 bytes fit, the fourth does not (flush 4 says
				// so); room made after flush 20 is used by flush 21's
				// write (flush 22 finds nothing held).
				err := j.Flush(i + 1)
				barrier(j)
				var behind *JournalBehindError
				isBehind := errors.As(err, &behind) && errors.Is(err, syscall.ENOSPC) && behind.Pending > 0
				if wantBehind := i >= 4 && !(freed && i >= 22); isBehind != wantBehind || !isBehind && err != nil {
					t.Fatalf("flush %d: %v, want behind %v", i, err, wantBehind)
				}
				if i == 20 && freed {
					ff.setRoom(1 << 20)
				}
			}
			err = j.Close(40)
			if freed != (err == nil) {
				t.Fatalf("close: %v", err)
			}
			tl, err := j.Timeline()
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			var got int64
			n := 0
			for b, err := range tl.All() {
				if err != nil {
					t.Fatal(err)
				}
				got += b.Arrivals
				n++
			}
			if got != want || n != 40 || tl.Len() != 40 {
				t.Errorf("timeline: %d rows, %d buckets, %d arrivals; want 40, 40, %d", n, tl.Len(), got, want)
			}
			if !freed {
				if st, _ := os.Stat(path); st.Size() != j.written || j.written >= j.written+int64(len(j.tail)) {
					t.Errorf("file %d bytes, written %d, tail %d", st.Size(), j.written, len(j.tail))
				}
			}
		})
	}
	t.Run("gives up", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "p.json.partial")
		j, err := CreateJournal(path, journalHead(), 1e7, 0)
		if err != nil {
			t.Fatal(err)
		}
		j.f = &fullFile{File: j.f.(*os.File)}
		big := Bucket{Arrivals: 1 << 60, Queued: 1 << 60, Lost: 1 << 60, Drained: 1 << 60, MaxDepth: 1 << 60}
		var err2 error
		for i := int64(0); err2 == nil || errors.As(err2, new(*JournalBehindError)); i++ {
			if i > 10_000_000 {
				t.Fatal("never gave up")
			}
			big.Index = i
			if err := j.Append(big); err != nil {
				t.Fatal(err)
			}
			if i%1000 == 0 {
				err2 = j.Flush(i + 1)
				barrier(j)
			}
		}
		if !strings.Contains(err2.Error(), "more than 64 MiB it could not write") {
			t.Errorf("gave up with %v", err2)
		}
		if err := j.Close(0); err == nil {
			t.Error("close after giving up: nil")
		}
		if _, err := j.Timeline(); err == nil {
			t.Error("the timeline of a journal that gave up reads")
		}
	})
}
