// Command floor is make bench's floor (issue 14): it attaches, to the hooks
// auditprof uses, programs that only count their runs in a per-CPU array,
// and holds them until SIGINT or SIGTERM. The guest time a load takes with
// it, against none and against auditprof, splits auditprof's cost into the
// cost of attaching at all and auditprof's own work. A benchmark tool run
// in the guest only; auditprof never loads it.
package main

// The generated files are committed so that `go build` needs no clang;
// `make generate` rebuilds them (and a test fails when they are stale).
//go:generate go tool bpf2go -tags linux -target amd64,arm64 floor ../../../bpf/floor.bpf.c -- -I../../../bpf/headers -Wall -Werror
