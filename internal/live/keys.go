package live

import "github.com/auditprof/auditprof/internal/ranking"

// Keys applies what was read from the terminal (in raw mode) to the sort
// key: r, l and w sort by records, lost and wait; q, Q, Ctrl-C and Ctrl-D
// quit. Escape sequences (arrow and function keys, Alt+key) are skipped
// whole, so that their letters are not taken for keys. It returns the sort
// key after the keys, and whether to quit; the caller redraws when the sort
// key changed.
func Keys(b []byte, sortBy string) (string, bool) {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case 'r', 'R':
			sortBy = ranking.Records
		case 'l', 'L':
			sortBy = ranking.Lost
		case 'w', 'W':
			sortBy = ranking.Wait
		case 'q', 'Q', 0x03, 0x04:
			return sortBy, true
		case 0x1b:
			i = skipEscape(b, i)
		}
	}
	return sortBy, false
}

// skipEscape returns the index of the last byte of the escape sequence
// that starts at b[i] (ESC).
func skipEscape(b []byte, i int) int {
	if i+1 >= len(b) {
		return i // a lone Esc key
	}
	switch b[i+1] {
	case '[': // CSI: parameters and intermediates, then a final byte 0x40-0x7e
		for j := i + 2; j < len(b); j++ {
			if b[j] >= 0x40 && b[j] <= 0x7e {
				return j
			}
		}
		return len(b) - 1
	case 'O': // SS3: one more byte (F1-F4, arrows in application mode)
		return min(i+2, len(b)-1)
	}
	return i + 1 // Alt+key
}
