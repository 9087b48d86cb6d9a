package report

import (
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/report/reporttest"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// TestBrowserRendersCharts: every chart the page promises is drawn, in a
// real browser, with no network.
func TestBrowserRendersCharts(t *testing.T) {
	reporttest.NeedBrowser(t)
	overload, _ := sizingtest.Simulate(10_000, func(int) float64 { return 1.5 }, 5, 5, 64)
	hostile := simulated(t)
	// Would set data-pwned on <body> if it escaped its JSON string.
	hostile.Rules[0].Key = `</script><script>document.body.dataset.pwned=1</script>`
	hostile.Processes[0].Comm = `<img src=x onerror="document.body.dataset.pwned=2">`
	for _, tc := range []struct {
		name string
		p    *profile.Profile
	}{
		{"simulated", simulated(t)},
		{"hostile strings", hostile},
		{"sustained overload", overload},
		{"one hour", oneHour(t)},
		{"consumer stall", withConsumer(stalledProfile())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg, err := Build(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			body := reporttest.CheckCharts(t, pg.HTML, pg.Charts)
			if v, ok := body["data-pwned"]; ok {
				t.Errorf("a profile string ran as script (data-pwned=%s)", v)
			}
			// The depth chart draws the replayed queue beside the
			// recorded one: the evidence behind the recommendation.
			d := dataBlock(t, pg.HTML)
			want := []string{d.DepthLabel, d.Replay.NoLimitLabel, d.Replay.AtLimitLabel, d.Replay.StallLabel}
			for _, w := range want {
				if w != "" && !strings.Contains(body["data-depth-series"], w) {
					t.Errorf("depth chart's series %q lack %q", body["data-depth-series"], w)
				}
			}
			if tc.name == "consumer stall" && d.Replay.StallLabel == "" {
				t.Error("no stall band")
			}
		})
	}
}
