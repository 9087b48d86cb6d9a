package profile

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// quiet is a timeline of n buckets with a record every every buckets and
// kauditd's drain in the next: what an idle host's recording holds.
func quiet(n, every int) Timeline {
	t := NewTimeline(1e7, 5e9, Series{
		Arrivals:   make([]int64, n),
		Events:     make([]uint64, n),
		LostEvents: make([]uint64, n),
		Queued:     make([]uint64, n),
		Lost:       make([]uint64, n),
		Drained:    make([]uint64, n),
		MaxDepth:   make([]uint64, n),
		Waits:      make([]uint64, n),
		WaitNs:     make([]uint64, n),
		Producers:  make([]uint64, n),
		Delivered:  make([]uint64, n),
	})
	for i := 0; i+1 < n; i += every {
		t.Dense().Arrivals[i], t.Dense().Events[i], t.Dense().Queued[i], t.Dense().MaxDepth[i], t.Dense().Producers[i] = 4, 1, 4, 4, 1
		t.Dense().Drained[i+1], t.Dense().Delivered[i+1] = 4, 4
	}
	return t
}

func TestTimelineRoundTrip(t *testing.T) {
	busy := quiet(50, 1)
	busy.Dense().Arrivals[3] = -2 // netlink mode's corrections may be negative
	busy.Dense().Lost[7], busy.Dense().Waits[7], busy.Dense().WaitNs[7], busy.Dense().LostEvents[7] = 3, 2, 8e6, 1
	noOptional := quiet(30, 7)
	noOptional.Dense().Events, noOptional.Dense().LostEvents, noOptional.Dense().Producers, noOptional.Dense().Delivered = nil, nil, nil, nil
	allZero := quiet(20, 100)
	for name, tl := range map[string]Timeline{
		"quiet": quiet(1000, 500), "busy": busy, "no optional columns": noOptional, "all zero": allZero,
		"empty": NewTimeline(1e7, 0, Series{Arrivals: []int64{}, Queued: []uint64{}, Lost: []uint64{}, Drained: []uint64{},
			MaxDepth: []uint64{}, Waits: []uint64{}, WaitNs: []uint64{}}),
		"missed": func() Timeline { t := quiet(10, 3); t.MissedBuckets = 4; return t }(),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(tl)
			if err != nil {
				t.Fatal(err)
			}
			var got Timeline
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decoding %s: %v", b, err)
			}
			got.Dense() // decoding gives the sparse form; tl is dense
			if !reflect.DeepEqual(got, tl) {
				t.Fatalf("round trip changed the timeline:\n%+v\n%+v\n%s", tl, got, b)
			}
			// Through a whole profile (Encode's hand-written nesting).
			p := valid()
			p.Timeline = tl
			var buf bytes.Buffer
			if err := p.Encode(&buf); err != nil {
				t.Fatal(err)
			}
			q, err := Decode(&buf)
			if err != nil {
				t.Fatalf("decoding the profile: %v\n%s", err, buf.String())
			}
			q.Timeline.Dense()
			if !reflect.DeepEqual(q.Timeline, tl) {
				t.Fatalf("profile round trip changed the timeline:\n%+v\n%+v", tl, q.Timeline)
			}
		})
	}
}

// TestTimelineQuietIsSmall: a quiet hour (a record every 5 s, 360,000
// buckets of 10 ms) is written as its 1,440 non-empty buckets, where
// schema 1 wrote 11 values per bucket (36 MB an hour, issue 14).
func TestTimelineQuietIsSmall(t *testing.T) {
	p := valid()
	p.Timeline = quiet(360_000, 500)
	var buf bytes.Buffer
	if err := p.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(buf.String(), "\n["); rows != 1440 {
		t.Errorf("%d rows, want 1440 (one per non-empty bucket)", rows)
	}
	if buf.Len() > 100_000 {
		t.Errorf("a quiet hour takes %d bytes, want at most 100,000", buf.Len())
	}
}

