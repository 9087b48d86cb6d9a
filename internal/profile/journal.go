package profile

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// The journal is where record writes the timeline as it reads it, one
// line per bucket where something happened, so that a recording killed
// at hour 23 keeps its first 23 hours, and so that record holds no bucket
// in memory while it counts (issue 14: memory flat in the duration). It
// is JSON lines:
//
//	{"journal": 2, "profile": {...}, "timeline": {"bucket_ns": ..., "start_ns": ..., "columns": [...]}}
//	[skip, v1, v2, ...]
//	{"end": N}
//	{"setting": {...}}
//
// The first line is the profile as known when counting began (kernel,
// HZ, the audit status before, the attach mode; no totals) and the
// timeline's frame. A row is schema 2's row (see Timeline.MarshalJSON)
// with every column of JournalColumns. An end line says that N buckets
// had been read by then (the ones after the last row were empty);
// record writes one at most every JournalMarkEvery and one when it stops.
// A setting line is a change of an audit setting (SettingChange, issue
// 20), written with the next flush after record saw it; it does not move
// the bucket count. A last line cut short (the process killed mid-write)
// is ignored.
//
// Decode reads a journal as a profile (see ReadJournal): the tools read
// what a killed recording left.

// JournalVersion is the journal's "journal" value. Version 2 added the
// setting lines, which a reader of version 1 would refuse.
const JournalVersion = 2

// oldestJournalVersion is the oldest journal this build reads.
const oldestJournalVersion = 1

// JournalMarkEvery is how often, at most, the journal says how far it was
// read: a recording killed in a quiet stretch keeps it to within this
// (and the poll's lag). Once a second, a quiet day's end lines take about
// a megabyte, in a file removed at the stop.
const JournalMarkEvery = time.Second

// JournalColumns are the columns of a journal's rows, in order: every
// series, so that a row can be written before it is known which optional
// series the recording has (ReadJournal drops the ones that stayed zero).
var JournalColumns = names

// names are the series' names in the order of columns.
var names = func() []string {
	var names []string
	for _, c := range (&Timeline{}).columns() {
		names = append(names, c.name)
	}
	return names
}()

// Bucket is one timeline bucket, what a journal row holds: Index counts
// buckets from the timeline's first.
type Bucket struct {
	Index                            int64
	Arrivals                         int64
	Events, LostEvents, Queued, Lost uint64
	Drained, MaxDepth, Waits, WaitNs uint64
	Producers, Delivered             uint64
}

// SetBucket puts b's values in bucket b.Index of every series that is
// there (a nil optional series is left nil). It writes the dense form, the
// builders' (a timeline that was read is densified first: Dense).
func (t *Timeline) SetBucket(b Bucket) {
	i := b.Index
	d := t.Dense()
	d.Arrivals[i] = b.Arrivals
	for _, s := range []struct {
		series []uint64
		v      uint64
	}{{d.Events, b.Events}, {d.LostEvents, b.LostEvents}, {d.Queued, b.Queued}, {d.Lost, b.Lost},
		{d.Drained, b.Drained}, {d.MaxDepth, b.MaxDepth}, {d.Waits, b.Waits}, {d.WaitNs, b.WaitNs},
		{d.Producers, b.Producers}, {d.Delivered, b.Delivered}} {
		if s.series != nil {
			s.series[i] = s.v
		}
	}
}

// values returns b's values in the order of JournalColumns.
func (b *Bucket) values() [11]int64 {
	return [11]int64{b.Arrivals, int64(b.Events), int64(b.LostEvents), int64(b.Queued), int64(b.Lost),
		int64(b.Drained), int64(b.MaxDepth), int64(b.Waits), int64(b.WaitNs), int64(b.Producers), int64(b.Delivered)}
}

type journalHeader struct {
	Journal  int             `json:"journal"`
	Profile  json.RawMessage `json:"profile"`
	Timeline journalFrame    `json:"timeline"`
}

type journalFrame struct {
	BucketNs int64    `json:"bucket_ns"`
	StartNs  int64    `json:"start_ns"`
	Columns  []string `json:"columns"`
}

