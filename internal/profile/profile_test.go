package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func valid() *Profile {
	return &Profile{
		SchemaVersion: SchemaVersion, Attach: AttachFentry, KernelRelease: "6.1.0", HZ: 250,
		DurationNs: 1e9,
		Totals:     Totals{Records: 10, Lost: 3, LostByReason: map[string]uint64{"backlog limit exceeded": 3}},
		Timeline: NewTimeline(1e7, 0, Series{
			Arrivals: []int64{1, 2},
			Queued:   []uint64{1, 2},
			Lost:     []uint64{0, 3},
			Drained:  []uint64{1, 1},
			MaxDepth: []uint64{1, 2},
			Waits:    []uint64{0, 0},
			WaitNs:   []uint64{0, 0},
		}),
		Stalls: &Stalls{BucketNs: 1e7, Count: 1, Longest: 1e7, LongestAt: 1e7,
			Histogram: []StallBin{{Min: 1e7, Max: 2e7, Count: 1}}},
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Profile)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*Profile) {}, ""},
		{"schema", func(p *Profile) { p.SchemaVersion = 4 }, "schema_version is 4"},
		{"schema 0", func(p *Profile) { p.SchemaVersion = 0 }, "schema_version is 0"},
		{"schema 1", func(p *Profile) { p.SchemaVersion = 1 }, ""},
		{"attach", func(p *Profile) { p.Attach = "uprobe" }, "attach is \"uprobe\""},
		{"negative duration", func(p *Profile) { p.DurationNs = -1 }, "duration_ns is negative"},
		{"ragged timeline", func(p *Profile) { p.Timeline.Dense().Lost = []uint64{1} }, "timeline.lost has 1 buckets"},
		{"bucket width", func(p *Profile) { p.Timeline.BucketNs = 0 }, "bucket_ns must be positive"},
		{"reasons exceed lost", func(p *Profile) { p.Totals.LostByReason["x"] = 1 }, "lost_by_reason sums to 4"},
		{"netlink reasons", func(p *Profile) { p.Attach = AttachNetlink; p.Totals.LostByReason["x"] = 1 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := valid()
			tc.mutate(p)
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	p := valid()
	path := filepath.Join(t.TempDir(), "p.json")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	p.Encode(&a)
	got.Encode(&b)
	if a.String() != b.String() {
		t.Fatalf("round trip changed the profile:\n%s\n%s", a.String(), b.String())
	}
	for _, name := range []string{"schema_version", "attach", "kernel_release", "hz", "start_unix_ns", "duration_ns",
		"audit_before", "audit_after", "totals", "lost_by_reason", "silent_drops", "wait_ns", "max_depth",
		"bytes_queued", "processes", "rules", "wait_histogram_ns", "timeline", "bucket_ns", "arrivals", "drained",
		"stalls", "longest_ns", "longest_at_ns", "histogram", "min_ns"} {
		if !strings.Contains(a.String(), `"`+name+`"`) {
			t.Errorf("encoded profile has no %q", name)
		}
	}
}

// TestWriteFile: a write that fails at the rename (the path is a
// non-empty directory) leaves no temporary file behind; a write over an old
// file replaces it whole.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := valid().WriteFile(blocked); err == nil {
		t.Fatal("writing over a non-empty directory succeeded")
	}
	path := filepath.Join(dir, "p.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := valid().WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("debris left: %v", entries)
	}
}

