package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
)

// Timeline holds per-bucket series, all of the same length. It has two
// forms in memory. Dense: every series one value per bucket (Series),
// which is how builders and tests make one (NewTimeline). Sparse: only
// the buckets where something happened, as rows (Rows), which is what a
// decoded file or journal gives, since a day of 10 ms buckets is 8.64
// million buckets and mostly empty ones (issue 14). The dense series are
// reached only through Dense, which turns a sparse timeline into the
// dense form first: no consumer can read a decoded timeline's series as
// empty. Consumers that need not index the series read the rows (Rows,
// All, Carries), which either form gives without densifying.
// In the file (schema 2) only the rows are written (see MarshalJSON).
type Timeline struct {
	BucketNs int64
	// StartNs is the CLOCK_MONOTONIC time of the first bucket's start.
	StartNs int64
	// MissedBuckets counts buckets user space read too late to keep.
	MissedBuckets uint64

	// dense holds the dense form's series; in the sparse form every
	// one is nil. Dense gives them.
	dense Series

	// placeholder marks the stand-in Profile.Encode replaces by the rows.
	placeholder bool

	// sparse marks the sparse form: dense's series are nil, and rows
	// (in bucket order, each bucket at most once) hold the buckets'
	// values, of buckets in all.
	sparse  bool
	buckets int
	rows    []Bucket
	// file, when not nil, holds the rows in place of rows: a journal
	// record wrote, read again for each pass (OpenJournalTimeline).
	file *journalRows
	// encoded, when not nil, is the rows' text as encodeJSON writes
	// them, in a file: a checkpoint's (JournalFollower), copied into the
	// profile rather than encoded again.
	encoded *encodedRows
	// has tells, in the sparse form, which series (in the order of
	// columns) the timeline carries: an optional one may be absent.
	has [seriesCount]bool
}

// Series is a timeline's dense form: every series one value per bucket,
// all of the same length. An optional series may be nil (absent).
type Series struct {
	// Arrivals: records produced (by audit_log_start entry time).
	Arrivals []int64 `json:"arrivals"`
	// Events: AUDIT_SYSCALL records among the arrivals; LostEvents: those
	// lost. Absent from netlink profiles.
	Events     []uint64 `json:"events,omitempty"`
	LostEvents []uint64 `json:"lost_events,omitempty"`
	// Queued: records put on the audit queue.
	Queued []uint64 `json:"queued"`
	// Lost: audit_log_lost calls.
	Lost []uint64 `json:"lost"`
	// Drained: records kauditd took off the audit queue.
	Drained []uint64 `json:"drained"`
	// MaxDepth: the largest audit queue length seen in the bucket, at an
	// enqueue or where a kauditd pass began.
	MaxDepth []uint64 `json:"max_depth"`
	Waits    []uint64 `json:"waits"`
	WaitNs   []uint64 `json:"wait_ns"`
	// Producers: the tasks that made a record in the bucket, each counted
	// once. Absent from netlink profiles and where the per-call state
	// lives in a hash (kernels before 5.12, task-state hash), which
	// forgets a task between its records.
	Producers []uint64 `json:"producers,omitempty"`
	// Delivered: the records kauditd put on auditd's socket in the bucket,
	// what the consumer took (drained also counts kauditd's moves to its
	// retry queue while auditd takes nothing). Absent from netlink
	// profiles, older ones, and where nothing reached auditd.
	Delivered []uint64 `json:"delivered,omitempty"`
}

// NewTimeline is a dense timeline of buckets of bucketNs from startNs,
// with the series s (which it keeps, not copies).
func NewTimeline(bucketNs, startNs int64, s Series) Timeline {
	return Timeline{BucketNs: bucketNs, StartNs: startNs, dense: s}
}

// Dense returns the timeline's dense series, to read or to fill in
// place, turning a sparse timeline into the dense form first (a day of
// 10 ms buckets: 760 MB; a consumer that need not index the series reads
// the rows instead). A timeline whose rows are in a journal
// (OpenJournalTimeline) has no dense form: it is read with All, and
// Dense panics on it, before loading anything.
func (t *Timeline) Dense() *Series {
	if t.file != nil {
		panic("profile: Dense of a journal's timeline (OpenJournalTimeline): read it with All")
	}
	if t.sparse {
		t.densify()
	}
	return &t.dense
}

