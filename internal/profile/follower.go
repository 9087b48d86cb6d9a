package profile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
)

// JournalFollower reads a journal that record is still writing, one
// checkpoint after another (issue 14: a checkpoint's cost must not grow
// with the recording). The journal only grows, so what one checkpoint
// checked is not read again by the next: the follower keeps where its
// check ended (at a whole line: a last line without its newline is read
// again next time) and what the lines before hold (the bucket count, the
// rows, which columns are not all zero). It keeps the rows' text as
// the profile writes them (encodeJSON) in a file of its own, JournalRowsPath
// of the journal, and appends the new rows' text to it: the checkpoint's
// timeline (Next) is written as that file's bytes (io.Copy, which between
// two files is copy_file_range: no user-space CPU), not encoded again.
// The text depends on the columns written (a series all zero so far is
// left out of the rows): when they change (a series first not zero,
// delivered once auditd registers), the file is written again from the
// journal's rows, once.
//
// Its memory is a few counters: the rows are in the two files.
// It is for one goroutine at a time.
type JournalFollower struct {
	path string
	// started: the header was read, and the fields below it are set.
	started bool
	head    int64 // the header line's length
	frame   journalFrame
	// The checked prefix: where it ends (a line's start), the scan's
	// state there, the buckets (n) and row lines it holds, and which of
	// its columns have a value other than 0.
	off     int64
	scan    journalScan
	n       int64
	lines   int
	nonzero []bool
	// The rows' text: its file, its length, the columns it is written
	// with (nil until written) and what the timeline carried then, and
	// the text's state after the last row (rowText).
	rows     *os.File
	rowsSize int64
	rowsHas  [seriesCount]bool
	text     rowText
	written  bool
}

// JournalRowsPath is the file where a JournalFollower of the journal at
// path keeps its rows' text: record's <output>.partial.rows. It is a
// cache of what the journal holds, removed when the recording ends; one a
// killed recorder left is overwritten by the next.
func JournalRowsPath(path string) string { return path + ".rows" }

// NewJournalFollower follows the journal at path; nothing is read or
// created before Next.
func NewJournalFollower(path string) *JournalFollower {
	return &JournalFollower{path: path}
}

// JournalStep is a checkpoint's view of the journal (JournalFollower.Next).
type JournalStep struct {
	// Timeline is the timeline of the journal's first bytes, as
	// OpenJournalTimelineSize reads it, whose rows encode as the
	// follower's file holds them. The caller closes it.
	Timeline Timeline
	// Added yields the rows after those of the step before, as
	// Timeline.All yields them; a pass fails as All's does.
	Added iter.Seq2[*Bucket, error]
	// Restarted says that what the steps before gave may not hold for
	// this one: the first step, the first after a failed one, and one
	// where the series the timeline carries or writes changed. A
	// consumer that resumes from the step before starts over from
	// Timeline.All.
	Restarted bool
}

// Next reads the journal's first size bytes (Journal.Written), of which
// it checks only those after what the step before checked, and returns
// the timeline they hold. A failure leaves the follower to start over
// at the next.
func (f *JournalFollower) Next(size int64) (JournalStep, error) {
	jf, err := os.Open(f.path)
	if err != nil {
		f.reset()
		return JournalStep{}, fmt.Errorf("reading journal: %w", err)
	}
	step, err := f.next(jf, size)
	if err != nil {
		jf.Close()
		f.reset()
		return JournalStep{}, err
	}
	return step, nil // jf is closed by the timeline's Close
}