// Journal writes a journal file. Rows collect in a buffer that Flush
// hands to a goroutine of its own, which writes it: record flushes once a
// poll, and its polls run on a real-time thread that must not wait for a
// disk (the one auditd may be saturating). A write that fails (a full
// filesystem) keeps what it could not write in memory, in order, and the
// writer tries it again with each flush: the file is always the first
// bytes of the journal, and a filesystem that gets room again gets the
// rest. Flush says so (*JournalBehindError) until it caught up; past
// JournalBehindMax bytes held the journal fails for good.
type Journal struct {
	path     string
	f        journalFile
	buf      []byte
	out      chan journalChunk
	errc     chan error    // the writer's errors: *JournalBehindError, or the last
	finished chan struct{} // closed when the writer returns
	failed   error
	lastErr  error        // the last write error errc gave
	pending  atomic.Int64 // bytes the writer holds, not written
	handed   int64        // bytes handed to the writer, the first line's too
	// Once the writer returned: the bytes on file, those it could not
	// write and why, or why it gave up.
	written  int64
	tail     []byte
	tailErr  error
	dead     error
	next     int64 // the bucket after the last row or end line written
	marked   int64 // the last end line's N
	markGap  int64 // buckets between end lines while quiet
	bucketNs int64
	closed   bool
}

// journalFile is the journal's file as the writer uses it: an *os.File,
// one that fails writes in the tests.
type journalFile interface {
	io.Writer
	Sync() error
	Close() error
}

// journalBacklog is how many flushes may wait for the writer before Flush
// waits too: a disk stalled for that many seconds.
const journalBacklog = 1024

// JournalBehindMax is how much a journal holds in memory that it could
// not write before it gives up: record's memory stays bounded (issue 14)
// on a filesystem that stays full. Rows of a busy 10 ms timeline take
// about 14 MB an hour.
const JournalBehindMax = 64 << 20

// JournalBehindError says the journal's file is behind: Pending bytes
// could not be written (Err, the last write's error) and are held in
// memory, tried again at each flush.
type JournalBehindError struct {
	Pending int
	Err     error
}

func (e *JournalBehindError) Error() string {
	return fmt.Sprintf("writing journal: %v (%d bytes held in memory, written once there is room)", e.Err, e.Pending)
}

func (e *JournalBehindError) Unwrap() error { return e.Err }