// seriesCount is the number of per-bucket series (columns).
const seriesCount = 11

// timelinePlaceholder is what a placeholder timeline marshals to: a JSON
// string no timeline can be.
const timelinePlaceholder = `"\u0000timeline\u0000"`

// Len returns the number of buckets.
func (t *Timeline) Len() int {
	// Consumers call it in their loops' conditions: no seriesLen here,
	// whose columns table is built per call.
	if !t.sparse {
		return len(t.dense.Arrivals)
	}
	return t.seriesLen(0)
}

// seriesLen returns the length of the series at place k in columns: in
// the sparse form the timeline's buckets if it carries the series, else
// 0, the length the dense form gives it.
func (t *Timeline) seriesLen(k int) int {
	if !t.sparse {
		return t.columns()[k].len()
	}
	if t.has[k] {
		return t.buckets
	}
	return 0
}

// Rows returns the buckets where some series is not zero, in bucket order;
// the buckets between two rows, and after the last up to Len, are all
// zero. A dense timeline's rows are built on each call, and so are those
// of one whose rows are in a journal (OpenJournalTimeline), which fails if
// the file cannot be read again; a sparse one's are its own, not to be
// modified. A series the timeline does not have reads as zero.
func (t *Timeline) Rows() ([]Bucket, error) {
	if t.sparse && t.file == nil {
		return t.rows, nil
	}
	// Sized first, then built: appended as they come, a busy day's rows
	// (69 MB for two busy hours) would be copied over and over. A journal
	// counted its row lines when it was first read, at least its rows, so
	// its file is read once; a dense timeline's are counted.
	var rows []Bucket
	if t.file != nil {
		rows = make([]Bucket, 0, t.file.lines)
	} else {
		count := 0
		for range t.All() {
			count++
		}
		rows = make([]Bucket, 0, count)
	}
	for b, err := range t.All() {
		if err != nil {
			return nil, err
		}
		rows = append(rows, *b)
	}
	return rows, nil
}

// All yields each row in bucket order, as Rows gives them, with a nil
// error, without building them all for a dense timeline, nor holding them
// for one whose rows are in a journal (OpenJournalTimeline): each pass
// reads them from its file again, and stops reading when the loop
// breaks. A pass that fails to read the journal again ends with (nil,
// err), after the rows it read. The loop must not modify the row nor keep
// the pointer: for a dense timeline and a journal's it is one Bucket,
// refilled row by row.
func (t *Timeline) All() iter.Seq2[*Bucket, error] {
	return func(yield func(*Bucket, error) bool) {
		switch {
		case t.file != nil:
			t.file.all(t, yield)
		case t.sparse:
			RowSeq(t.rows)(yield)
		default:
			t.denseRows(yield)
		}
	}
}

// RowSeq yields rows, in their order, as All yields a timeline's: for a
// caller that holds a timeline's rows (Rows) and passes them again where
// a timeline's All is taken, rather than reading a journal's file or
// finding a dense timeline's rows in every bucket again.
func RowSeq(rows []Bucket) iter.Seq2[*Bucket, error] {
	return func(yield func(*Bucket, error) bool) {
		for i := range rows {
			if !yield(&rows[i], nil) {
				return
			}
		}
	}
}

