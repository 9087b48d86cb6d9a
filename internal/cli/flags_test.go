package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// twoValues are two valid values per flag type, so that the second
// occurrence fails only for being the second. A flag of a new type fails
// the test until its values are added here.
var twoValues = map[string][2]string{
	"string":   {"a", "b"},
	"duration": {"1s", "2s"},
	"int":      {"1", "2"},
	"int64":    {"1", "2"},
	"uint":     {"1", "2"},
	"uint32":   {"1", "2"},
	"float64":  {"1.5", "2.5"},
	"bool":     {"true", "false"},
}

// eachFlag calls fn for every flag of every command, found by walking the
// tree, so a flag added later is tested without being listed.
func eachFlag(t *testing.T, fn func(t *testing.T, root, cmd *cobra.Command, f *pflag.Flag)) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			t.Run(c.CommandPath()+" --"+f.Name, func(t *testing.T) {
				// A fresh tree per case: a flag remembers it was given.
				root := newRootCmd(streams{in: strings.NewReader(""), out: &strings.Builder{}, err: &strings.Builder{}})
				cmd, _, err := root.Find(strings.Fields(c.CommandPath())[1:])
				if err != nil {
					t.Fatal(err)
				}
				fn(t, root, cmd, cmd.Flags().Lookup(f.Name))
			})
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(streams{}))
}

// TestRepeatedFlagRefused: every flag that takes one value, of every
// command, refuses a second occurrence with one line (exit 2). The flags
// are parsed only, never run: a command that ran would record or, for
// apply, change the kernel's audit settings.
func TestRepeatedFlagRefused(t *testing.T) {
	checked := 0
	eachFlag(t, func(t *testing.T, root, cmd *cobra.Command, f *pflag.Flag) {
		if takesSeveral(f.Value) {
			t.Skipf("%s takes several values", f.Value.Type())
		}
		v, ok := twoValues[f.Value.Type()]
		if e, isEnum := f.Value.(*onceValue).Value.(*enumValue); isEnum {
			v, ok = [2]string{e.allowed[0], e.allowed[1]}, true
		}
		if !ok {
			t.Fatalf("no test values for flag type %q: add two to twoValues", f.Value.Type())
		}
		checked++
		err := cmd.ParseFlags([]string{"--" + f.Name + "=" + v[0], "--" + f.Name + "=" + v[1]})
		if err == nil {
			t.Fatalf("--%s %s --%s %s accepted", f.Name, v[0], f.Name, v[1])
		}
		err = root.FlagErrorFunc()(cmd, err)
		want := "--" + f.Name + " given twice (" + v[0] + ", then " + v[1] + "): give it once"
		if exitCode(err) != ExitUsage || err.Error() != want {
			t.Fatalf("exit %d, %q; want exit %d, %q", exitCode(err), err, ExitUsage, want)
		}
	})
	if checked < 40 {
		t.Errorf("checked %d flags: the walk missed the tree", checked)
	}
}

// TestRepeatedSwitch: a switch repeated with the same meaning is harmless
// and accepted; with opposite meanings it is refused.
func TestRepeatedSwitch(t *testing.T) {
	eachFlag(t, func(t *testing.T, _, cmd *cobra.Command, f *pflag.Flag) {
		if f.Value.Type() != "bool" {
			t.Skip("not a switch")
		}
		if err := cmd.ParseFlags([]string{"--" + f.Name, "--" + f.Name + "=true"}); err != nil {
			t.Fatalf("--%s twice: %v", f.Name, err)
		}
		if err := cmd.ParseFlags([]string{"--" + f.Name + "=0"}); err == nil || !strings.Contains(err.Error(), "given twice (true, then 0)") {
			t.Fatalf("--%s then --%s=0: %v", f.Name, f.Name, err)
		}
	})
}

// TestRepeatedFlagOneLine: what the user sees, through Main, for the case
// that was silently taking the second file; and through a shorthand.
func TestRepeatedFlagOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rules", "--profile", "a.json", "--profile", "b.json"}, "auditprof: --profile given twice (a.json, then b.json): give it once\n"},
		{[]string{"report", "--profile", "p.json", "-o", "a.html", "--output", "b.html"}, "auditprof: --output given twice (a.html, then b.html): give it once\n"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != ExitUsage || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want exit %d, %q", tc.args, code, stderr, ExitUsage, tc.want)
		}
	}
}

