package durable

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncDir: a file's directory syncs; a file whose directory is gone
// is an error naming it.
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.json")
	if err := os.WriteFile(f, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(f); err != nil {
		t.Errorf("SyncDir(%s): %v", f, err)
	}
	gone := filepath.Join(dir, "gone", "p.json")
	if err := SyncDir(gone); err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("SyncDir(%s): %v, want an error naming it", gone, err)
	}
}
