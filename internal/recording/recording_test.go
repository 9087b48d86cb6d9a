package recording

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

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
