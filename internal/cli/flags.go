package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
