package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
	"github.com/auditprof/auditprof/internal/sizing"
)

type rulesOptions struct {
	streams
	profileSource
	Sort string
	Top  int
	JSON bool
}

// rulesReport is `rules --json`.
type rulesReport struct {
	DurationNs int64  `json:"duration_ns"`
	SortedBy   string `json:"sorted_by"`
	Records    uint64 `json:"records"`
	Lost       uint64 `json:"lost"`
	// BacklogLimit is the recommendation with every rule (0: sustained
	// overload, or too little to decide: see LimitNote).
	BacklogLimit uint32       `json:"backlog_limit"`
	LimitNote    string       `json:"limit_note,omitempty"`
	Rules        []ruleReport `json:"rules"`
}

// ruleReport is one loaded rule, or the rows no single rule explains.
type ruleReport struct {
	// Rules are the LoadedRules indices (auditctl -l order) this entry
	// stands for: one, several when rules share key, syscall and arch,
	// none when no loaded rule matches.
	Rules []int `json:"rules"`
	// Text is the rule as auditctl -l prints it (several joined by " | ").
	Text string `json:"text"`
	Key  string `json:"key"`
	// Syscalls are the syscall names seen; Comm the program, for records
	// with no key (the fallback identity).
	Syscalls        []string `json:"syscalls"`
	Comm            string   `json:"comm,omitempty"`
	Records         uint64   `json:"records"`
	RecordsPerSec   float64  `json:"records_per_sec"`
	RecordShare     float64  `json:"record_share"`
	Events          uint64   `json:"events"`
	RecordsPerEvent float64  `json:"records_per_event"`
	Lost            uint64   `json:"lost"`
	LostShare       float64  `json:"lost_share"`
	Waits           uint64   `json:"waits"`
	WaitNs          uint64   `json:"wait_ns"`
	// LimitWithout is the recommended limit had this rule's demand never
	// been made (its share taken out of every bucket alike);
	// SustainedWithout: the rest is still more than the consumer takes.
	DemandShare      float64 `json:"demand_share"`
	LimitWithout     uint32  `json:"limit_without,omitempty"`
	SustainedWithout bool    `json:"sustained_without,omitempty"`
	// Programs are the programs that fired the rule, most records first
	// (ranking.RulePrograms, merged across the rule's kernel rows), the
	// first rulePrograms of them; MorePrograms counts the rest and
	// MoreProgramsRecords their records, so that the programs' records
	// and the rest sum to Records. Empty where the profile has no
	// programs per rule (netlink mode, older profiles).
	Programs            []ranking.RuleProgram `json:"programs,omitempty"`
	MorePrograms        int                   `json:"more_programs,omitempty"`
	MoreProgramsRecords uint64                `json:"more_programs_records,omitempty"`
}

// rulePrograms is how many programs `rules` lists per rule: the few that
// make most of its records, the ones to exclude or fix.
const rulePrograms = 5

