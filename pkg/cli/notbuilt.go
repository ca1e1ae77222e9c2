package cli

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// newNotBuiltCmd registers a planned command, with the kube flags it will
// take, that says it is not built and exits 2.
func newNotBuiltCmd(streams genericiooptions.IOStreams, use, short, example string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short + " (not built yet)",
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errNotBuilt("oc sts " + use)
		},
	}
	genericclioptions.NewConfigFlags(true).AddFlags(cmd.Flags())
	addOutputFlag(cmd, new(string))
	return cmd
}
