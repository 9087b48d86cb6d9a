package exporter

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Handler serves /metrics from a registry holding only c (no Go or process
// collectors: every series is auditprof_), and at / a page linking it.
func Handler(c *Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!DOCTYPE html>
<html><head><title>auditprof exporter</title></head>
<body><h1>auditprof exporter</h1><p>The Linux audit backlog, measured: <a href="/metrics">/metrics</a></p></body></html>
`)
	})
	return mux
}

// ParseText parses a scrape in the Prometheus text format (what /metrics
// serves by default) into metric families by name. The end-to-end tests
// read the exporter with it.
func ParseText(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return fams, nil
}

// Value returns the value of the counter or gauge series name whose labels
// include the given pairs (label, value, label, value, ...); for a histogram
// h, name h_count or h_sum. ok is false when no series matches, or several do.
func Value(fams map[string]*dto.MetricFamily, name string, labelPairs ...string) (v float64, ok bool) {
	var get func(*dto.Metric) float64
	fam := fams[name]
	switch {
	case fam != nil:
		get = func(m *dto.Metric) float64 {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
			return m.GetUntyped().GetValue()
		}
	case strings.HasSuffix(name, "_count") && fams[strings.TrimSuffix(name, "_count")] != nil:
		fam = fams[strings.TrimSuffix(name, "_count")]
		get = func(m *dto.Metric) float64 { return float64(m.GetHistogram().GetSampleCount()) }
	case strings.HasSuffix(name, "_sum") && fams[strings.TrimSuffix(name, "_sum")] != nil:
		fam = fams[strings.TrimSuffix(name, "_sum")]
		get = func(m *dto.Metric) float64 { return m.GetHistogram().GetSampleSum() }
	default:
		return 0, false
	}
	n := 0
	for _, m := range fam.Metric {
		if hasLabels(m, labelPairs) {
			v = get(m)
			n++
		}
	}
	return v, n == 1
}

// Sum adds up every series of the counter or gauge family name (a family's
// per-rule or per-process series sum to its total).
func Sum(fams map[string]*dto.MetricFamily, name string) float64 {
	var s float64
	for _, m := range fams[name].GetMetric() {
		s += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return s
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		got := "" // an absent label is an empty one
		for _, lp := range m.Label {
			if lp.GetName() == pairs[i] {
				got = lp.GetValue()
			}
		}
		if got != pairs[i+1] {
			return false
		}
	}
	return true
}
