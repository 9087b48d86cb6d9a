package recording

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/profile"
)

// TestSetHZ: HZ never stops a netlink recording; only BPF mode, which
// converts jiffies with it, and a mistyped AUDITPROF_HZ refuse.
func TestSetHZ(t *testing.T) {
	noSource := errors.New("finding kernel HZ: no config; no timer list: run as root, ... or set AUDITPROF_HZ to its CONFIG_HZ")
	const note = "HZ measured as 224.2 jiffies/s, 10.3% from 250: taken as 250; ..."
	tests := []struct {
		name      string
		hz        kernel.HZ
		err       error
		bpf       bool
		wantHZ    int
		wantSrc   string
		wantNotes []string
		wantErr   string
	}{
		{"config", kernel.HZ{Value: 250, Source: kernel.HZSourceConfig}, nil, true, 250, "config", nil, ""},
		{"measured with a note", kernel.HZ{Value: 250, Measured: 224.2, Source: kernel.HZSourceMeasured, Note: note}, nil, true,
			250, "measured", []string{note}, ""},
		{"no source, netlink records with hz 0", kernel.HZ{}, noSource, false, 0, "",
			[]string{"hz is 0, unknown: " + noSource.Error()}, ""},
		{"no source, BPF refuses saying what to do", kernel.HZ{}, noSource, true, 0, "", nil, "--attach netlink records without HZ"},
		{"bad AUDITPROF_HZ refuses in netlink mode too", kernel.HZ{}, fmt.Errorf("%w=\"x\": set it", kernel.ErrHZEnv), false, 0, "", nil, "AUDITPROF_HZ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prof := &profile.Profile{}
			err := setHZ(prof, tt.hz, tt.err, tt.bpf)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if prof.HZ != tt.wantHZ || prof.HZSource != tt.wantSrc || !reflect.DeepEqual(prof.Notes, tt.wantNotes) {
				t.Fatalf("hz %d, source %q, notes %q; want %d, %q, %q", prof.HZ, prof.HZSource, prof.Notes, tt.wantHZ, tt.wantSrc, tt.wantNotes)
			}
			if err := prof.Validate(); err != nil && strings.Contains(err.Error(), "hz") {
				t.Fatalf("the profile does not validate: %v", err)
			}
		})
	}
}

func TestCheckpointDue(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	for _, tc := range []struct {
		last  time.Time
		cost  time.Duration
		after time.Duration
		want  bool
	}{
		{time.Time{}, 0, 0, true},                        // the first
		{t0, 50 * time.Millisecond, time.Minute, true},   // cheap: every tick
		{t0, 800 * time.Millisecond, time.Minute, false}, // 0.8 s: 80 s apart
		{t0, 800 * time.Millisecond, 80 * time.Second, true},
		{t0, 8 * time.Second, 799 * time.Second, false}, // a day all busy: 800 s apart
		{t0, 8 * time.Second, 800*time.Second + time.Nanosecond, true},
	} {
		if got := checkpointDue(tc.last, tc.cost, t0.Add(tc.after)); got != tc.want {
			t.Errorf("last %v, cost %v, %v after: due %v, want %v", tc.last, tc.cost, tc.after, got, tc.want)
		}
	}
}
