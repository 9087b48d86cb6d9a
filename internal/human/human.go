// Package human formats auditprof's numbers for people, the same way in
// every command's text output and in the HTML report.
package human

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// Count is a count or rate rounded to a whole number with thousands
// separators: 12345.6 -> "12,346".
func Count(v float64) string { return humanize.Commaf(math.Round(v)) }

// Percent is n as a share of "of" ("54.76%"), "" when of is 0.
func Percent(n, of uint64) string {
	if of == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(of))
}

// Jiffies is a time in jiffies of hz as a duration ("240ms"), "?" when hz
// is unknown.
func Jiffies(j uint32, hz int) string {
	if hz <= 0 {
		return "?"
	}
	return (time.Duration(j) * time.Second / time.Duration(hz)).String()
}

// Duration is ns rounded to what a person reads: microseconds below a
// second, milliseconds above ("1.5ms", "2.344s"); "0" for none.
func Duration(ns uint64) string {
	d := time.Duration(ns)
	switch {
	case ns == 0:
		return "0"
	case d < time.Microsecond:
		return d.String()
	case d < time.Second:
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// Key is an audit key as rules show it: several keys (joined by \x01 in
// the kernel) with commas, "(no key)" for none.
func Key(k string) string {
	if k == "" {
		return "(no key)"
	}
	return strings.ReplaceAll(k, "\x01", ",")
}

// FullQueue says what a full queue holds: bytes, when the size of a queued
// record was measured (recordBytes > 0), or that it was not (netlink
// recordings, and the journal of one that did not finish, count no bytes).
func FullQueue(bytes uint64, recordBytes float64) string {
	if recordBytes <= 0 {
		return "an amount not measured in this recording"
	}
	return humanize.IBytes(bytes)
}