func TestTakesSeveral(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.StringSlice("slice", nil, "")
	fs.StringArray("array", nil, "")
	fs.CountP("verbose", "v", "")
	fs.StringToString("labels", nil, "")
	fs.String("one", "", "")
	fs.Bool("switch", false, "")
	for name, want := range map[string]bool{"slice": true, "array": true, "verbose": true, "labels": true, "one": false, "switch": false} {
		if got := takesSeveral(fs.Lookup(name).Value); got != want {
			t.Errorf("%s: takesSeveral %v, want %v", name, got, want)
		}
	}
}

// TestEnumFlags: every enum flag refuses a value outside its set while
// parsing, in one line (exit 2) naming the values as its usage does, and
// completes its values.
func TestEnumFlags(t *testing.T) {
	checked := 0
	eachFlag(t, func(t *testing.T, root, cmd *cobra.Command, f *pflag.Flag) {
		once, _ := f.Value.(*onceValue)
		if once == nil {
			t.Skip("takes several values")
		}
		e, ok := once.Value.(*enumValue)
		if !ok {
			t.Skip("not an enum")
		}
		checked++
		list := "{" + strings.Join(e.allowed, "|") + "}"
		if !strings.HasSuffix(f.Usage, ": "+list) {
			t.Errorf("usage %q does not end with the values %s", f.Usage, list)
		}
		err := cmd.ParseFlags([]string{"--" + f.Name, "nonsense"})
		if err == nil {
			t.Fatal("nonsense accepted")
		}
		err = root.FlagErrorFunc()(cmd, err)
		want := "--" + f.Name + " must be one of " + list + `, not "nonsense"`
		if exitCode(err) != ExitUsage || err.Error() != want {
			t.Errorf("exit %d, %q; want exit %d, %q", exitCode(err), err, ExitUsage, want)
		}
		complete, ok := cmd.GetFlagCompletionFunc(f.Name)
		if !ok {
			t.Fatal("no completion")
		}
		if got, _ := complete(cmd, nil, ""); strings.Join(got, "|") != strings.Join(e.allowed, "|") {
			t.Errorf("completes %v, want %v", got, e.allowed)
		}
	})
	// --attach (record, top, exporter), --task-state, --sort (rules, top),
	// --consumer (record, exporter).
	if checked != 8 {
		t.Errorf("checked %d enum flags, want 8", checked)
	}
}

// TestConsumerFlags: --consumer and --consumer-hz as record and the
// exporter parse and check them, accepted values included.
func TestConsumerFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		netlink bool
		source  string
		hz      float64
		err     string
	}{
		{args: nil, source: "sample", hz: 20},
		{args: []string{"--consumer-hz", "1000"}, source: "sample", hz: 1000},
		{args: []string{"--consumer-hz", "0.5"}, source: "sample", hz: 0.5},
		{args: []string{"--consumer", "sched-switch"}, source: "sched-switch", hz: 20},
		{args: []string{"--consumer", "off"}, source: "off", hz: 20},
		{args: []string{"--consumer", "sample", "--consumer-hz", "100"}, source: "sample", hz: 100},
		{args: nil, netlink: true, source: "sample", hz: 20},
		{args: []string{"--consumer-hz", "0"}, err: "--consumer-hz must be more than 0 and at most 1000, not 0"},
		{args: []string{"--consumer-hz", "-20"}, err: "--consumer-hz must be more than 0 and at most 1000, not -20"},
		{args: []string{"--consumer-hz", "1000.5"}, err: "at most 1000, not 1000.5"},
		{args: []string{"--consumer-hz", "NaN"}, err: "not NaN"},
		{args: []string{"--consumer", "off", "--consumer-hz", "20"}, err: "--consumer-hz is for --consumer sample, not --consumer off"},
		{args: []string{"--consumer-hz", "20"}, netlink: true, err: "--consumer and --consumer-hz are for BPF"},
		{args: []string{"--consumer", "sched"}, err: `--consumer must be one of {sample|sched-switch|off}, not "sched"`},
	} {
		cmd := &cobra.Command{Use: "x"}
		var c consumerFlags
		addConsumerFlags(cmd, &c)
		err := cmd.ParseFlags(tc.args)
		if err == nil {
			err = c.validate(tc.netlink)
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v (netlink %v): %v", tc.args, tc.netlink, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v (netlink %v): error %v, want %q", tc.args, tc.netlink, err, tc.err)
		case tc.err == "" && (c.Source != tc.source || c.Hz != tc.hz):
			t.Errorf("%v: --consumer %q --consumer-hz %v, want %q %v", tc.args, c.Source, c.Hz, tc.source, tc.hz)
		}
	}
}