// denseRows is All for a dense timeline.
func (t *Timeline) denseRows(yield func(*Bucket, error) bool) {
	// The series are read as slices: this runs for every bucket of a dense
	// timeline (8.6 million a day of 10 ms buckets), where a closure per
	// value or a Bucket allocated per row costs seconds. A series not of
	// the timeline's length (an optional one absent, or one a builder left
	// out) reads as zero.
	n := t.Len()
	var u [seriesCount][]uint64
	for k, c := range t.columns() {
		if c.unsigned != nil && len(*c.unsigned) == n {
			u[k] = *c.unsigned
		}
	}
	var b Bucket
	for i := range n {
		nonZero := t.dense.Arrivals[i] != 0
		for k := 1; k < seriesCount && !nonZero; k++ {
			nonZero = u[k] != nil && u[k][i] != 0
		}
		if !nonZero {
			continue
		}
		b = Bucket{Index: int64(i), Arrivals: t.dense.Arrivals[i], Events: valueAt(u[1], i), LostEvents: valueAt(u[2], i),
			Queued: valueAt(u[3], i), Lost: valueAt(u[4], i), Drained: valueAt(u[5], i), MaxDepth: valueAt(u[6], i),
			Waits: valueAt(u[7], i), WaitNs: valueAt(u[8], i), Producers: valueAt(u[9], i), Delivered: valueAt(u[10], i)}
		if !yield(&b, nil) {
			return
		}
	}
}

// valueAt is s[i], 0 for a series that is not there (nil).
func valueAt(s []uint64, i int) uint64 {
	if s == nil {
		return 0
	}
	return s[i]
}

// densify turns a sparse timeline whose rows are in memory into the
// dense form (every series one value per bucket, as schema 1 and the
// builders have it), for Dense; a dense timeline is left as it is.
func (t *Timeline) densify() {
	if !t.sparse {
		return
	}
	rows := t.rows
	n, has := t.buckets, t.has
	t.sparse, t.buckets, t.rows, t.has = false, 0, nil, [seriesCount]bool{}
	cols := t.columns()
	for k, c := range cols {
		switch {
		case !has[k]:
		case c.signed != nil:
			*c.signed = make([]int64, n)
		default:
			*c.unsigned = make([]uint64, n)
		}
	}
	for _, b := range rows {
		for k, v := range b.values() {
			if has[k] {
				cols[k].setDense(int(b.Index), v)
			}
		}
	}
}

// column is one series of the file's rows: its name and where it lives.
type column struct {
	name     string
	optional bool // may be absent (nil) in memory and in the file
	signed   *[]int64
	unsigned *[]uint64
}

// columns lists the series in the order schema 2 writes them.
func (t *Timeline) columns() []column {
	s := &t.dense
	return []column{
		{name: "arrivals", signed: &s.Arrivals},
		{name: "events", optional: true, unsigned: &s.Events},
		{name: "lost_events", optional: true, unsigned: &s.LostEvents},
		{name: "queued", unsigned: &s.Queued},
		{name: "lost", unsigned: &s.Lost},
		{name: "drained", unsigned: &s.Drained},
		{name: "max_depth", unsigned: &s.MaxDepth},
		{name: "waits", unsigned: &s.Waits},
		{name: "wait_ns", unsigned: &s.WaitNs},
		{name: "producers", optional: true, unsigned: &s.Producers},
		{name: "delivered", optional: true, unsigned: &s.Delivered},
	}
}

func (c column) len() int {
	if c.signed != nil {
		return len(*c.signed)
	}
	return len(*c.unsigned)
}

// value returns bucket i of a dense series, as a row's value.
func (c column) value(i int) int64 {
	if c.signed != nil {
		return (*c.signed)[i]
	}
	return int64((*c.unsigned)[i])
}

// setDense stores a row's value v in bucket i of a dense series.
func (c column) setDense(i int, v int64) {
	if c.signed != nil {
		(*c.signed)[i] = v
	} else {
		(*c.unsigned)[i] = uint64(v)
	}
}

func (c column) zero(i int) bool {
	if c.signed != nil {
		return (*c.signed)[i] == 0
	}
	return (*c.unsigned)[i] == 0
}

// present returns the columns the file carries: every required one, and
// the optional ones as long as arrivals (Validate rejects other lengths).
func (t *Timeline) present() []column {
	_, cols := t.presentIndexed()
	return cols
}

// presentIndexed is present with each column's place in columns.
func (t *Timeline) presentIndexed() ([]int, []column) {
	var at []int
	var out []column
	n := t.Len()
	for k, c := range t.columns() {
		if !c.optional || (t.seriesLen(k) == n && n > 0) {
			at = append(at, k)
			out = append(out, c)
		}
	}
	return at, out
}

