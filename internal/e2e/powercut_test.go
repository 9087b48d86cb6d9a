package e2e

import (
	"bytes"
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

var (
	//go:embed testdata/powercut.sh
	powerCutSh string
	//go:embed testdata/powercut-after.sh
	powerCutAfterSh string
)

// TestPowerCut (issue 20, item 4): the last checkpoint written is there
// after a power cut. The recording goes to an ext4 disk image mounted with
// commit=60, so that only an fsync commits the filesystem's journal in the
// test's time: a checkpoint's rename is durable only by the sync of its
// directory (profile.WriteFile, durable.SyncDir). Once the second
// checkpoint replaced the first, the recorder is stopped and the guest
// rebooted without sync or unmount (sysrq b); a second boot mounts the
// image again and finds that checkpoint, byte for byte, which recommend
// reads as one. Without the directory's sync the first comes back.
func TestPowerCut(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			img := ext4Image(t, 64<<20)
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files, Disks: []string{img},
				Vars:   map[string]string{"CHECKPOINT": "5"},
				Script: guestScript(powerCutSh), Timeout: 10 * time.Minute})
			seen := g.profile("seen")
			if seen.Checkpoint == nil || seen.Checkpoint.Seq < 2 {
				t.Fatalf("the file seen before the power cut: checkpoint %+v, want the second or later", seen.Checkpoint)
			}
			a := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files, Disks: []string{img},
				Script: guestScript(powerCutAfterSh), Timeout: 10 * time.Minute})
			after := a.profile("p")
			t.Logf("before the power cut: checkpoint %d, %d records; after: checkpoint %+v", seen.Checkpoint.Seq, seen.Totals.Records, after.Checkpoint)
			if after.Checkpoint == nil || after.Checkpoint.Seq != seen.Checkpoint.Seq {
				t.Errorf("after the power cut the output is checkpoint %+v, want %d, the last written", after.Checkpoint, seen.Checkpoint.Seq)
			} else if !bytes.Equal([]byte(a.section("p.json")), []byte(g.section("seen.json"))) {
				t.Errorf("after the power cut the checkpoint differs from the one written")
			}
			if rc := a.exitCode("rec"); rc != 0 || !strings.Contains(a.section("rec.out"), "checkpoint") {
				t.Errorf("recommend on what the power cut left: exit %d:\n%s", rc, a.section("rec.out"))
			}
		})
	}
}

// ext4Image makes a raw disk image of size bytes holding an empty ext4
// (mkfs.ext4, e2fsprogs), its inode tables and journal written at once so
// that no lazy initialisation writes in the guest.
func ext4Image(t *testing.T, size int64) string {
	t.Helper()
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		if _, serr := os.Stat("/sbin/mkfs.ext4"); serr != nil {
			t.Fatalf("no mkfs.ext4 (install e2fsprogs: scripts/install-deps.sh): %v", err)
		}
		mkfs = "/sbin/mkfs.ext4"
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(mkfs, "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return img
}
