// Package probe loads and attaches auditprof's BPF programs and reads their
// kernel maps.
package probe

// The generated files are committed so that `go build` needs no clang;
// `make generate` rebuilds them (and a test fails when they are stale).
//go:generate go tool bpf2go -tags linux -target amd64,arm64 -type counters -type proc_stats -type prog_key -type prog_stats -type rule_prog_key -type rule_prog_stats -type proc_slot -type rule_key -type rule_stats -type tl_slot -type reason_stats -type sizes -type defaults -type rule_syscall -type consumer_cause -type consumer_sizes -type consumer_key -type consumer_time -type consumer_thread -type setting_change -type settings_sizes -type claim_table backlog ../../bpf/backlog.bpf.c -- -I../../bpf/headers -Wall -Werror