// CreateJournal creates a journal at path, which must not exist (the
// journal of an earlier recording is kept, never overwritten), and
// writes its first line: head (its timeline is not written) and the
// timeline's frame.
func CreateJournal(path string, head *Profile, bucketNs, startNs int64) (*Journal, error) {
	if bucketNs <= 0 {
		return nil, fmt.Errorf("creating journal: bucket_ns is %d", bucketNs)
	}
	cp := *head
	cp.Timeline = Timeline{}
	prof, err := json.Marshal(&cp)
	if err != nil {
		return nil, fmt.Errorf("creating journal: %w", err)
	}
	line, err := json.Marshal(journalHeader{Journal: JournalVersion, Profile: prof,
		Timeline: journalFrame{BucketNs: bucketNs, StartNs: startNs, Columns: JournalColumns}})
	if err != nil {
		return nil, fmt.Errorf("creating journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating journal: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("creating journal: %w", err)
	}
	j := &Journal{path: path, f: f, out: make(chan journalChunk, journalBacklog), errc: make(chan error, 1),
		finished: make(chan struct{}), handed: int64(len(line) + 1), written: int64(len(line) + 1),
		bucketNs: bucketNs, markGap: max(1, int64(JournalMarkEvery)/bucketNs)}
	go j.write()
	return j, nil
}

// journalChunk is what Flush hands the writer: bytes to write, or a
// barrier (done), answered once everything handed before it is written,
// or with why not.
type journalChunk struct {
	b    []byte
	done chan error
}

// write writes what Flush hands over, in order, until out is closed. What
// a write leaves is tried again before the next chunk; past
// JournalBehindMax it gives up, and writes nothing more. The last error
// it saw waits in errc (the one before replaced).
func (j *Journal) write() {
	defer close(j.finished)
	var (
		pending []byte
		err     error // the last write's
		dead    error // given up
	)
	report := func(e error) {
		select {
		case <-j.errc:
		default:
		}
		j.errc <- e
	}
	try := func() {
		n, werr := j.f.Write(pending)
		j.written += int64(n)
		pending = pending[n:]
		err = werr
		if len(pending) == 0 {
			pending, err = nil, nil
		}
		j.pending.Store(int64(len(pending)))
		switch {
		case err == nil:
		case len(pending) > JournalBehindMax:
			dead = fmt.Errorf("writing journal: %w (more than %d MiB it could not write)", err, JournalBehindMax>>20)
			report(dead)
		default:
			report(&JournalBehindError{Pending: len(pending), Err: err})
		}
	}
	for c := range j.out {
		switch {
		case dead != nil:
			if c.done != nil {
				c.done <- dead
			}
		case c.done != nil:
			if len(pending) > 0 {
				try()
			}
			if len(pending) > 0 {
				c.done <- &JournalBehindError{Pending: len(pending), Err: err}
			} else {
				c.done <- nil
			}
		default:
			pending = append(pending, c.b...)
			try()
		}
	}
	if dead == nil && len(pending) > 0 {
		try()
	}
	if dead == nil {
		j.tail, j.tailErr = pending, err
	}
	j.dead = dead
}

// hand gives the buffer to the writer.
func (j *Journal) hand() {
	if len(j.buf) > 0 {
		j.out <- journalChunk{b: j.buf}
		j.handed += int64(len(j.buf))
		j.buf = nil
	}
}

// Written is Flush with an end line for read whatever the last one's:
// it returns the journal's size with what it handed over, and wait, which
// returns once the writer has written all of it, or with why not. A
// checkpoint reads the journal up to size (JournalFollower.Next), read
// buckets, while record appends on. Its error is Flush's: with a
// *JournalBehindError, size and wait are given too.
func (j *Journal) Written(read int64) (size int64, wait func() error, err error) {
	if read >= j.next {
		j.mark(read)
	}
	err = j.Flush(read)
	if _, behind := err.(*JournalBehindError); err != nil && !behind {
		return 0, nil, err
	}
	done := make(chan error, 1)
	j.out <- journalChunk{done: done}
	return j.handed, func() error { return <-done }, err
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Append adds one bucket, which must come after the last one added; an
// empty bucket is not written.
func (j *Journal) Append(b Bucket) error {
	if b.Index < j.next {
		return fmt.Errorf("writing journal: bucket %d after bucket %d", b.Index, j.next-1)
	}
	v := b.values()
	if v == ([11]int64{}) {
		return nil
	}
	j.buf = append(j.buf, '[')
	j.buf = strconv.AppendInt(j.buf, b.Index-j.next, 10)
	for _, x := range v {
		j.buf = append(j.buf, ',')
		j.buf = strconv.AppendInt(j.buf, x, 10)
	}
	j.buf = append(j.buf, "]\n"...)
	j.next = b.Index + 1
	return nil
}

// AddSetting adds a change of an audit setting, written with the next
// Flush.
func (j *Journal) AddSetting(c SettingChange) error {
	line, err := json.Marshal(settingLine{Setting: &c})
	if err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	j.buf = append(append(j.buf, line...), '\n')
	return nil
}

// settingLine is a journal's setting line.
type settingLine struct {
	Setting *SettingChange `json:"setting"`
}

// Flush hands what was added to the writer, after an end line when read
// (the buckets read so far) is JournalMarkEvery past the last one. It
// returns a *JournalBehindError while the writer holds what it could not
// write (the journal goes on), any other error once it gave up (it
// writes nothing more).
func (j *Journal) Flush(read int64) error {
	if j.failed != nil {
		return j.failed
	}
	select {
	case werr := <-j.errc:
		if b, ok := werr.(*JournalBehindError); ok {
			j.lastErr = b.Err
		} else {
			j.failed = werr
			return werr
		}
	default:
	}
	var werr error
	if n := j.pending.Load(); n > 0 {
		werr = &JournalBehindError{Pending: int(n), Err: j.lastErr}
	}
	if read-j.marked >= j.markGap && read >= j.next {
		j.mark(read)
	}
	j.hand()
	return werr
}

func (j *Journal) mark(read int64) {
	j.buf = append(j.buf, `{"end":`...)
	j.buf = strconv.AppendInt(j.buf, read, 10)
	j.buf = append(j.buf, "}\n"...)
	j.marked = read
	j.next = read
}

// Close writes the last end line (read buckets in all) and what is left,
// waits for the writer, syncs and closes the file. Closing again does
// nothing. A *JournalBehindError says what the file lacks: Timeline still
// gives the whole timeline, the rest from memory.
func (j *Journal) Close(read int64) error {
	if j.closed {
		return nil
	}
	j.closed = true
	if read >= j.next {
		j.mark(read)
	}
	j.hand()
	close(j.out)
	<-j.finished
	err := j.failed
	if err == nil {
		err = j.dead
	}
	if err == nil && len(j.tail) > 0 {
		err = &JournalBehindError{Pending: len(j.tail), Err: j.tailErr}
	}
	if err == nil {
		if err = j.f.Sync(); err != nil {
			err = fmt.Errorf("writing journal: %w", err)
		}
	}
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing journal: %w", cerr)
	}
	return err
}

// Timeline reads the timeline back from a closed journal: its file, and
// what could not be written to it from memory (Close). It fails where
// the journal gave up (it lacks rows), as Close did.
func (j *Journal) Timeline() (Timeline, error) {
	if !j.closed {
		return Timeline{}, errors.New("reading journal: not closed")
	}
	if j.dead != nil {
		return Timeline{}, j.dead
	}
	f, err := os.Open(j.path)
	if err != nil {
		return Timeline{}, fmt.Errorf("reading journal: %w", err)
	}
	t, err := openJournalTimeline(f, tailReader{f: f, size: j.written, tail: j.tail}, j.written+int64(len(j.tail)))
	if err != nil {
		f.Close()
		return Timeline{}, err
	}
	return t, nil // f is closed by Timeline.Close
}

// tailReader is a journal whose last bytes could not be written: the
// file's first size bytes, then tail.
type tailReader struct {
	f    io.ReaderAt
	size int64
	tail []byte
}

func (t tailReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < t.size {
		m := int(min(int64(len(p)), t.size-off))
		k, err := t.f.ReadAt(p[:m], off)
		n += k
		if k < m {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the file lost bytes it had
			}
			return n, err
		}
		off += int64(m)
	}
	if n == len(p) {
		return n, nil
	}
	i := off - t.size
	if i >= int64(len(t.tail)) {
		return n, io.EOF
	}
	n += copy(p[n:], t.tail[i:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// IsJournal says whether data, a file's first bytes, begin a journal.
func IsJournal(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(`{"journal"`))
}

// ReadJournal reads a journal as a profile: its first line's profile,
// with the timeline its rows make (a series none of whose values is
// non-zero is left out when optional, as record leaves it out), the
// duration those buckets span, and totals summed from the timeline: the
// journal holds no process, rule or consumer table, no lost reason and
// no audit status at the end, and a note says so. record reads its own
// journal back for the timeline when it stops.
//
// From an io.ReadSeeker (record's own file) it reads the lines twice, a
// buffer at a time, rather than the whole file into memory.
func ReadJournal(r io.Reader) (*Profile, error) {
	var first []byte
	var lines func() (lineSource, error) // the lines after the first, from the start
	if rs, ok := r.(io.ReadSeeker); ok {
		base, err := rs.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("reading journal: %w", err)
		}
		br := bufio.NewReaderSize(rs, journalReadSize)
		if first, err = br.ReadBytes('\n'); err != nil {
			if err == io.EOF {
				return nil, errors.New("reading journal: no complete first line")
			}
			return nil, fmt.Errorf("reading journal: %w", err)
		}
		start := base + int64(len(first))
		used := false
		lines = func() (lineSource, error) {
			if !used {
				used = true
				return readerLines{br}, nil
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, fmt.Errorf("reading journal: %w", err)
			}
			br.Reset(rs)
			return readerLines{br}, nil
		}
	} else {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("reading journal: %w", err)
		}
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return nil, errors.New("reading journal: no complete first line")
		}
		first = data[:nl+1]
		lines = func() (lineSource, error) { return &memLines{data[nl+1:]}, nil }
	}
	h, err := parseJournalHeader(first)
	if err != nil {
		return nil, err
	}
	var p Profile
	if err := json.Unmarshal(h.Profile, &p); err != nil {
		return nil, fmt.Errorf("reading journal's profile: %w", err)
	}

	// First the length and the rows' count, then the rows: two passes
	// over the lines.
	n, rows := int64(0), 0
	width := len(h.Timeline.Columns)
	src, err := lines()
	if err != nil {
		return nil, err
	}
	if err := journalLines(src, width, func(b int64, _ []int64) error { n = b + 1; rows++; return nil },
		func(end int64) { n = max(n, end) },
		func(c SettingChange) { p.Settings = append(p.Settings, c) }); err != nil {
		return nil, err
	}
	// In the order they were made: record writes a change when it sees
	// it, and the kernel's hook and the poll see changes at different lags.
	slices.SortStableFunc(p.Settings, func(a, b SettingChange) int { return cmp.Compare(a.MonoNs, b.MonoNs) })
	if n > maxBuckets {
		return nil, fmt.Errorf("reading journal: %d buckets, this auditprof reads at most %d (3.9 days of 10 ms buckets)", n, maxBuckets)
	}
	t := &p.Timeline
	*t = Timeline{BucketNs: h.Timeline.BucketNs, StartNs: h.Timeline.StartNs}
	places, err := t.beginSparse(h.Timeline.Columns, int(n))
	if err != nil {
		return nil, fmt.Errorf("reading journal: %w", err)
	}
	t.rows = make([]Bucket, 0, rows)
	nonzero := make([]bool, width)
	if src, err = lines(); err != nil {
		return nil, err
	}
	err = journalLines(src, width, func(b int64, v []int64) error {
		row := Bucket{Index: b}
		for k, x := range v {
			if err := t.setPlace(&row, places[k], x); err != nil {
				return fmt.Errorf("reading journal: bucket %d: %w", b, err)
			}
			nonzero[k] = nonzero[k] || x != 0
		}
		t.addRow(row)
		return nil
	}, func(int64) {}, nil)
	if err != nil {
		return nil, err
	}
	if err := t.journalColumns(places, nonzero); err != nil {
		return nil, err
	}

	p.DurationNs = n * t.BucketNs
	p.Stalls = nil
	tot := Totals{LostByReason: map[string]uint64{}}
	for _, b := range t.rows {
		tot.Records += uint64(max(b.Arrivals, 0))
		tot.Queued += b.Queued
		tot.Lost += b.Lost
		tot.Drained += b.Drained
		tot.Waits += b.Waits
		tot.WaitNs += b.WaitNs
		tot.MaxDepth = max(tot.MaxDepth, b.MaxDepth)
		if t.has[1] {
			tot.Events += b.Events
		}
		if t.has[2] {
			tot.LostEvents += b.LostEvents
		}
	}
	p.Totals = tot
	p.fromJournal = true
	p.Notes = append(p.Notes, fmt.Sprintf("read from the journal of a recording that did not finish: its first %s; totals are the timeline's sums; no process, rule, program or consumer table, no lost reasons and no audit status at the end",
		time.Duration(p.DurationNs)))
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("invalid journal: %w", err)
	}
	return &p, nil
}

