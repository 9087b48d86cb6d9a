package vmtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

type tsWriter struct{ start time.Time }

func (w tsWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(os.Stderr, "{%6.2f}%s", time.Since(w.start).Seconds(), p)
	return len(p), nil
}

func TestZZDebug(t *testing.T) {
	script := os.Getenv("VMTEST_DEBUG_SCRIPT")
	if script == "" {
		t.Skip()
	}
	assets := AssetsOrSkip(t)
	ks, _ := Kernels(assets)
	for _, k := range ks {
		if n := os.Getenv("VMTEST_DEBUG_KERNEL"); n != "" && n != k.Name {
			continue
		}
		var args []string
		if a := os.Getenv("VMTEST_DEBUG_ARGS"); a != "" {
			args = []string{a}
		}
		res, err := Run(context.Background(), Options{Kernel: k, Assets: assets, Script: script, KernelArgs: args, Output: tsWriter{time.Now()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("exit %d boot %s dur %s sections %q", res.ExitCode, res.BootTime, res.Duration, res.Sections)
	}
}
