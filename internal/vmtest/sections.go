package vmtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// kmsgRE matches the timestamp that starts every kernel console message
// (printk.time=1 is on the kernel command line).
var kmsgRE = regexp.MustCompile(`\[ *[0-9]+\.[0-9]+\] `)

// repairLines splits the console into the lines the guest's user space
// wrote, without kernel messages. The kernel prints on the serial port
// asynchronously, so a message may start in the middle of a line written by
// the guest: "partial[   1.234567] kernel text\nrest of line\n". Lines that
// start with a kernel timestamp are dropped; a line with a timestamp after
// some text keeps that text, which is joined with the next surviving line.
func repairLines(console string) []string {
	var out []string
	pending, hasPending := "", false
	for _, l := range strings.Split(console, "\n") {
		loc := kmsgRE.FindStringIndex(l)
		switch {
		case loc == nil:
			out = append(out, pending+l)
			pending, hasPending = "", false
		case loc[0] == 0:
			// A whole kernel message; the guest's line (if one was
			// interrupted) continues after it.
		default:
			pending += l[:loc[0]]
			hasPending = true
		}
	}
	if hasPending {
		out = append(out, pending)
	}
	return out
}

// marker returns the name in a line "=== KIND name ===".
func marker(line, kind string) (string, bool) {
	line = strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(line, "=== "+kind+" ")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, " ===")
	if !ok {
		return "", false
	}
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t") {
		return "", false
	}
	return name, true
}

// parseSections extracts the sections from the console. Emitted (base64)
// sections are decoded and checked against their sha256; plain sections are
// their lines joined with "\n". Sections that are unterminated or fail the
// check are reported in the error and left out of the map.
func parseSections(console string) (map[string]string, error) {
	lines := repairLines(console)
	secs := map[string]string{}
	var errs []error
	for i := 0; i < len(lines); i++ {
		name, ok := marker(lines[i], "BEGIN")
		if !ok {
			continue
		}
		end := -1
		for j := i + 1; j < len(lines); j++ {
			if n, ok := marker(lines[j], "END"); ok && n == name {
				end = j
				break
			}
			if _, ok := marker(lines[j], "BEGIN"); ok {
				break // a new section started: this one is cut short
			}
		}
		if end < 0 {
			errs = append(errs, fmt.Errorf("section %q: no END line", name))
			continue
		}
		body := lines[i+1 : end]
		i = end
		if len(body) > 0 {
			if sum, ok := strings.CutPrefix(strings.TrimSpace(body[0]), "=== BASE64 sha256="); ok {
				sum = strings.TrimSpace(strings.TrimSuffix(sum, "==="))
				data, err := decodeEmitted(body[1:], sum)
				if err != nil {
					errs = append(errs, fmt.Errorf("section %q: %w", name, err))
					continue
				}
				secs[name] = data
				continue
			}
		}
		secs[name] = strings.Join(body, "\n")
	}
	return secs, errors.Join(errs...)
}

// decodeEmitted decodes the base64 lines printed by emit and checks their
// sha256 (hex).
func decodeEmitted(lines []string, sum string) (string, error) {
	var b strings.Builder
	for _, l := range lines {
		for _, r := range l {
			switch {
			case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/', r == '=':
				b.WriteRune(r)
			case r == ' ' || r == '\t':
			default:
				return "", fmt.Errorf("unexpected character %q in base64 line %q", r, l)
			}
		}
	}
	data, err := base64.StdEncoding.DecodeString(b.String())
	if err != nil {
		return "", fmt.Errorf("decoding base64: %w", err)
	}
	got := sha256.Sum256(data)
	if hex.EncodeToString(got[:]) != strings.ToLower(sum) {
		return "", fmt.Errorf("sha256 mismatch: got %x, guest said %s (%d bytes decoded)", got, sum, len(data))
	}
	return string(data), nil
}
