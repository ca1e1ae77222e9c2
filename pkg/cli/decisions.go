package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/oc-sts/oc-sts/pkg/credreq"
)

func printDecisions(w io.Writer, decisions []credreq.Decision) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREDENTIALSREQUEST\tFILE\tINCLUDED\tREASON")
	for _, d := range decisions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printable(d.Name), printable(d.File), yesNo(d.Included), printable(d.Reason))
	}
	tw.Flush()
}

// printSources says what decided the feature set and each feature gate and
// capability the CredentialsRequests name.
func printSources(w io.Writer, sources []credreq.Source) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nINPUT\tNAME\tENABLED\tDECIDED BY")
	for _, s := range sources {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Kind, printable(s.Name), yesNo(s.Enabled), s.DecidedBy)
	}
	tw.Flush()
}

// printable quotes text from a release image that holds control
// characters (a left-out request's name is not validated), so it cannot
// rewrite the terminal or fake lines of the listing.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// yesNo is a table's boolean column.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
