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

// The commands that talk to a cluster list kubectl's connection flags in
// their own section, after their own flags, which they would bury.
func TestKubeFlagsHaveTheirOwnHelpSection(t *testing.T) {
	for _, c := range []string{"verify", "upgrade-check", "rotate-key", "operator"} {
		out := help(t, c)
		own, kube, ok := strings.Cut(out, "\nCluster connection flags (")
		if !ok {
			t.Errorf("%s --help: no cluster connection section:\n%s", c, out)
			continue
		}
		for _, f := range []string{"--kubeconfig", "--context", "-n, --namespace", "--token"} {
			f = "  " + f + " "
			if strings.Contains(own, f) || !strings.Contains(kube, f) {
				t.Errorf("%s --help: %s is not (only) in the cluster connection section", c, f)
			}
		}
		if !strings.Contains(own, "  -o, --output ") {
			t.Errorf("%s --help: -o is not among the command's own flags", c)
		}
	}
}
