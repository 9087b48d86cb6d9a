// Command auditprof measures the Linux kernel's audit backlog.
package main

import (
	"os"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/cli"
)

func main() {
	// AUDIT_GET runs in a child process (see auditnl); this is that child.
	auditnl.ServeChild()
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
