package cli

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording"
)

// profileSource is the --profile FILE | --duration D choice of the commands
// that decide from a recording (recommend, rules): a saved profile, or one
// recorded now, as `record` would, and saved too.
type profileSource struct {
	Profile   string
	Duration  time.Duration
	Output    string
	ReadyFile string
}

func (s *profileSource) addFlags(f *pflag.FlagSet) {
	f.StringVar(&s.Profile, "profile", "", "a profile, a `FILE` written by auditprof record")
	f.DurationVar(&s.Duration, "duration", 0, "record for this long first (instead of --profile)")
	f.StringVarP(&s.Output, "output", "o", "auditprof-profile.json", "with --duration: write the profile here")
	f.StringVar(&s.ReadyFile, "ready-file", "", "with --duration: create this file once attached and counting")
}

func (s *profileSource) validate() error {
	if (s.Profile == "") == (s.Duration == 0) {
		return usagef("give one of --profile FILE or --duration D")
	}
	if s.Duration < 0 {
		return usagef("--duration must be positive")
	}
	if s.ReadyFile != "" && s.Duration == 0 {
		return usagef("--ready-file goes with --duration")
	}
	if s.Duration > 0 {
		// Checked now, not after recording for the whole duration.
		if err := checkOutput("--output", s.Output); err != nil {
			return err
		}
		if err := checkReadyFile(s.ReadyFile); err != nil {
			return err
		}
	}
	return nil
}

// load reads the profile, or records and writes it.
func (s *profileSource) load(cmd *cobra.Command, st streams) (*profile.Profile, error) {
	if s.Profile != "" {
		return loadProfile(s.Profile)
	}
	p, err := runRecording(cmd.Context(), st, recording.Options{Duration: s.Duration, Attach: probe.ModeAuto}, s.ReadyFile)
	if err != nil {
		return nil, err
	}
	if _, err := saveRecording(p, s.Output); err != nil {
		return nil, err
	}
	return p, nil
}