// parseJournalHeader reads a journal's first line.
func parseJournalHeader(first []byte) (journalHeader, error) {
	var h journalHeader
	if err := json.Unmarshal(first, &h); err != nil {
		return h, fmt.Errorf("reading journal's first line: %w", err)
	}
	if h.Journal < oldestJournalVersion || h.Journal > JournalVersion {
		return h, fmt.Errorf("reading journal: version %d, this auditprof reads %d to %d", h.Journal, oldestJournalVersion, JournalVersion)
	}
	if h.Timeline.BucketNs <= 0 {
		return h, fmt.Errorf("reading journal: bucket_ns is %d", h.Timeline.BucketNs)
	}
	return h, nil
}

// journalColumns settles which series a journal's timeline carries, from
// which of its columns (places, as beginSparse gives them) had a value
// other than 0 (nonzero): an optional series record leaves out when it
// stayed zero is left out; a required one must be there.
func (t *Timeline) journalColumns(places []int, nonzero []bool) error {
	for j, k := range places {
		if k >= 0 && !nonzero[j] && (names[k] == "producers" || names[k] == "delivered") {
			t.has[k] = false // not counted, or nothing reached auditd: as record leaves them
		}
	}
	for k, c := range t.columns() {
		if !c.optional && !t.has[k] && t.buckets > 0 {
			return fmt.Errorf("reading journal: it has no %s column", c.name)
		}
	}
	return nil
}

