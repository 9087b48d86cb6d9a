package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditprof/auditprof/internal/procsample"
	"github.com/auditprof/auditprof/internal/recording"
)

// repeatedFlagError is a flag that takes one value given twice. pflag
// keeps the last value silently, so `--profile a.json --profile b.json`
// would decide from b.json while its user may believe it read a.json.
type repeatedFlagError struct{ name, first, second string }

func (e *repeatedFlagError) Error() string {
	return fmt.Sprintf("--%s given twice (%s, then %s): give it once", e.name, e.first, e.second)
}

// onceValue lets its flag be set once. A switch (boolean flag) may be
// repeated when every occurrence means the same (`--json --json`): that
// is harmless, and refusing it would break scripts that add a switch to a
// command line that may already have it; `--dry-run --dry-run=false` is
// refused.
type onceValue struct {
	pflag.Value
	name  string
	given bool
	first string
}

func (v *onceValue) Set(s string) error {
	if v.given && !v.sameSwitch(s) {
		return &repeatedFlagError{name: v.name, first: v.first, second: s}
	}
	v.given, v.first = true, s
	return v.Value.Set(s)
}

func (v *onceValue) sameSwitch(s string) bool {
	if v.Type() != "bool" {
		return false
	}
	a, errA := strconv.ParseBool(v.first)
	b, errB := strconv.ParseBool(s)
	return errA == nil && errB == nil && a == b
}

// IsBoolFlag keeps what the wrapped value says, for code that asks.
func (v *onceValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// takesSeveral reports whether a flag is meant to be given more than once:
// slices and arrays collect every occurrence, a count counts them, and
// key=value maps merge them.
func takesSeveral(v pflag.Value) bool {
	if _, ok := v.(pflag.SliceValue); ok {
		return true
	}
	t := v.Type()
	return t == "count" || strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array") || strings.HasPrefix(t, "stringTo")
}

// refuseRepeats makes every single-valued flag of every command under
// root refuse a second occurrence, so that a flag added later is covered
// without anyone remembering to. Call it once the tree is built; each
// command line gets a fresh tree (Main), so nothing carries over.
func refuseRepeats(root *cobra.Command) {
	wrap := func(f *pflag.Flag) {
		if _, done := f.Value.(*onceValue); done || takesSeveral(f.Value) {
			return
		}
		f.Value = &onceValue{Value: f.Value, name: f.Name}
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(wrap)
		c.PersistentFlags().VisitAll(wrap)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// enumValue is a string flag that takes one of a fixed set of values. It
// refuses any other while the command line is parsed, so that every such
// flag fails the same way, before its command validates or runs anything.
type enumValue struct {
	p       *string
	name    string
	allowed []string
}

func (e *enumValue) String() string { return *e.p }

// Type is "string", as gh's enum flags say: the values are in the usage.
func (e *enumValue) Type() string { return "string" }

func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.allowed, s) {
		return &enumError{name: e.name, value: s, allowed: e.allowed}
	}
	*e.p = s
	return nil
}

// enumError is a value outside an enum flag's set. pflag wraps it in
// "invalid argument ... flag:"; the flag error function unwraps it, so the
// line says the flag, its values and what was given, once.
type enumError struct {
	name, value string
	allowed     []string
}

func (e *enumError) Error() string {
	return fmt.Sprintf("--%s must be one of %s, not %q", e.name, enumList(e.allowed), e.value)
}

// enumList is the values as the usage and the error show them: {a|b|c}.
func enumList(values []string) string { return "{" + strings.Join(values, "|") + "}" }

// enumFlag defines --name on cmd, set to def, taking one of allowed: the
// usage ends with the values ("usage: {a|b|c}") and shell completion offers
// them.
func enumFlag(cmd *cobra.Command, p *string, name, def string, allowed []string, usage string) {
	*p = def
	cmd.Flags().Var(&enumValue{p: p, name: name, allowed: allowed}, name, usage+": "+enumList(allowed))
	// Fails only for a flag that does not exist: it was just defined.
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
}

// maxConsumerHz bounds --consumer-hz: a sample of a busy auditd took
// 73-131 us of /proc reads (docs/probes.md), a tenth of the period at
// 1000 Hz; faster, the sampler becomes a load of its own.
const maxConsumerHz = 1000

// consumerFlags are --consumer and --consumer-hz (record, top, exporter):
// how auditd's and kauditd's time is measured.
type consumerFlags struct {
	Source string
	Hz     float64
	flags  *pflag.FlagSet
}

func addConsumerFlags(cmd *cobra.Command, c *consumerFlags) {
	enumFlag(cmd, &c.Source, "consumer", recording.ConsumerSample, recording.ConsumerSources,
		"how auditd's and kauditd's time is measured (sample: from /proc, the default; sched-switch: a BPF program on every context switch, exact but costly on busy machines; off)")
	cmd.Flags().Float64Var(&c.Hz, "consumer-hz", procsample.DefaultHz, "samples a second of auditd's and kauditd's state (--consumer sample)")
	c.flags = cmd.Flags()
}

// validate checks --consumer-hz; netlink is --attach netlink, which loads
// no programs and measures no consumer.
func (c *consumerFlags) validate(netlink bool) error {
	changed := func(name string) bool { return c.flags != nil && c.flags.Changed(name) }
	if netlink && (changed("consumer") || changed("consumer-hz")) {
		return usagef("--consumer and --consumer-hz are for BPF; --attach netlink measures no consumer")
	}
	if !(c.Hz > 0 && c.Hz <= maxConsumerHz) { // NaN too
		return usagef("--consumer-hz must be more than 0 and at most %d, not %v", maxConsumerHz, c.Hz)
	}
	if changed("consumer-hz") && c.Source != recording.ConsumerSample {
		return usagef("--consumer-hz is for --consumer sample, not --consumer %s", c.Source)
	}
	return nil
}
