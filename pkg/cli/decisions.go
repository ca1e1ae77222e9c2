package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/oc-sts/oc-sts/pkg/credreq"
)

func printDecisions(w io.Writer, decisions []credreq.Decision) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREDENTIALSREQUEST\tFILE\tINCLUDED\tREASON")
	for _, d := range decisions {
		included := "no"
		if d.Included {
			included = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.File, included, d.Reason)
	}
	tw.Flush()
}

// printSources says what decided the feature set and each feature gate and
// capability the CredentialsRequests name.
func printSources(w io.Writer, sources []credreq.Source) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nINPUT\tNAME\tENABLED\tDECIDED BY")
	for _, s := range sources {
		enabled := "no"
		if s.Enabled {
			enabled = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Kind, s.Name, enabled, s.DecidedBy)
	}
	tw.Flush()
}