// OpenJournalTimeline reads the timeline of the journal at path, as
// ReadJournal does, but does not hold its rows: it keeps the file open and
// reads them from it again for each pass over them (Timeline.All; Rows
// builds them), so that record's stop, which makes a few passes (the
// stalls, the file, --json), holds none of a day's busy buckets (issue
// 14: tens of MB for two busy hours). The file may be removed meanwhile
// (record does once the profile is saved): the open file is read until
// Close. A pass
// that fails to read it again, or finds it changed, ends with the error
// (All), and so does encoding the timeline.
func OpenJournalTimeline(path string) (Timeline, error) {
	return OpenJournalTimelineSize(path, math.MaxInt64)
}

// OpenJournalTimelineSize is OpenJournalTimeline of the journal's first
// size bytes (Journal.Written), while record appends on: what a
// checkpoint reads, the whole journal each time (JournalFollower reads
// only what is new).
func OpenJournalTimelineSize(path string, size int64) (Timeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return Timeline{}, fmt.Errorf("reading journal: %w", err)
	}
	t, err := openJournalTimeline(f, f, size)
	if err != nil {
		f.Close()
		return Timeline{}, err
	}
	return t, nil // f is closed by Timeline.Close
}

// Close closes the journal file a timeline from OpenJournalTimeline reads
// its rows from; passes over the rows after it fail. It does nothing for
// any other timeline.
func (t *Timeline) Close() error {
	if t.file == nil {
		return nil
	}
	return t.file.c.Close()
}

