package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Version is set at build time (-ldflags -X); "devel" otherwise.
var Version = "devel"

// NewVersionCmd prints the version of oc sts.
func NewVersionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of oc sts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(output); err != nil {
				return err
			}
			info := map[string]string{"version": Version}
			if bi, ok := debug.ReadBuildInfo(); ok {
				info["goVersion"] = bi.GoVersion
			}
			if output != "" {
				return printObject(streams.Out, output, info)
			}
			_, err := fmt.Fprintf(streams.Out, "oc sts %s (%s)\n", info["version"], info["goVersion"])
			return err
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}
