package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// checkOutput checks, before anything attaches or runs, that a file can be
// written at path (given with flag): its directory exists and takes a new
// file, and path is not a directory or a device. It creates and removes a
// temporary file in the directory, as the atomic write at the end will;
// nothing is created at path. A recording that could not be saved would
// otherwise be found out only after its whole duration.
func checkOutput(flag, path string) error {
	if path == "" {
		return usagef("%s must name a file", flag)
	}
	dir := filepath.Dir(path)
	switch st, err := os.Stat(dir); {
	case errors.Is(err, os.ErrNotExist):
		return usagef("%s %s: directory %s does not exist; create it or name a file in another directory", flag, path, dir)
	case err != nil:
		return usagef("%s %s: %v; name a file in a directory you can write", flag, path, err)
	case !st.IsDir():
		return usagef("%s %s: %s is not a directory; name a file in a directory", flag, path, dir)
	}
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return usagef("%s %s is a directory; name a file in it, e.g. %s", flag, path, filepath.Join(path, "auditprof.out"))
		}
		if !st.Mode().IsRegular() {
			return usagef("%s %s is not a regular file; name a file to replace or create", flag, path)
		}
	}
	// The name starts with a dot and ends in no known suffix: augenrules
	// loads *.rules from the same directory as --persist.
	f, err := os.CreateTemp(dir, ".auditprof-write-check-*")
	if err != nil {
		return usagef("%s %s: cannot create files in %s (%v); name a file in a directory you can write", flag, path, dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("removing %s: %w", name, err)
	}
	return nil
}

// unwrapPath drops the *PathError's repetition of the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fallbackDirs are where saveRecording saves a profile it could not write
// where asked, in order; a variable for tests.
var fallbackDirs = func() []string { return []string{os.TempDir(), "."} }

// saveRecording writes a recorded profile to path, atomically. If that
// fails after the recording (disk full, the directory removed since
// checkOutput), the profile is written to a new file in a fallback
// directory instead and the error names it: nothing recorded is lost. It
// returns the path the profile is in, "" if none.
func saveRecording(p *profile.Profile, path string) (string, error) {
	err := p.WriteFile(path)
	if err == nil {
		return path, nil
	}
	name := fmt.Sprintf("auditprof-profile-%s-%d.json", time.Now().Format("20060102-150405"), os.Getpid())
	for _, dir := range fallbackDirs() {
		alt, aErr := filepath.Abs(filepath.Join(dir, name))
		if aErr != nil {
			continue
		}
		if p.WriteFile(alt) == nil {
			return alt, fmt.Errorf("%w; the profile is saved in %s instead", err, alt)
		}
	}
	return "", fmt.Errorf("%w; saving it in %s failed too", err, strings.Join(fallbackDirs(), " or "))
}