// openJournalTimeline reads the journal r holds, size bytes, closed by c.
func openJournalTimeline(c io.Closer, r io.ReaderAt, size int64) (Timeline, error) {
	br, h, head, err := readJournalHeader(r, size)
	if err != nil {
		return Timeline{}, err
	}
	t := Timeline{BucketNs: h.Timeline.BucketNs, StartNs: h.Timeline.StartNs}
	places, err := t.beginSparse(h.Timeline.Columns, 0)
	if err != nil {
		return Timeline{}, fmt.Errorf("reading journal: %w", err)
	}
	// One pass: the length, the columns that are not all zero, and every
	// value checked as ReadJournal checks it.
	width := len(h.Timeline.Columns)
	nonzero := make([]bool, width)
	scan := journalFrom()
	n, rows, err := t.checkJournalRows(&scan, readerLines{br}, places, nonzero, 0)
	if err != nil {
		return Timeline{}, err
	}
	t.buckets = int(n)
	if err := t.journalColumns(places, nonzero); err != nil {
		return Timeline{}, err
	}
	t.file = &journalRows{r: r, c: c, start: head, end: size, width: width, places: places, lines: rows, from: journalFrom()}
	for j, k := range places {
		if k >= 0 && nonzero[j] {
			t.file.nonzero[k] = true
		}
	}
	return t, nil
}

// readJournalHeader reads the journal's first line, its header: it
// returns the reader positioned after it, the header and its length.
func readJournalHeader(r io.ReaderAt, size int64) (*bufio.Reader, journalHeader, int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), journalReadSize)
	first, err := br.ReadBytes('\n')
	if err != nil {
		if err == io.EOF {
			return nil, journalHeader{}, 0, errors.New("reading journal: no complete first line")
		}
		return nil, journalHeader{}, 0, fmt.Errorf("reading journal: %w", err)
	}
	h, err := parseJournalHeader(first)
	if err != nil {
		return nil, journalHeader{}, 0, err
	}
	return br, h, int64(len(first)), nil
}

// journalReadSize is the buffer a journal is read through.
const journalReadSize = 64 << 10