// MarshalJSON writes schema 2's sparse form:
//
//	{"bucket_ns": ..., "start_ns": ..., "buckets": N,
//	 "columns": ["arrivals", ...],
//	 "rows": [[skip, v1, v2, ...], ...], "missed_buckets": ...}
//
// A row is one bucket where some column is not zero: skip is the number of
// all-zero buckets between it and the previous row (the first row: since
// bucket 0), then one value per column, in the order of "columns". The
// buckets after the last row are zero up to "buckets".
func (t Timeline) MarshalJSON() ([]byte, error) {
	if t.placeholder {
		return []byte(timelinePlaceholder), nil
	}
	return t.appendJSON(nil, "")
}

// appendJSON appends the sparse form, one row per line, each line after
// the first starting with indent (Profile.Encode's nesting).
func (t *Timeline) appendJSON(b []byte, indent string) ([]byte, error) {
	return t.encodeJSON(b, indent, nil)
}

// encodeChunk is how much of the rows encodeJSON gathers before it
// writes them: a day's busy rows are tens of MB of JSON, which the
// profile's writer need not hold at once (issue 14).
const encodeChunk = 256 << 10

// encodeJSON is appendJSON that, with w not nil, writes what it appended
// to w whenever it passes encodeChunk and returns the rest, for the
// caller to write: the output is the same bytes either way.
func (t *Timeline) encodeJSON(b []byte, indent string, w io.Writer) ([]byte, error) {
	at, cols, zeros, err := t.writtenColumns()
	if err != nil {
		return nil, err
	}
	nl := func(b []byte, extra string) []byte {
		if indent == "" && extra == "" {
			return b
		}
		b = append(b, '\n')
		b = append(b, indent...)
		return append(b, extra...)
	}
	b = append(b, '{')
	b = nl(b, "  ")
	b = append(b, `"bucket_ns": `...)
	b = strconv.AppendInt(b, t.BucketNs, 10)
	b = append(b, ',')
	b = nl(b, "  ")
	b = append(b, `"start_ns": `...)
	b = strconv.AppendInt(b, t.StartNs, 10)
	b = append(b, ',')
	b = nl(b, "  ")
	b = append(b, `"buckets": `...)
	b = strconv.AppendInt(b, int64(t.Len()), 10)
	b = append(b, ',')
	b = nl(b, "  ")
	b = append(b, `"columns": [`...)
	for k, c := range cols {
		if k > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendQuote(b, c.name)
	}
	b = append(b, "],"...)
	if len(zeros) > 0 {
		b = nl(b, "  ")
		b = append(b, `"zero_columns": [`...)
		for k, name := range zeros {
			if k > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendQuote(b, name)
		}
		b = append(b, "],"...)
	}
	b = nl(b, "  ")
	b = append(b, `"rows": [`...)
	text := newRowText(at, cols)
	if e := t.encoded; e != nil && w != nil && slices.Equal(e.at, at) {
		// A checkpoint's rows, encoded by the checkpoints before it
		// (JournalFollower): copied, not encoded again.
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		b = b[:0]
		if err := e.copyTo(w); err != nil {
			return nil, err
		}
		text.rows = e.rows
	} else {
		for r, err := range t.All() {
			if err != nil {
				return nil, err
			}
			b = text.append(b, r)
			if w != nil && len(b) >= encodeChunk {
				if _, err := w.Write(b); err != nil {
					return nil, err
				}
				b = b[:0]
			}
		}
	}
	if text.rows > 0 {
		b = append(b, '\n')
		b = append(b, indent...)
		b = append(b, "  "...)
	}
	b = append(b, "],"...)
	b = nl(b, "  ")
	b = append(b, `"missed_buckets": `...)
	b = strconv.AppendUint(b, t.MissedBuckets, 10)
	b = nl(b, "")
	return append(b, '}'), nil
}

