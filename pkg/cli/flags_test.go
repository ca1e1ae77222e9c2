package cli

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func help(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	cmd.SetArgs(append(args, "--help"))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v --help: %v", args, err)
	}
	return out.String()
}

// prepare --help lists the Hive flags in their own section, after the
// others, and not among them.
func TestHiveFlagsHaveTheirOwnHelpSection(t *testing.T) {
	out := help(t, "prepare")
	main, hive, ok := strings.Cut(out, "\nHive flags (")
	if !ok {
		t.Fatalf("no Hive flags section:\n%s", out)
	}
	for _, f := range []string{"--hive", "--hive-namespace", "--apply-to-hub", "--cluster-deployment", "--kubeconfig", "--context"} {
		f = "  " + f + " " // the flag's own line, not a mention in another's help
		if strings.Contains(main, f) || !strings.Contains(hive, f) {
			t.Errorf("%s is not (only) in the Hive section", f)
		}
	}
	for _, f := range []string{"--offline", "--profile", "--dry-run", "-y, --yes"} {
		f = "  " + f + " " // its own line
		if !strings.Contains(main, f) || strings.Contains(hive, f) {
			t.Errorf("%s is not (only) in the main section", f)
		}
	}
}

// The shared flag groups give every command one spelling of their help.
func TestSharedFlagsHaveOneHelpText(t *testing.T) {
	const profile = "AWS shared-config profile (default: $AWS_PROFILE, then the default credential chain)."
	for _, c := range []string{"prepare", "verify", "upgrade-check", "destroy"} {
		if out := help(t, c); strings.Count(out, "--profile") != 1 || !strings.Contains(out, profile) {
			t.Errorf("%s --help: --profile is not listed once with the shared text:\n%s", c, out)
		}
	}
	for _, c := range []string{"prepare", "upgrade-check", "destroy"} {
		if out := help(t, c); !strings.Contains(out, "Show the AWS changes and stop") {
			t.Errorf("%s --help: --dry-run lacks the shared text", c)
		}
	}
}
