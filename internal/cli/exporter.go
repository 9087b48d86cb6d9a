package cli

import "github.com/spf13/cobra"

// newExporterCmd is a placeholder until `exporter` is written.
func newExporterCmd(s streams) *cobra.Command {
	return &cobra.Command{Use: "exporter", Short: "not yet", Hidden: true}
}