func (f *JournalFollower) next(jf *os.File, size int64) (JournalStep, error) {
	restarted := !f.started
	if !f.started {
		if err := f.start(jf, size); err != nil {
			return JournalStep{}, err
		}
	}
	t := Timeline{BucketNs: f.frame.BucketNs, StartNs: f.frame.StartNs}
	places, err := t.beginSparse(f.frame.Columns, 0)
	if err != nil {
		return JournalStep{}, fmt.Errorf("reading journal: %w", err)
	}
	// The new lines, checked as openJournalTimeline checks them all.
	width := len(places)
	scan := f.scan
	nonzero := slices.Clone(f.nonzero)
	src := &countedLines{src: readerLines{bufio.NewReaderSize(io.NewSectionReader(jf, f.off, max(size-f.off, 0)), journalReadSize)}}
	n, added, err := t.checkJournalRows(&scan, src, places, nonzero, f.n)
	if err != nil {
		return JournalStep{}, err
	}
	t.buckets = int(n)
	if err := t.journalColumns(places, nonzero); err != nil {
		return JournalStep{}, err
	}
	end := f.off + src.n
	t.file = &journalRows{r: jf, c: jf, start: f.head, end: end, width: width, places: places,
		lines: f.lines + added, from: journalFrom()}
	for j, k := range places {
		if k >= 0 && nonzero[j] {
			t.file.nonzero[k] = true
		}
	}
	newRows := &journalRows{r: jf, start: f.off, end: end, width: width, places: places, lines: added, from: f.scan}

	// The rows' text: appended, or written again when the columns
	// changed.
	at, cols, _, err := t.writtenColumns()
	if err != nil {
		return JournalStep{}, err
	}
	text, size0, rows := f.text, f.rowsSize, iter.Seq2[*Bucket, error](newRows.seq(t))
	if !f.written || !slices.Equal(at, f.text.at) || t.has != f.rowsHas {
		restarted = true
		text, size0, rows = newRowText(at, cols), 0, t.All()
	}
	rowsSize, err := f.appendText(&text, size0, rows)
	if err != nil {
		return JournalStep{}, err
	}
	if rowsSize < f.rowsSize {
		if err := f.rows.Truncate(rowsSize); err != nil {
			return JournalStep{}, fmt.Errorf("writing the journal's rows: %w", err)
		}
	}

	f.off, f.scan, f.n, f.lines, f.nonzero = end, scan, n, f.lines+added, nonzero
	f.text, f.rowsSize, f.rowsHas, f.written = text, rowsSize, t.has, true
	t.encoded = &encodedRows{f: f.rows, size: rowsSize, at: at, rows: text.rows}
	return JournalStep{Timeline: t, Added: newRows.seq(t), Restarted: restarted}, nil
}

// start reads the journal's header and creates the rows' file, empty.
func (f *JournalFollower) start(jf *os.File, size int64) error {
	_, h, head, err := readJournalHeader(jf, size)
	if err != nil {
		return err
	}
	rows, err := os.OpenFile(JournalRowsPath(f.path), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating the journal's rows: %w", err)
	}
	*f = JournalFollower{path: f.path, started: true, head: head, frame: h.Timeline,
		off: head, scan: journalFrom(), nonzero: make([]bool, len(h.Timeline.Columns)), rows: rows}
	return nil
}

// appendText writes the text of rows, as text goes on, to the rows' file
// from at, and returns where it ends.
func (f *JournalFollower) appendText(text *rowText, at int64, rows iter.Seq2[*Bucket, error]) (int64, error) {
	b := make([]byte, 0, encodeChunk+512)
	flush := func() error {
		if _, err := f.rows.WriteAt(b, at); err != nil {
			return fmt.Errorf("writing the journal's rows: %w", err)
		}
		at += int64(len(b))
		b = b[:0]
		return nil
	}
	for r, err := range rows {
		if err != nil {
			return 0, err
		}
		b = text.append(b, r)
		if len(b) >= encodeChunk {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return at, nil
}

// reset forgets what was checked: the next step starts over.
func (f *JournalFollower) reset() {
	if f.rows != nil {
		f.rows.Close()
	}
	*f = JournalFollower{path: f.path}
}

// Close removes the rows' file. The follower may be used again: it
// starts over.
func (f *JournalFollower) Close() error {
	if f == nil {
		return nil
	}
	f.reset()
	if err := os.Remove(JournalRowsPath(f.path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the journal's rows: %w", err)
	}
	return nil
}

// seq is all of j over t as an iterator.
func (j *journalRows) seq(t Timeline) func(yield func(*Bucket, error) bool) {
	return func(yield func(*Bucket, error) bool) { j.all(&t, yield) }
}

// countedLines counts the bytes of the whole lines src gave.
type countedLines struct {
	src lineSource
	n   int64
}

func (c *countedLines) next() ([]byte, error) {
	l, err := c.src.next()
	if err == nil {
		c.n += int64(len(l)) + 1
	}
	return l, err
}

// encodedRows is a timeline's rows as encodeJSON writes them, the first
// size bytes of f (a JournalFollower's rows file, which it writes with
// WriteAt: its offset is copyTo's), written with the columns at.
type encodedRows struct {
	f    *os.File
	size int64
	at   []int
	rows int
}

// copyTo copies the rows' text to w. A *bufio.Writer is flushed first:
// with nothing buffered it hands the copy to the file under it, and one
// *os.File to another is copy_file_range, the kernel's copy.
func (e *encodedRows) copyTo(w io.Writer) error {
	if bw, ok := w.(*bufio.Writer); ok {
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if _, err := e.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading the journal's rows: %w", err)
	}
	n, err := io.Copy(w, &io.LimitedReader{R: e.f, N: e.size})
	if err != nil {
		return fmt.Errorf("copying the journal's rows: %w", err)
	}
	if n != e.size {
		return fmt.Errorf("copying the journal's rows: %d bytes, want %d", n, e.size)
	}
	return nil
}
