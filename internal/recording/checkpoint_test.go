package recording

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing"
)

// fillFull is what a checkpoint did before checkpointRows: the journal's
// first size bytes read from its start, the stalls measured over all its
// rows, and the rows encoded again when the profile is written. The
// incremental path must write the same bytes.
func fillFull(snap *profile.Profile, path string, size int64) error {
	tl, err := profile.OpenJournalTimelineSize(path, size)
	if err != nil {
		return err
	}
	tl.MissedBuckets = snap.Timeline.MissedBuckets
	snap.Timeline = tl
	stalls, err := sizing.MeasureStalls(snap)
	if err != nil {
		return fmt.Errorf("measuring stalls: %w", err)
	}
	snap.Stalls = &stalls
	return nil
}

// randomJournal grows a journal the way record's does, in steps, with
// what its reader must take: rows whose columns become non-zero at
// random steps (delivered only where withDelivered), end lines, setting
// lines, skips of all sizes, negative arrivals; the size a checkpoint
// reads (Journal.Written) is cut anywhere, through a line too.
type randomJournal struct {
	rng       *rand.Rand
	f         *os.File
	data      []byte // what the file holds
	bucket    int64  // the bucket of the next row before its skip
	activates [11]int
}

func newRandomJournal(t *testing.T, rng *rand.Rand, path string, head *profile.Profile, steps int, withDelivered bool) *randomJournal {
	j, err := profile.CreateJournal(path, head, 10_000_000, 1_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(0); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := &randomJournal{rng: rng, f: f, data: data}
	for k := range r.activates {
		// Arrivals, queued and drained from the start; the others at a
		// random step, or never.
		switch {
		case k == 0 || k == 3 || k == 5:
		case k == 10 && !withDelivered:
			r.activates[k] = 1 << 30
		default:
			r.activates[k] = rng.IntN(steps + steps/2)
		}
	}
	return r
}

// grow appends the lines of one step.
func (r *randomJournal) grow(t *testing.T, step int) {
	var b []byte
	for range r.rng.IntN(60) {
		switch x := r.rng.IntN(20); {
		case x == 0:
			end := r.bucket + int64(r.rng.IntN(300))
			b = append(b, `{"end":`+strconv.FormatInt(end, 10)+"}\n"...)
			r.bucket = end
		case x == 1:
			b = append(b, fmt.Sprintf(`{"setting":{"mono_ns":%d,"field":"backlog_limit","old":%d,"new":%d,"seen":"poll"}}`+"\n",
				r.bucket, r.rng.IntN(100), r.rng.IntN(100))...)
		default:
			skip := int64(r.rng.IntN(4))
			if r.rng.IntN(10) == 0 {
				skip = int64(r.rng.IntN(5000))
			}
			b = append(b, '[')
			b = strconv.AppendInt(b, skip, 10)
			for k, act := range r.activates {
				v := int64(0)
				if step >= act && r.rng.IntN(3) > 0 {
					v = int64(r.rng.IntN(50))
					if k == 0 && r.rng.IntN(20) == 0 {
						v = -v
					}
				}
				b = append(b, ',')
				b = strconv.AppendInt(b, v, 10)
			}
			b = append(b, "]\n"...)
			r.bucket += skip + 1
		}
	}
	if _, err := r.f.Write(b); err != nil {
		t.Fatal(err)
	}
	r.data = append(r.data, b...)
}

// TestCheckpointIncremental: checkpoint after checkpoint of journals grown
// at random, the profile checkpointRows makes (the journal read from where
// the last checkpoint stopped, the stalls resumed, the rows copied from
// the rows file) is byte for byte the one the whole journal read again
// makes (fillFull), written as Encode writes it and as a file, plain and
// gzipped; after a checkpoint that failed too; a rows file left by a
// killed recorder is not read; and the rows file is gone once closed.
func TestCheckpointIncremental(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	copied, stalled, zeroChanges := 0, 0, 0
	for seed := range seeds {
		for _, withDelivered := range []bool{true, false} {
			rng := rand.New(rand.NewPCG(uint64(seed), 14))
			dir := t.TempDir()
			path := filepath.Join(dir, "out.json.partial")
			head := &profile.Profile{SchemaVersion: profile.SchemaVersion, Attach: profile.AttachFentry, KernelRelease: "6.1.0",
				HZ: 250, AuditBefore: &profile.AuditStatus{Backlog: uint32(rng.IntN(3)), BacklogLimit: 8192}}
			const steps = 16
			j := newRandomJournal(t, rng, path, head, steps, withDelivered)
			// A rows file a killed recorder left: not this journal's.
			if err := os.WriteFile(profile.JournalRowsPath(path), bytes.Repeat([]byte("[1,2,3],\n"), 1000), 0o644); err != nil {
				t.Fatal(err)
			}
			var rows checkpointRows
			size := int64(len(j.data)) // the header and the end line Close wrote
			lastZero := ""
			for step := range steps {
				j.grow(t, step)
				// Written's size: anywhere from the last one's to the file's
				// end, through a line too (its rest comes next time).
				size = size + rng.Int64N(int64(len(j.data))-size+1)
				if rng.IntN(2) == 0 {
					size = int64(len(j.data))
				}
				snap := func() *profile.Profile {
					p := *head
					p.DurationNs = int64(step+1) * 60e9
					p.Checkpoint = &profile.Checkpoint{Seq: step + 1, UnixNs: 1, EveryNs: 60e9}
					p.Timeline.MissedBuckets = uint64(step % 3)
					return &p
				}
				got, want := snap(), snap()
				if rng.IntN(8) == 0 {
					// A checkpoint that fails (the journal gone a moment):
					// the next starts over.
					if err := os.Rename(path, path+".away"); err != nil {
						t.Fatal(err)
					}
					failed := snap()
					if err := rows.fill(failed, path, size); err == nil {
						t.Fatalf("seed %d step %d: a checkpoint without its journal did not fail", seed, step)
					}
					failed.Timeline.Close()
					if err := os.Rename(path+".away", path); err != nil {
						t.Fatal(err)
					}
				}
				if err := rows.fill(got, path, size); err != nil {
					t.Fatalf("seed %d step %d: %v", seed, step, err)
				}
				if err := fillFull(want, path, size); err != nil {
					t.Fatalf("seed %d step %d: full: %v", seed, step, err)
				}
				var gb, wb bytes.Buffer
				if err := got.Encode(&gb); err != nil {
					t.Fatal(err)
				}
				if err := want.Encode(&wb); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gb.Bytes(), wb.Bytes()) {
					t.Fatalf("seed %d delivered %v step %d (size %d of %d): the checkpoint differs from the journal read whole:\n%s",
						seed, withDelivered, step, size, len(j.data), firstDiff(gb.Bytes(), wb.Bytes()))
				}
				for _, name := range []string{"p.json", "p.json.gz"} {
					// As files a few times: each is synced (WriteFile).
					if step%8 != 7 || name == "p.json.gz" && step != steps-1 {
						continue
					}
					gp, wp := filepath.Join(dir, "got-"+name), filepath.Join(dir, "want-"+name)
					if err := got.WriteFile(gp); err != nil {
						t.Fatal(err)
					}
					if err := want.WriteFile(wp); err != nil {
						t.Fatal(err)
					}
					gf, _ := os.ReadFile(gp)
					wf, _ := os.ReadFile(wp)
					if !bytes.Equal(gf, wf) || len(wf) == 0 {
						t.Fatalf("seed %d step %d: %s written differs from the journal read whole's", seed, step, name)
					}
				}
				if got.Timeline.Len() > 0 {
					copied++
				}
				if want.Stalls.Count > 0 {
					stalled++
				}
				if z := zeroColumns(wb.Bytes()); z != lastZero {
					zeroChanges++
					lastZero = z
				}
				got.Timeline.Close()
				want.Timeline.Close()
			}
			if _, err := os.Stat(profile.JournalRowsPath(path)); err != nil {
				t.Fatalf("seed %d: no rows file while checkpointing: %v", seed, err)
			}
			// What a killed recorder leaves, the journal beside the rows
			// file, reads as a profile.
			if _, err := profile.ReadFile(path); err != nil {
				t.Errorf("seed %d: the journal does not read beside its rows file: %v", seed, err)
			}
			if err := rows.close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(profile.JournalRowsPath(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("seed %d: the rows file is left after close: %v", seed, err)
			}
		}
	}
	// The cases the test is for came up.
	if copied == 0 || stalled == 0 || zeroChanges < seeds {
		t.Errorf("checkpoints with rows %d, with stalls %d, zero_columns changes %d: the random journals miss cases", copied, stalled, zeroChanges)
	}
}

// zeroColumns is the zero_columns line of an encoded profile.
func zeroColumns(b []byte) string {
	i := bytes.Index(b, []byte(`"zero_columns"`))
	if i < 0 {
		return ""
	}
	return string(b[i : i+bytes.IndexByte(b[i:], '\n')])
}

// firstDiff shows where a and b first differ.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(i-200, 0)
	return fmt.Sprintf("at byte %d:\ngot:  %q\nwant: %q", i, a[from:min(len(a), i+200)], b[from:min(len(b), i+200)])
}