// writtenColumns are the columns the timeline's rows are written with
// (at: their places in columns), and the names of those it carries that
// are zero in every bucket (zero_columns).
func (t *Timeline) writtenColumns() (at []int, cols []column, zeros []string, err error) {
	at, cols = t.presentIndexed()
	for j, c := range cols {
		if l := t.seriesLen(at[j]); l != t.Len() {
			return nil, nil, nil, fmt.Errorf("encoding timeline: %s has %d buckets, arrivals %d", c.name, l, t.Len())
		}
	}
	// A series that is zero in every bucket is named in zero_columns and
	// left out of the rows: on a day without losses or waits four of the
	// eleven values of every busy bucket (issue 14: the profile's size).
	nonzero := t.nonzeroSeries()
	written, wcols := at[:0:0], cols[:0:0]
	for j, k := range at {
		if k == 0 || nonzero[k] { // arrivals always: Len is its length
			written, wcols = append(written, k), append(wcols, cols[j])
		} else {
			zeros = append(zeros, cols[j].name)
		}
	}
	return written, wcols, zeros, nil
}

// rowText appends rows as a timeline's JSON has them (encodeJSON), one
// after the other: what a row is written as depends on the row before
// (its skip, its comma), which rowText keeps.
type rowText struct {
	at     []int  // the written columns' places in columns
	signed []bool // whether the column at the same index of at is signed
	rows   int    // rows appended
	next   int64  // the bucket after the last row appended
}

func newRowText(at []int, cols []column) rowText {
	signed := make([]bool, len(cols))
	for j, c := range cols {
		signed[j] = c.signed != nil
	}
	return rowText{at: at, signed: signed}
}

// append appends r's text to b, unless every written column is zero
// there.
func (x *rowText) append(b []byte, r *Bucket) []byte {
	v := r.values()
	empty := true
	for _, k := range x.at {
		if v[k] != 0 {
			empty = false
			break
		}
	}
	if empty {
		return b
	}
	if x.rows > 0 {
		b = append(b, ',')
	}
	x.rows++
	// One row a line, not indented: the indent would be a sixth of a
	// busy day's file.
	b = append(b, '\n', '[')
	b = strconv.AppendInt(b, r.Index-x.next, 10)
	for j, k := range x.at {
		b = append(b, ',')
		if x.signed[j] {
			b = strconv.AppendInt(b, v[k], 10)
		} else {
			b = strconv.AppendUint(b, uint64(v[k]), 10)
		}
	}
	b = append(b, ']')
	x.next = r.Index + 1
	return b
}

// nonzeroSeries says, for each series in the order of columns, whether
// it is other than 0 in some bucket: from the series of a dense
// timeline, the rows of a sparse one, and what a journal's first read
// found (OpenJournalTimeline), without reading its file again.
func (t *Timeline) nonzeroSeries() [seriesCount]bool {
	var nz [seriesCount]bool
	switch {
	case t.file != nil:
		return t.file.nonzero
	case t.sparse:
		for i := range t.rows {
			for k, v := range t.rows[i].values() {
				nz[k] = nz[k] || v != 0
			}
		}
	default:
		for k, c := range t.columns() {
			for i := range c.len() {
				if !c.zero(i) {
					nz[k] = true
					break
				}
			}
		}
	}
	return nz
}

// timelineFile is what a timeline object may hold: schema 1's dense arrays
// (Series) or schema 2's rows.
type timelineFile struct {
	BucketNs      int64  `json:"bucket_ns"`
	StartNs       int64  `json:"start_ns"`
	MissedBuckets uint64 `json:"missed_buckets"`
	Series
	Buckets     *int            `json:"buckets"`
	Columns     []string        `json:"columns"`
	ZeroColumns []string        `json:"zero_columns"`
	Rows        json.RawMessage `json:"rows"`
}

// maxBuckets bounds a file's "buckets", so that a damaged file cannot make
// the reader allocate without end: 2^25, 3.9 days of 10 ms buckets, 2.9 GB
// of dense series in memory.
const maxBuckets = 1 << 25

