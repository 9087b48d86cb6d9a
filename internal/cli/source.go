package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording"
)

// profileSource is the --profile FILE | --duration D choice of the commands
// that decide from a recording (recommend, rules): saved profiles, or one
// recorded now, as `record` would, and saved too.
type profileSource struct {
	// Profiles are the --profile files; Profile is the one of a command
	// that takes one (a string flag refuses a second).
	Profiles  []string
	Profile   string
	Duration  time.Duration
	Output    string
	ReadyFile string
}

// addFlags defines the flags; several lets --profile be given more than
// once (recommend: one limit for every recording).
func (s *profileSource) addFlags(f *pflag.FlagSet, several bool) {
	if several {
		f.StringArrayVar(&s.Profiles, "profile", nil, "a profile, a `FILE` written by auditprof record; give it again for one limit that holds for several recordings")
	} else {
		f.StringVar(&s.Profile, "profile", "", "a profile, a `FILE` written by auditprof record")
	}
	f.DurationVar(&s.Duration, "duration", 0, "record for this long first (instead of --profile)")
	f.StringVarP(&s.Output, "output", "o", "auditprof-profile.json", "with --duration: write the profile here")
	f.StringVar(&s.ReadyFile, "ready-file", "", "with --duration: create this file once attached and counting")
}

func (s *profileSource) validate() error {
	if s.Profile != "" {
		s.Profiles = []string{s.Profile}
	}
	if (len(s.Profiles) == 0) == (s.Duration == 0) {
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

// load reads the profile, or records and writes it; with several, the first.
func (s *profileSource) load(cmd *cobra.Command, st streams) (*profile.Profile, error) {
	ps, err := s.loadAll(cmd, st)
	if err != nil {
		return nil, err
	}
	return ps[0].Profile, nil
}

// namedProfile is a profile and the file it came from.
type namedProfile struct {
	*profile.Profile
	Name string
}

// loadAll reads every --profile, or records one and writes it.
func (s *profileSource) loadAll(cmd *cobra.Command, st streams) ([]namedProfile, error) {
	if len(s.Profiles) > 0 {
		return loadProfiles(s.Profiles)
	}
	p, err := runRecording(cmd.Context(), st, recording.Options{Duration: s.Duration, Attach: probe.ModeAuto}, s.ReadyFile)
	if err != nil {
		return nil, err
	}
	if _, err := saveRecording(p, s.Output); err != nil {
		return nil, err
	}
	return []namedProfile{{Profile: p, Name: s.Output}}, nil
}

// loadProfiles reads profiles; the first that cannot be read is a usage
// error that names it (profile.ReadFile's errors name their file).
func loadProfiles(paths []string) ([]namedProfile, error) {
	out := make([]namedProfile, 0, len(paths))
	for _, path := range paths {
		p, err := loadProfile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, namedProfile{Profile: p, Name: path})
	}
	return out, nil
}

// profileNotes are the notes recommend and validate give on the
// recordings: each one's that had not finished (a checkpoint, a journal:
// they ended early, and where), then how they differ.
func profileNotes(ps []namedProfile) []string {
	var notes []string
	for _, p := range ps {
		if u := p.Unfinished(); u != "" {
			notes = append(notes, fmt.Sprintf("%s is %s", p.Name, u))
		}
	}
	return append(notes, profileDifferences(ps)...)
}

// profileDifferences says how recordings given together differ in what
// shapes their queue (kernel, HZ, the backlog settings in force, the
// attach mode): accepted, but worth a note, as one limit is sized for all.
func profileDifferences(ps []namedProfile) []string {
	if len(ps) < 2 {
		return nil
	}
	var notes []string
	field := func(what string, get func(*profile.Profile) string) {
		seen := map[string][]string{}
		var order []string
		for _, p := range ps {
			v := get(p.Profile)
			if _, ok := seen[v]; !ok {
				order = append(order, v)
			}
			seen[v] = append(seen[v], p.Name)
		}
		if len(order) < 2 {
			return
		}
		parts := make([]string, len(order))
		for i, v := range order {
			parts[i] = fmt.Sprintf("%s (%s)", v, strings.Join(seen[v], ", "))
		}
		notes = append(notes, fmt.Sprintf("the recordings differ in %s: %s", what, strings.Join(parts, "; ")))
	}
	field("kernel", func(p *profile.Profile) string { return p.KernelRelease })
	field("HZ", func(p *profile.Profile) string { return fmt.Sprint(p.HZ) })
	field("backlog_limit in force", func(p *profile.Profile) string {
		if p.AuditBefore == nil {
			return "unknown"
		}
		return fmt.Sprint(p.AuditBefore.BacklogLimit)
	})
	field("backlog_wait_time in force", func(p *profile.Profile) string {
		if p.AuditBefore == nil {
			return "unknown"
		}
		return fmt.Sprint(p.AuditBefore.BacklogWaitTime)
	})
	field("attach mode", func(p *profile.Profile) string { return p.Attach })
	return notes
}
