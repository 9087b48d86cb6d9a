package cli

import "github.com/spf13/cobra"

// newTopCmd is a placeholder until `top` is written.
func newTopCmd(s streams) *cobra.Command {
	return &cobra.Command{Use: "top", Short: "not yet", Hidden: true}
}