// UnmarshalJSON reads either form: rows (schema 2) when the object has
// "columns", else the dense arrays of schema 1. Columns this build does
// not know are skipped.
func (t *Timeline) UnmarshalJSON(data []byte) error {
	var f timelineFile
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	if f.Columns == nil {
		*t = Timeline{BucketNs: f.BucketNs, StartNs: f.StartNs, MissedBuckets: f.MissedBuckets, dense: f.Series}
		return nil
	}
	*t = Timeline{BucketNs: f.BucketNs, StartNs: f.StartNs, MissedBuckets: f.MissedBuckets}
	if f.Buckets == nil {
		return errors.New("timeline has columns but no buckets")
	}
	n := *f.Buckets
	if n < 0 || n > maxBuckets {
		return fmt.Errorf("timeline.buckets is %d: this auditprof reads at most %d (3.9 days of 10 ms buckets)", n, maxBuckets)
	}
	places, err := t.beginSparse(f.Columns, n)
	if err != nil {
		return fmt.Errorf("timeline.%w", err)
	}
	if err := t.carryZero(f.Columns, f.ZeroColumns); err != nil {
		return fmt.Errorf("timeline.%w", err)
	}
	// Every '[' but the outer one opens a row (the values are integers):
	// the rows' room at once, where appending would copy a day's rows
	// over and over.
	t.rows = make([]Bucket, 0, min(max(bytes.Count(f.Rows, []byte{'['})-1, 0), n))
	var row Bucket
	return parseRows(f.Rows, n, len(places), func(bucket, k int, v int64) error {
		if k == 0 {
			row = Bucket{Index: int64(bucket)}
		}
		if err := t.setPlace(&row, places[k], v); err != nil {
			return err
		}
		if k == len(places)-1 {
			t.addRow(row)
		}
		return nil
	})
}

// beginSparse makes t an empty sparse timeline of n buckets carrying the
// series of a file's columns it knows, and returns where a row's values
// go: places[k] is the place in names of columns[k], -1 for a name this
// build does not know (skipped).
func (t *Timeline) beginSparse(columns []string, n int) ([]int, error) {
	t.sparse, t.buckets, t.rows = true, n, nil
	places := make([]int, len(columns))
	seen := map[string]bool{}
	for j, name := range columns {
		if seen[name] {
			return nil, fmt.Errorf("columns names %q twice", name)
		}
		seen[name] = true
		places[j] = slices.Index(names, name)
		if places[j] >= 0 {
			t.has[places[j]] = true
		}
	}
	return places, nil
}

// carryZero marks the series of zero, a file's zero_columns (schema 3),
// as carried by t and zero in every bucket; a name this build does not
// know is skipped, one also in columns is an error.
func (t *Timeline) carryZero(columns, zero []string) error {
	for _, name := range zero {
		if slices.Contains(columns, name) {
			return fmt.Errorf("zero_columns names %q, which columns names too", name)
		}
		if k := slices.Index(names, name); k > 0 {
			t.has[k] = true
		} else if k == 0 {
			return errors.New("zero_columns names arrivals, which every timeline writes")
		}
	}
	return nil
}

// setPlace stores v, a row's value for the series at place k in columns
// (-1: one this build skips), in b; counts cannot be negative.
func (t *Timeline) setPlace(b *Bucket, k int, v int64) error {
	if k < 0 {
		return nil
	}
	// Only arrivals (place 0) is signed. No columns table here: this runs
	// for every value of a day's rows.
	if k > 0 && v < 0 {
		return fmt.Errorf("%s is %d", names[k], v)
	}
	b.set(k, v)
	return nil
}

// addRow appends b to a sparse timeline's rows unless every series it
// carries is zero there (a file may write such a row, or values only in
// columns this build skips).
func (t *Timeline) addRow(b Bucket) {
	if t.carries(b) {
		t.rows = append(t.rows, b)
	}
}

// carries says whether some series a sparse timeline carries is not zero
// in b: whether b is one of its rows.
func (t *Timeline) carries(b Bucket) bool {
	v := b.values()
	for k := range v {
		if t.has[k] && v[k] != 0 {
			return true
		}
	}
	return false
}