func newRulesCmd(s streams) *cobra.Command {
	o := &rulesOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "rules [--profile FILE | --duration D]",
		Short: "Rank the loaded audit rules by the records, drops and waits they cause, and what the limit would be without each",
		Long: `rules joins a recording's per-(key, syscall) counters to the audit rules loaded
when it ended (as auditctl -l prints them) and ranks them. Records with no key are
shown per syscall and program. "limit without" is what recommend would say had the
rule's records never been made, taking them out of every moment of the recording
alike (the profile has no per-rule timeline).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	o.profileSource.addFlags(f, false)
	addSortFlag(cmd, &o.Sort, "rank by")
	f.IntVar(&o.Top, "top", 20, "show this many rules (0: all)")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (o *rulesOptions) validate() error {
	if err := o.profileSource.validate(); err != nil {
		return err
	}
	if o.Top < 0 {
		return usagef("--top must be 0 (all) or more")
	}
	return nil
}

func (o *rulesOptions) run(cmd *cobra.Command) error {
	p, err := o.profileSource.load(cmd, o.streams)
	if err != nil {
		return err
	}
	rep := buildRulesReport(p, o.Sort)
	if o.Top > 0 && len(rep.Rules) > o.Top {
		rep.Rules = rep.Rules[:o.Top]
	}
	if o.JSON {
		return writeJSON(o.out, rep)
	}
	printRules(o.out, p, rep)
	return nil
}

// buildRulesReport ranks the loaded rules (ranking.Groups, as top groups
// them) and adds what the limit would be without each.
func buildRulesReport(p *profile.Profile, sortBy string) rulesReport {
	rep := rulesReport{DurationNs: p.DurationNs, SortedBy: sortBy, Records: p.Totals.Records, Lost: p.Totals.Lost, Rules: []ruleReport{}}
	// Recommend reconstructs the demand once; the limits without each
	// rule replay that same demand, thinned.
	rec, err := sizing.Recommend(p, sizing.Options{})
	var d *sizing.Demand
	var total float64
	if err == nil {
		d, rep.BacklogLimit = rec.Demand, rec.BacklogLimit
		if rec.SustainedOverload {
			rep.LimitNote = "sustained overload with every rule: no backlog_limit is enough"
		}
		// Rule demand (RuleDemand) has no blocked-time part: the share is
		// of the demand without it, so that the shares add up to one.
		total = d.TotalRecords() - d.AddedBlocked
	} else {
		rep.LimitNote = "no limits: " + err.Error()
	}
	for _, grp := range ranking.Groups(p, sortBy) {
		g := ruleReport{Rules: grp.Rules, Text: grp.Text, Key: grp.Key, Syscalls: grp.Syscalls, Comm: grp.Comm,
			Records: grp.Records, RecordsPerSec: grp.RecordsPerSec, RecordShare: grp.RecordShare,
			Events: grp.Events, RecordsPerEvent: grp.RecordsPerEvent, Lost: grp.Lost, LostShare: grp.LostShare,
			Waits: grp.Waits, WaitNs: grp.WaitNs}
		if err == nil && total > 0 {
			var demand float64
			for _, i := range grp.Rows {
				demand += sizing.RuleDemand(p.Rules[i], d.RecordsPerLostEvent)
			}
			g.DemandShare = min(demand/total, 1)
			w := sizing.LimitWithout(d, g.DemandShare, sizing.DefaultHeadroom)
			g.LimitWithout, g.SustainedWithout = w.BacklogLimit, w.SustainedOverload
		}
		progs := ranking.RulePrograms(p, grp.Rows)
		if len(progs) > rulePrograms {
			g.MorePrograms = len(progs) - rulePrograms
			for _, rp := range progs[rulePrograms:] {
				g.MoreProgramsRecords += rp.Records
			}
			progs = progs[:rulePrograms]
		}
		g.Programs = progs
		rep.Rules = append(rep.Rules, g)
	}
	return rep
}

func printRules(w io.Writer, p *profile.Profile, rep rulesReport) {
	fmt.Fprintf(w, "audit rules ranked by %s: %s recorded on %s, %s records, %s lost\n",
		rep.SortedBy, time.Duration(p.DurationNs).Round(time.Millisecond), p.KernelRelease, human.Count(float64(rep.Records)), human.Count(float64(rep.Lost)))
	switch {
	case rep.LimitNote != "":
		fmt.Fprintf(w, "recommended backlog_limit with every rule: none (%s)\n", rep.LimitNote)
	default:
		fmt.Fprintf(w, "recommended backlog_limit with every rule: %d\n", rep.BacklogLimit)
	}
	if len(p.LoadedRules) == 0 {
		fmt.Fprintln(w, "(the loaded rules were not read with this recording: rows are shown by key and syscall)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RULE\tKEY\tSYSCALLS\tRECORDS\t/S\tSHARE\tREC/EVENT\tLOST\tSHARE\tWAITED\tLIMIT WITHOUT\t")
	for _, r := range rep.Rules {
		id := "-"
		if len(r.Rules) > 0 {
			parts := make([]string, len(r.Rules))
			for i, n := range r.Rules {
				parts[i] = "#" + strconv.Itoa(n)
			}
			id = strings.Join(parts, ",")
		}
		key := human.Key(r.Key)
		if r.Key == "" {
			key += " " + r.Comm
		}
		without := "-"
		switch {
		case r.SustainedWithout:
			without = "still overloaded"
		case r.LimitWithout > 0:
			without = strconv.Itoa(int(r.LimitWithout))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f%%\t%.1f\t%s\t%.0f%%\t%s\t%s\t\n",
			id, key, strings.Join(r.Syscalls, ","), human.Count(float64(r.Records)), human.Count(r.RecordsPerSec), r.RecordShare*100,
			r.RecordsPerEvent, human.Count(float64(r.Lost)), r.LostShare*100, time.Duration(r.WaitNs).Round(time.Millisecond), without)
	}
	tw.Flush()
	printRulePrograms(w, rep)
	var shown []string
	seen := map[int]bool{}
	text := map[int]string{}
	for _, l := range p.LoadedRules {
		text[l.Index] = l.Text
	}
	for _, r := range rep.Rules {
		for _, i := range r.Rules {
			if !seen[i] {
				seen[i] = true
				shown = append(shown, fmt.Sprintf("  #%d  %s", i, text[i]))
			}
		}
	}
	if len(shown) > 0 {
		fmt.Fprintln(w, "\nrules (auditctl -l order):")
		for _, s := range shown {
			fmt.Fprintln(w, s)
		}
	}
	fmt.Fprintln(w, "\nLIMIT WITHOUT: recommend's limit had the rule's records never been made, taken out of every moment alike.")
}

// ruleID names a rule entry for people: its loaded rules' numbers, or its
// key (and program, for no key) where no loaded rule matches.
func ruleID(r ruleReport) string {
	if len(r.Rules) > 0 {
		parts := make([]string, len(r.Rules))
		for i, n := range r.Rules {
			parts[i] = "#" + strconv.Itoa(n)
		}
		return strings.Join(parts, ",")
	}
	s := "key " + human.Key(r.Key)
	if r.Key == "" {
		s = human.Key(r.Key) + " " + r.Comm
	}
	return s + " (no loaded rule)"
}

// printRulePrograms says, for each rule shown, which programs fire it:
// the rule to narrow is found by its rank, the exclusion to write by these.
func printRulePrograms(w io.Writer, rep rulesReport) {
	have := false
	for _, r := range rep.Rules {
		have = have || len(r.Programs) > 0
	}
	if !have {
		return
	}
	fmt.Fprintln(w, "\nprograms firing each rule (most records first):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RULE\tPROGRAM\tPARENT\tUNIT\tRECORDS\tSHARE\tLOST\tWAITED\t")
	for _, r := range rep.Rules {
		id := ruleID(r)
		for _, rp := range r.Programs {
			parent := rp.ParentComm
			if parent == "" || rp.Overflow {
				parent = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f%%\t%s\t%s\t\n", id, ranking.ProgramLabel(rp.Comm, rp.Self, rp.Overflow),
				parent, rp.Unit, human.Count(float64(rp.Records)), rp.Share*100, human.Count(float64(rp.Lost)),
				time.Duration(rp.WaitNs).Round(time.Millisecond))
			id = ""
		}
		if r.MorePrograms > 0 {
			fmt.Fprintf(tw, "%s\t(%d more programs)\t\t\t%s\t%.0f%%\t\t\t\n", id, r.MorePrograms,
				human.Count(float64(r.MoreProgramsRecords)), ranking.Share(r.MoreProgramsRecords, r.Records)*100)
		}
	}
	tw.Flush()
}