// TestWriteFileGzip: a name ending in .gz gets the JSON gzipped, read
// back the same; a damaged one is an error, not a shorter profile.
func TestWriteFileGzip(t *testing.T) {
	dir := t.TempDir()
	plain, gz := filepath.Join(dir, "p.json"), filepath.Join(dir, "p.json.gz")
	p := valid()
	if err := p.WriteFile(plain); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFile(gz); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(gz)
	if !bytes.HasPrefix(raw, gzipMagic) {
		t.Fatalf("%s is not gzip: %q", gz, raw[:min(len(raw), 16)])
	}
	a, err := ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(gz)
	if err != nil {
		t.Fatal(err)
	}
	var ea, eb bytes.Buffer
	a.Encode(&ea)
	b.Encode(&eb)
	if ea.String() != eb.String() {
		t.Fatalf("the gzipped profile reads back different")
	}
	for name, bad := range map[string][]byte{
		"truncated": raw[:len(raw)-9],
		"checksum":  append(append([]byte(nil), raw[:len(raw)-8]...), 0, 0, 0, 0, raw[len(raw)-4], raw[len(raw)-3], raw[len(raw)-2], raw[len(raw)-1]),
		"header":    {0x1f, 0x8b, 0, 0},
	} {
		if _, err := Decode(bytes.NewReader(bad)); err == nil {
			t.Errorf("%s gzip: accepted", name)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{"", "{", "[]", `{"schema_version": 1}`, `{"schema_version": 1, "attach": "fentry", "timeline": {"arrivals": [1]}}`} {
		if _, err := Decode(strings.NewReader(in)); err == nil {
			t.Errorf("Decode(%q) accepted", in)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	valid().Encode(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"schema_version":1,"attach":"netlink"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever decodes and validates must re-encode and decode the same.
		var out bytes.Buffer
		if err := p.Encode(&out); err != nil {
			t.Fatal(err)
		}
		q, err := Decode(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("re-decoding a valid profile: %v", err)
		}
		var again bytes.Buffer
		if err := q.Encode(&again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), again.Bytes()) {
			t.Fatalf("a decoded profile encodes differently after a round trip:\n%s\n%s", out.Bytes(), again.Bytes())
		}
	})
}

// TestEncodeStreams: Encode writes the rows a chunk at a time, and the
// bytes are those of the profile encoded whole (the JSON document with the
// timeline's appendJSON in its place), over rows of several chunks; a
// writer's error comes back, not a shorter profile.
func TestEncodeStreams(t *testing.T) {
	p := valid()
	n := 3 * encodeChunk / 20 // rows of about 30 bytes: several chunks
	p.Timeline = NewTimeline(1e7, 0, Series{
		Arrivals: make([]int64, n),
		Queued:   make([]uint64, n),
		Lost:     make([]uint64, n),
		Drained:  make([]uint64, n),
		MaxDepth: make([]uint64, n),
		Waits:    make([]uint64, n),
		WaitNs:   make([]uint64, n),
	})
	for i := 0; i < n; i += 1 + i%3 {
		p.Timeline.Dense().Arrivals[i], p.Timeline.Dense().Queued[i], p.Timeline.Dense().MaxDepth[i] = int64(i%7+1), uint64(i%7+1), uint64(i%1000)
		p.Timeline.Dense().WaitNs[i] = uint64(i) * 1000
	}
	var got bytes.Buffer
	if err := p.Encode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Len() < 2*encodeChunk {
		t.Fatalf("%d bytes: not several chunks", got.Len())
	}
	// The same profile encoded whole.
	cp := *p
	cp.Timeline = Timeline{placeholder: true}
	doc, err := json.MarshalIndent(&cp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := p.Timeline.appendJSON(nil, "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Replace(doc, []byte(timelinePlaceholder), rows, 1)
	want = append(want, '\n')
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("streamed %d bytes differ from %d encoded whole", got.Len(), len(want))
	}
	if _, err := ReadFile(writeTemp(t, got.Bytes())); err != nil {
		t.Fatal(err)
	}
	for _, after := range []int{0, encodeChunk / 2, got.Len() - 1} {
		if err := p.Encode(&failingWriter{left: after}); !errors.Is(err, errWriteFailed) {
			t.Errorf("a write failing after %d bytes: %v", after, err)
		}
	}
}

var errWriteFailed = errors.New("write failed")

// failingWriter takes left bytes, then fails.
type failingWriter struct{ left int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if len(b) > w.left {
		n := w.left
		w.left = 0
		return n, errWriteFailed
	}
	w.left -= len(b)
	return len(b), nil
}

func writeTemp(t *testing.T, b []byte) string {
	path := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