// journalRows is a journal's rows, left in its file (OpenJournalTimeline).
type journalRows struct {
	r      io.ReaderAt
	c      io.Closer
	start  int64 // where the lines after the first begin
	end    int64 // where they end (math.MaxInt64: the file's end)
	width  int
	places []int // beginSparse's
	lines  int   // its row lines, when first read
	// from is the scan's state at start: journalFrom() for the lines
	// after the header, where a checkpoint's new lines begin otherwise
	// (JournalFollower).
	from journalScan
	// nonzero is, by place in columns, whether the series had a value
	// other than 0 when first read (Timeline.nonzeroSeries).
	nonzero [seriesCount]bool
}

// all is Timeline.All for t, whose rows j holds: it reads them from the
// file and yields each of t's, as addRow keeps them, in order, until the
// loop breaks; a failure to read them, or a file that changed since it
// was first read, ends the pass with (nil, err).
func (j *journalRows) all(t *Timeline, yield func(*Bucket, error) bool) {
	br := bufio.NewReaderSize(io.NewSectionReader(j.r, j.start, j.end-j.start), journalReadSize)
	var row Bucket // one, refilled: the loop does not keep it
	lines := 0
	scan := j.from
	err := scan.lines(readerLines{br}, j.width, func(b int64, v []int64) error {
		lines++
		row = Bucket{Index: b}
		for k, x := range v {
			if err := t.setPlace(&row, j.places[k], x); err != nil {
				return fmt.Errorf("reading journal: bucket %d: %w", b, err)
			}
		}
		if b >= int64(t.buckets) {
			return fmt.Errorf("reading journal again: bucket %d, past the %d buckets it had", b, t.buckets)
		}
		if t.carries(row) && !yield(&row, nil) {
			return errBreak
		}
		return nil
	}, func(int64) {}, nil)
	if err == errBreak {
		return
	}
	if err == nil && lines != j.lines {
		err = fmt.Errorf("%d rows, %d when first read: the file changed", lines, j.lines)
	}
	if err != nil {
		yield(nil, fmt.Errorf("reading the journal again: %w", err))
	}
}

// errBreak ends journalLines where a loop over a journal's rows broke.
var errBreak = errors.New("the loop broke")

// lineSource gives a journal's lines after the first, one at a time,
// without their newline; io.EOF after the last whole line (a last line
// without its newline was cut short by a kill, and is not given).
type lineSource interface {
	next() ([]byte, error)
}

type memLines struct{ rest []byte }

func (m *memLines) next() ([]byte, error) {
	nl := bytes.IndexByte(m.rest, '\n')
	if nl < 0 {
		return nil, io.EOF
	}
	l := m.rest[:nl]
	m.rest = m.rest[nl+1:]
	return l, nil
}

type readerLines struct{ r *bufio.Reader }

func (r readerLines) next() ([]byte, error) {
	l, err := r.r.ReadSlice('\n')
	switch {
	case err == nil:
		return l[:len(l)-1], nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("a line longer than %d bytes", r.r.Size())
	case err == io.EOF:
		return nil, io.EOF
	}
	return nil, err
}

