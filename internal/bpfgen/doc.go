// Package bpfgen holds the check that every committed bpf2go output is the
// one its go:generate line makes today: internal/probe's (auditprof's
// programs) and internal/e2e/floor's (make bench's floor). It has no code.
package bpfgen
