package profile

import "time"

// Stalls is what a recording shows of its consumer stopping: runs of
// consecutive buckets in which records were queued (max_depth or queued
// above 0) and nothing was drained. The drain is the one the sizing model
// replays (each kauditd pass spread over the buckets it ran in, held to
// the depths seen), not the timeline's drained, which BPF counts when a
// pass ends: a pass that runs through a burst would otherwise read as a
// stall as long as the pass. Stalls are measured to the bucket.
//
// A profile carries them for whoever reads its JSON (record --json, jq);
// auditprof itself measures them again from the timeline when it reads a
// profile (sizing.MeasureStalls), so the timeline stays their one source
// and a profile written without them, or by an older build, reads the
// same. Only record's own summary, of the profile just made from that
// timeline, reads them (summary.Write).
type Stalls struct {
	BucketNs int64 `json:"bucket_ns"`
	// Count is the number of stalls, Longest the longest, LongestAt
	// where it began, from the start of the timeline.
	Count     int           `json:"count"`
	Longest   time.Duration `json:"longest_ns"`
	LongestAt time.Duration `json:"longest_at_ns"`
	// Histogram counts the stalls by length, log2 of buckets: bin k holds
	// those of 2^k to 2^(k+1)-1 buckets. Empty bins at the end are left off.
	Histogram []StallBin `json:"histogram,omitempty"`
}

// StallBin is one bin of Stalls.Histogram: stalls at least Min long and
// shorter than Max.
type StallBin struct {
	Min   time.Duration `json:"min_ns"`
	Max   time.Duration `json:"max_ns"`
	Count int           `json:"count"`
}
