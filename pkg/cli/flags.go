package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// Flag groups own their flags: each registers its flags once, with one
// help text, on every command that takes them.

// awsFlags are the AWS credentials flags of every command that calls AWS.
type awsFlags struct {
	Profile string
}

func (f *awsFlags) Bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Profile, "profile", "", "AWS shared-config profile (default: $AWS_PROFILE, then the default credential chain).")
}

// changeFlags are how a command that changes AWS goes about it.
type changeFlags struct {
	DryRun bool
	Yes    bool
}

func (f *changeFlags) Bind(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.DryRun, "dry-run", false, "Show the AWS changes and stop: nothing is changed in AWS or on disk.")
	cmd.Flags().BoolVarP(&f.Yes, "yes", "y", false, "Make the changes without asking (required when stdin is not a terminal).")
}

// bindKubeFlags registers kubectl's connection flags (--kubeconfig,
// --context, -n, ...) on cmd, listed in --help in their own section after
// the command's own flags, which they would otherwise bury.
func bindKubeFlags(cmd *cobra.Command, cf *genericclioptions.ConfigFlags) {
	fs := pflag.NewFlagSet("kube", pflag.ContinueOnError)
	cf.AddFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		f.Annotations = map[string][]string{flagGroup: {"Cluster connection flags (as kubectl's)"}}
		cmd.Flags().AddFlag(f)
	})
}

// flagGroup is the annotation that lists a flag in its own section of --help.
const flagGroup = "oc-sts.openshift.io/flag-group"

// group lists the named flags of fs under title in --help.
func group(fs *pflag.FlagSet, title string, names ...string) {
	for _, n := range names {
		if err := fs.SetAnnotation(n, flagGroup, []string{title}); err != nil {
			panic(err) // a flag named here is not registered: a programming error
		}
	}
}

// groupedFlagUsages are a command's own flags, the ungrouped first, then
// each group under its title, in the order the groups first appear.
func groupedFlagUsages(c *cobra.Command) string {
	rest := pflag.NewFlagSet("", pflag.ContinueOnError)
	groups := map[string]*pflag.FlagSet{}
	var titles []string
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		title := ""
		if t := f.Annotations[flagGroup]; len(t) > 0 {
			title = t[0]
		}
		if title == "" {
			rest.AddFlag(f)
			return
		}
		if groups[title] == nil {
			groups[title] = pflag.NewFlagSet(title, pflag.ContinueOnError)
			titles = append(titles, title)
		}
		groups[title].AddFlag(f)
	})
	out := "Flags:\n" + strings.TrimRight(rest.FlagUsages(), " \n")
	for _, t := range titles {
		out += "\n\n" + t + ":\n" + strings.TrimRight(groups[t].FlagUsages(), " \n")
	}
	return out
}

// withFlagGroups makes cmd's (and its sub-commands') help list grouped
// flags in their sections: cobra's usage template with its Flags section
// replaced.
func withFlagGroups(cmd *cobra.Command) {
	cobra.AddTemplateFunc("groupedFlagUsages", groupedFlagUsages)
	const flags = "Flags:\n{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}"
	tmpl := cmd.UsageTemplate()
	if !strings.Contains(tmpl, flags) {
		panic("cobra's usage template has no Flags section to group")
	}
	cmd.SetUsageTemplate(strings.Replace(tmpl, flags, "{{groupedFlagUsages .}}", 1))
}