// TestTimelineSchema1: a profile written before schema 2 (dense arrays)
// still reads.
func TestTimelineSchema1(t *testing.T) {
	in := `{"schema_version": 1, "attach": "fentry", "kernel_release": "6.1.0", "hz": 250,
	  "totals": {"records": 3, "lost": 0},
	  "timeline": {"bucket_ns": 10000000, "start_ns": 7, "arrivals": [1, 0, 2], "queued": [1, 0, 2],
	    "lost": [0, 0, 0], "drained": [0, 1, 2], "max_depth": [1, 0, 2], "waits": [0, 0, 0],
	    "wait_ns": [0, 0, 0], "producers": [1, 0, 1], "missed_buckets": 2}}`
	p, err := Decode(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := NewTimeline(1e7, 7, Series{Arrivals: []int64{1, 0, 2}, Queued: []uint64{1, 0, 2},
		Lost: []uint64{0, 0, 0}, Drained: []uint64{0, 1, 2}, MaxDepth: []uint64{1, 0, 2}, Waits: []uint64{0, 0, 0},
		WaitNs: []uint64{0, 0, 0}, Producers: []uint64{1, 0, 1}})
	want.MissedBuckets = 2
	if !reflect.DeepEqual(p.Timeline, want) {
		t.Fatalf("got %+v, want %+v", p.Timeline, want)
	}
}

func TestTimelineRejects(t *testing.T) {
	cols := `"columns": ["arrivals", "queued", "lost", "drained", "max_depth", "waits", "wait_ns"]`
	for name, tc := range map[string]struct{ in, want string }{
		"no buckets":      {`{` + cols + `, "rows": []}`, "no buckets"},
		"past the end":    {`{"buckets": 2, ` + cols + `, "rows": [[2,1,1,0,0,1,0,0]]}`, "past the 2 buckets"},
		"second past":     {`{"buckets": 2, ` + cols + `, "rows": [[0,1,1,0,0,1,0,0],[1,1,1,0,0,1,0,0]]}`, "past the 2 buckets"},
		"short row":       {`{"buckets": 2, ` + cols + `, "rows": [[0,1,1]]}`, "2 values, want 7"},
		"long row":        {`{"buckets": 2, ` + cols + `, "rows": [[0,1,1,0,0,1,0,0,9]]}`, "more values than columns"},
		"negative skip":   {`{"buckets": 2, ` + cols + `, "rows": [[-1,1,1,0,0,1,0,0]]}`, "negative"},
		"negative count":  {`{"buckets": 2, ` + cols + `, "rows": [[0,1,-1,0,0,1,0,0]]}`, "queued is -1"},
		"fraction":        {`{"buckets": 2, ` + cols + `, "rows": [[0,1.5,1,0,0,1,0,0]]}`, "want ','"},
		"huge":            {`{"buckets": 99999999999999, ` + cols + `, "rows": []}`, "timeline.buckets is"},
		"twice":           {`{"buckets": 2, "columns": ["queued", "queued"], "rows": []}`, "twice"},
		"trailing":        {`{"buckets": 2, ` + cols + `, "rows": [[0,1,1,0,0,1,0,0]] 5}`, "invalid"},
		"unclosed":        {`{"buckets": 2, ` + cols + `, "rows": [[0,1,1,0,0,1,0,0]}`, ""},
		"overflowing int": {`{"buckets": 2, ` + cols + `, "rows": [[0,99999999999999999999,1,0,0,1,0,0]]}`, "out of range"},
		"zero and not":    {`{"buckets": 2, ` + cols + `, "zero_columns": ["lost"], "rows": []}`, `zero_columns names "lost", which columns names too`},
		"zero arrivals":   {`{"buckets": 2, "columns": ["queued"], "zero_columns": ["arrivals"], "rows": []}`, "zero_columns names arrivals"},
	} {
		t.Run(name, func(t *testing.T) {
			var tl Timeline
			err := json.Unmarshal([]byte(tc.in), &tl)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestZeroColumns: a series zero in every bucket is named in zero_columns
// and left out of the rows (schema 3), and read back as carried and zero:
// quiet's lost_events, lost, waits and wait_ns. A name this build does not
// know is skipped there too.
func TestZeroColumns(t *testing.T) {
	tl := quiet(20, 3)
	b, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"columns":["arrivals","events","queued","drained","max_depth","producers","delivered"],"zero_columns":["lost_events","lost","waits","wait_ns"],`; !strings.Contains(string(b), want) {
		t.Fatalf("%s\nlacks %s", b, want)
	}
	if !strings.Contains(string(b), "[[0,4,1,4,0,4,1,0],") {
		t.Errorf("the rows are not those of the written columns alone:\n%s", b)
	}
	var got Timeline
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lost_events", "lost", "waits", "wait_ns"} {
		if !got.Carries(name) {
			t.Errorf("%s, in zero_columns, is not carried", name)
		}
	}
	if got.Dense(); !reflect.DeepEqual(got, tl) {
		t.Errorf("round trip changed the timeline:\n%+v\n%+v", tl, got)
	}
	in := `{"bucket_ns": 10, "buckets": 3, "columns": ["arrivals", "queued", "drained", "max_depth", "wait_ns"], "zero_columns": ["lost", "future", "waits"], "rows": [[1, 5, 4, 4, 4, 0]]}`
	var f Timeline
	if err := json.Unmarshal([]byte(in), &f); err != nil {
		t.Fatal(err)
	}
	if !f.Carries("lost") || !f.Carries("waits") || f.Carries("delivered") {
		t.Errorf("carries lost %v, waits %v, delivered %v; want true, true, false", f.Carries("lost"), f.Carries("waits"), f.Carries("delivered"))
	}
}

// TestTimelineUnknownColumn: a column a later build adds is skipped, the
// others still land in their series.
func TestTimelineUnknownColumn(t *testing.T) {
	in := `{"bucket_ns": 10, "buckets": 3, "columns": ["arrivals", "future", "queued"], "rows": [[1, 5, 77, 4]]}`
	var tl Timeline
	if err := json.Unmarshal([]byte(in), &tl); err != nil {
		t.Fatal(err)
	}
	tl.Dense() // to index the series
	if !reflect.DeepEqual(tl.Dense().Arrivals, []int64{0, 5, 0}) || !reflect.DeepEqual(tl.Dense().Queued, []uint64{0, 4, 0}) {
		t.Fatalf("got arrivals %v queued %v", tl.Dense().Arrivals, tl.Dense().Queued)
	}
}

// FuzzTimeline: whatever rows decode re-encode to rows that decode the same.
func FuzzTimeline(f *testing.F) {
	b, _ := json.Marshal(quiet(20, 3))
	f.Add(b)
	f.Add([]byte(`{"buckets": 3, "columns": ["arrivals", "x"], "rows": [[1, -5, 7]]}`))
	f.Add([]byte(`{"buckets": 3, "columns": ["arrivals", "queued"], "zero_columns": ["lost", "x", "delivered"], "rows": [[1, 5, 7]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tl Timeline
		if err := json.Unmarshal(data, &tl); err != nil {
			return
		}
		out, err := json.Marshal(tl)
		if err != nil {
			// A required series the file did not carry: refused, never
			// written ragged.
			if !strings.Contains(err.Error(), "buckets, arrivals") {
				t.Fatal(err)
			}
			return
		}
		var again Timeline
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		if !reflect.DeepEqual(normalize(tl), normalize(again)) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", tl, again)
		}
	})
}

// normalize maps what the file cannot tell apart to one form: a series the
// file did not carry decodes as nil, and an optional series is written only
// when it is as long as arrivals.
func normalize(t Timeline) Timeline {
	t.Dense() // to compare series
	n := t.Len()
	for _, c := range t.columns() {
		if c.len() != n || n == 0 {
			if c.signed != nil {
				*c.signed = nil
			} else {
				*c.unsigned = nil
			}
		}
	}
	return t
}

// TestDecodedDense: a decoded timeline (the sparse form) gives its series
// through Dense as the dense one it was written from: no reader can take
// its series for empty ones (nil), as the e2e checks once did.
func TestDecodedDense(t *testing.T) {
	tl := quiet(1000, 7)
	b, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	var got Timeline
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if rows, err := got.Rows(); err != nil || len(rows) == 0 {
		t.Fatalf("rows %d, %v", len(rows), err)
	}
	if g, w := got.Dense(), tl.Dense(); !reflect.DeepEqual(g, w) {
		t.Errorf("decoded series %+v, written %+v", g, w)
	}
}
