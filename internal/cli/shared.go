package cli

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

// bpfAttach are the --attach values of the commands that need BPF (top,
// the exporter); record also takes netlink.
var bpfAttach = []string{string(probe.ModeAuto), string(probe.ModeFentry), string(probe.ModeKprobe)}

// addAttachFlag defines --attach; withNetlink adds record's netlink, which
// loads no BPF at all.
func addAttachFlag(cmd *cobra.Command, p *string, withNetlink bool) {
	if withNetlink {
		enumFlag(cmd, p, "attach", string(probe.ModeAuto), append(slices.Clip(bpfAttach), profile.AttachNetlink),
			"program family, or netlink for no BPF")
		return
	}
	enumFlag(cmd, p, "attach", string(probe.ModeAuto), bpfAttach, "program family")
}

// attachMode is an --attach value as the recorder takes it: a BPF program
// family, or netlink. The flag has checked the value.
func attachMode(attach string) (mode probe.Mode, netlink bool) {
	if attach == profile.AttachNetlink {
		return "", true
	}
	return probe.Mode(attach), false
}

// addSortFlag defines --sort, one set of keys for every command that ranks
// rules or processes.
func addSortFlag(cmd *cobra.Command, p *string, usage string) {
	enumFlag(cmd, p, "sort", ranking.Records, ranking.Keys(), usage)
}

// taskStates are --task-state's values (probe.Options.TaskState).
var taskStates = []string{"auto", "task-storage", "hash"}