// set stores v, a row's value, in the series at place k in columns.
func (b *Bucket) set(k int, v int64) {
	switch k {
	case 0:
		b.Arrivals = v
	default:
		*[...]*uint64{nil, &b.Events, &b.LostEvents, &b.Queued, &b.Lost, &b.Drained,
			&b.MaxDepth, &b.Waits, &b.WaitNs, &b.Producers, &b.Delivered}[k] = uint64(v)
	}
}

// parseRows reads schema 2's rows ([[skip, v...], ...]) of width values,
// by hand (a day of 10 ms buckets is millions of small arrays, which
// encoding/json would decode an interface at a time), handing value k of
// each row, in order, to set with the row's bucket.
func parseRows(data []byte, n, width int, set func(bucket, k int, v int64) error) error {
	p := rowParser{data: data}
	if len(bytes.TrimSpace(data)) == 0 || string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	if err := p.expect('['); err != nil {
		return err
	}
	bucket := 0
	for row := 0; ; row++ {
		p.space()
		if p.peek() == ']' && row == 0 {
			p.i++
			break
		}
		if err := p.expect('['); err != nil {
			return err
		}
		skip, err := p.int()
		if err != nil {
			return fmt.Errorf("timeline row %d: %w", row, err)
		}
		if skip < 0 {
			return fmt.Errorf("timeline row %d: skip %d is negative", row, skip)
		}
		if skip >= int64(n-bucket) {
			return fmt.Errorf("timeline row %d: bucket %d+%d is past the %d buckets", row, bucket, skip, n)
		}
		bucket += int(skip)
		for k := range width {
			if err := p.expect(','); err != nil {
				return fmt.Errorf("timeline row %d: %d values, want %d: %w", row, k, width, err)
			}
			v, err := p.int()
			if err != nil {
				return fmt.Errorf("timeline row %d: %w", row, err)
			}
			if err := set(bucket, k, v); err != nil {
				return fmt.Errorf("timeline row %d: %w", row, err)
			}
		}
		if err := p.expect(']'); err != nil {
			return fmt.Errorf("timeline row %d: more values than columns: %w", row, err)
		}
		bucket++
		p.space()
		if p.peek() == ',' {
			p.i++
			continue
		}
		if err := p.expect(']'); err != nil {
			return fmt.Errorf("timeline rows: %w", err)
		}
		break
	}
	p.space()
	if p.i != len(p.data) {
		return fmt.Errorf("timeline rows: unexpected %q after the last row", p.data[p.i:min(len(p.data), p.i+10)])
	}
	return nil
}

type rowParser struct {
	data []byte
	i    int
}

func (p *rowParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *rowParser) peek() byte {
	if p.i < len(p.data) {
		return p.data[p.i]
	}
	return 0
}

func (p *rowParser) expect(c byte) error {
	p.space()
	if p.peek() != c {
		if p.i >= len(p.data) {
			return fmt.Errorf("want %q, found the end", c)
		}
		return fmt.Errorf("want %q at offset %d, found %q", c, p.i, p.data[p.i])
	}
	p.i++
	return nil
}

// int reads one JSON integer (no fraction or exponent: every value is a
// count or nanoseconds).
func (p *rowParser) int() (int64, error) {
	p.space()
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	digits := p.i
	var v int64
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		v = v*10 + int64(p.data[p.i]-'0')
		p.i++
	}
	// Up to 18 digits cannot overflow: the common case, by hand (every
	// value of a day's rows, read on each pass over a journal's rows);
	// strconv for the rest and for its errors.
	if n := p.i - digits; n > 0 && n <= 18 {
		if p.data[start] == '-' {
			v = -v
		}
		return v, nil
	}
	v, err := strconv.ParseInt(string(p.data[start:p.i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading an integer at offset %d: %w", start, err)
	}
	return v, nil
}

// Carries reports whether the timeline has the series of the given name
// (as the file's columns name them) for every bucket: an optional series
// may be absent. It answers in either form, so that a consumer that reads
// the rows need not densify to ask (Dense).
func (t *Timeline) Carries(name string) bool {
	for k, c := range t.columns() {
		if c.name == name {
			return t.seriesLen(k) == t.Len()
		}
	}
	return false
}