// endLine reads an end line as Journal.mark writes it, {"end":N}, without
// encoding/json (a busy recording has one a second, read on each pass
// over a journal's rows); ok is false for any other form, which
// encoding/json then reads.
func endLine(l []byte) (int64, bool) {
	const prefix = `{"end":`
	if !bytes.HasPrefix(l, []byte(prefix)) || l[len(l)-1] != '}' {
		return 0, false
	}
	digits := l[len(prefix) : len(l)-1]
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// journalLines calls row for each row (its bucket and values), end for
// each end line and, when not nil, setting for each setting line of src.
// checkJournalRows reads the rows scan finds in src, checking every value
// as ReadJournal checks it (places: each column's place in a Bucket), and
// marks in nonzero the columns that hold one not zero. n is the bucket
// count before these rows; it returns the count after them and the rows
// read. openJournalTimeline checks a whole journal so, and a
// JournalFollower what a journal gained since its last step.
func (t *Timeline) checkJournalRows(scan *journalScan, src lineSource, places []int, nonzero []bool, n int64) (int64, int, error) {
	var row Bucket
	rows := 0
	err := scan.lines(src, len(places), func(b int64, v []int64) error {
		n = b + 1
		rows++
		for k, x := range v {
			if err := t.setPlace(&row, places[k], x); err != nil {
				return fmt.Errorf("reading journal: bucket %d: %w", b, err)
			}
			nonzero[k] = nonzero[k] || x != 0
		}
		return nil
	}, func(end int64) { n = max(n, end) }, nil)
	if err != nil {
		return 0, 0, err
	}
	if n > maxBuckets {
		return 0, 0, fmt.Errorf("reading journal: %d buckets, this auditprof reads at most %d (3.9 days of 10 ms buckets)", n, maxBuckets)
	}
	return n, rows, nil
}

func journalLines(src lineSource, width int, row func(int64, []int64) error, end func(int64), setting func(SettingChange)) error {
	s := journalFrom()
	return s.lines(src, width, row, end, setting)
}

// journalScan is where journalLines is in a journal: the bucket of the
// next row before its skip, and the next line's number (the header is
// line 1). A scan resumes from a state it left (JournalFollower).
type journalScan struct {
	bucket int64
	line   int
}

// journalFrom is the scan's state at the line after the header.
func journalFrom() journalScan { return journalScan{line: 2} }

// lines is journalLines from s, which it moves past each whole line it
// reads: on an error, s is where that line began.
func (s *journalScan) lines(src lineSource, width int, row func(int64, []int64) error, end func(int64), setting func(SettingChange)) error {
	v := make([]int64, width)
	for ; ; s.line++ {
		line, bucket := s.line, s.bucket
		raw, err := src.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading journal line %d: %w", line, err)
		}
		l := bytes.TrimSpace(raw)
		switch {
		case len(l) == 0:
		case l[0] == '[':
			p := rowParser{data: l}
			p.i = 1
			skip, err := p.int()
			if err != nil {
				return fmt.Errorf("reading journal line %d: %w", line, err)
			}
			if skip < 0 || skip > maxBuckets {
				return fmt.Errorf("reading journal line %d: skip %d", line, skip)
			}
			bucket += skip
			if bucket >= maxBuckets {
				return fmt.Errorf("reading journal line %d: bucket %d, this auditprof reads at most %d", line, bucket, maxBuckets)
			}
			for k := range v {
				if err := p.expect(','); err != nil {
					return fmt.Errorf("reading journal line %d: %d values, want %d: %w", line, k, width, err)
				}
				if v[k], err = p.int(); err != nil {
					return fmt.Errorf("reading journal line %d: %w", line, err)
				}
			}
			if err := p.expect(']'); err != nil {
				return fmt.Errorf("reading journal line %d: more values than columns: %w", line, err)
			}
			if p.space(); p.i != len(l) {
				return fmt.Errorf("reading journal line %d: unexpected %q after the row", line, l[p.i:])
			}
			if err := row(bucket, v); err != nil {
				return err
			}
			s.bucket = bucket + 1
		case bytes.HasPrefix(l, []byte(`{"setting":`)):
			if setting == nil {
				continue // a pass over the rows: read once, by ReadJournal
			}
			var m settingLine
			if err := json.Unmarshal(l, &m); err != nil || m.Setting == nil {
				return fmt.Errorf("reading journal line %d: a setting line that does not read: %v", line, err)
			}
			setting(*m.Setting)
		case l[0] == '{':
			var m struct {
				End *int64 `json:"end"`
			}
			if v, ok := endLine(l); ok {
				m.End = &v
			} else if err := json.Unmarshal(l, &m); err != nil || m.End == nil {
				return fmt.Errorf("reading journal line %d: want {\"end\": N}, {\"setting\": ...} or a row", line)
			}
			if *m.End < bucket || *m.End > maxBuckets {
				return fmt.Errorf("reading journal line %d: end %d, but bucket %d was written", line, *m.End, bucket-1)
			}
			end(*m.End)
			s.bucket = *m.End
		default:
			return fmt.Errorf("reading journal line %d: want a row or {\"end\": N}", line)
		}
	}
}
