package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/exporter"
	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording"
)

// Snapshot intervals, as top's (the timeline ring is emptied every second
// whatever the interval: see recording.Options.Every).
const (
	minExporterInterval = 100 * time.Millisecond
	maxExporterInterval = time.Hour
	// exporterKeepBuckets bounds the timeline kept in memory: a minute.
	exporterKeepBuckets = int(time.Minute / probe.DefaultBucket)
)

type exporterOptions struct {
	streams
	Listen    string
	Interval  time.Duration
	Top       int
	Attach    string
	ReadyFile string
	Output    string
	consumer  consumerFlags

	mode probe.Mode
	// record is recording.Run; tests replace it.
	record func(context.Context, recording.Options) (*profile.Profile, error)
}

func newExporterCmd(s streams) *cobra.Command {
	o := &exporterOptions{streams: s, record: recording.Run}
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Serve the audit backlog's live counters as Prometheus metrics",
		Long: `Attach the BPF programs as record does and serve what they count on
http://ADDR/metrics in the Prometheus text format: records, queued, drained
and lost (by loss class), backlog waits and their time, the queue depth and
limit, the kernel's own lost counter, per audit rule and per program, and
the consumer: auditd's and kauditd's time, and its stalls (the longest in
the last minute, and a histogram of those that ended). The
maps are read every --interval; a scrape serves the latest reading and never
touches them.

Per-rule and per-process series are bounded: the first --top label sets to
carry counts keep their series, and everything else is summed into one
series whose labels are all "other". Counters never go down.

Stops on Ctrl-C or SIGTERM, detaches and, with --output, writes the profile
of the whole run. Needs BPF (fentry or kprobes on audit_log_start): unlike
record it has no netlink fallback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:9812", "serve metrics on this host:port (a non-loopback address is reachable from the network)")
	f.DurationVar(&o.Interval, "interval", time.Second, "how often the kernel maps are read for /metrics (100ms to 1h)")
	f.IntVar(&o.Top, "top", exporter.DefaultTop, "label sets per family (rules, processes) before the rest go to \"other\"")
	addAttachFlag(cmd, &o.Attach, false)
	f.StringVar(&o.ReadyFile, "ready-file", "", "create this file once attached, counting and serving the first reading")
	f.StringVarP(&o.Output, "output", "o", "", "on exit, write the profile of the whole run to this file")
	addConsumerFlags(cmd, &o.consumer)
	return cmd
}

func (o *exporterOptions) validate() error {
	o.mode, _ = attachMode(o.Attach)
	if err := validateListen(o.Listen); err != nil {
		return err
	}
	if err := o.consumer.validate(false); err != nil {
		return err
	}
	if o.Interval < minExporterInterval || o.Interval > maxExporterInterval {
		return usagef("--interval must be between %s and %s, not %s", minExporterInterval, maxExporterInterval, o.Interval)
	}
	if o.Top < 1 {
		return usagef("--top must be at least 1")
	}
	// --output is written at the end of a run that may last days: a
	// directory that does not exist is better said now.
	if o.Output != "" {
		if err := checkOutput("--output", o.Output); err != nil {
			return err
		}
	}
	return checkReadyFile(o.ReadyFile)
}

// validateListen checks host:port before anything is attached: a numeric
// port, and a host that is empty (every interface), an IP or a name.
func validateListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--listen %q: want host:port, e.g. 127.0.0.1:9812", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		return usagef("--listen %q: the port must be a number from 0 to 65535", addr)
	}
	if host != "" && net.ParseIP(host) == nil {
		for _, c := range host {
			if !(c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return usagef("--listen %q: %q is not an IP address or a host name", addr, host)
			}
		}
	}
	return nil
}

func (o *exporterOptions) run(parent context.Context) error {
	// Listen first: a port in use costs no attaching.
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	url := "http://" + ln.Addr().String() + "/metrics"
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		fmt.Fprintf(o.err, "auditprof: warning: listening on %s, not loopback: the metrics (program names, cgroups, audit keys) are reachable from the network\n", o.Listen)
	}

	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	coll := exporter.New(o.Top)
	srv := &http.Server{Handler: exporter.Handler(coll), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		served <- err
		cancel()
	}()
	shutdown := func() error {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
		if err := <-served; err != nil {
			return fmt.Errorf("serving metrics: %w", err)
		}
		return nil
	}

	ready := false
	prof, err := o.record(ctx, recording.Options{
		Attach: o.mode, Every: o.Interval, KeepBuckets: exporterKeepBuckets,
		Consumer: o.consumer.Source, ConsumerHz: o.consumer.Hz,
		Snapshot: func(p *profile.Profile) error {
			if err := coll.Update(p); err != nil {
				return err
			}
			if ready {
				return nil
			}
			ready = true
			fmt.Fprintf(o.err, "auditprof: attached (%s), counting and serving %s; Ctrl-C to stop\n", p.Attach, url)
			return createReadyFile(o.ReadyFile)
		},
	})
	serr := shutdown()
	if errors.Is(err, probe.ErrNoAttach) {
		return noBPFError{"the exporter", err}
	}
	if err != nil {
		return err
	}
	if o.Output != "" {
		if _, err := saveRecording(prof, o.Output); err != nil {
			return errors.Join(err, serr)
		}
		fmt.Fprintf(o.err, "auditprof: profile written to %s\n", o.Output)
	}
	return serr
}
