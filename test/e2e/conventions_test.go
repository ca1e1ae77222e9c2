package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// `make install` puts the binary and the completion shims side by side;
// the real kubectl, with them on PATH, completes `kubectl sts`.
func TestCompletionThroughKubectl(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl on PATH")
	}
	bin := t.TempDir()
	install := exec.Command("make", "-s", "install", "BINDIR="+bin)
	install.Dir = repoRoot()
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, name := range []string{"oc-sts", "kubectl-sts", "kubectl_complete-sts", "oc_complete-sts"} {
		if st, err := os.Stat(filepath.Join(bin, name)); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("make install: %s: %v", name, err)
		}
	}
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	complete := func(cmd string, args ...string) string {
		c := exec.Command(cmd, args...)
		c.Env = env
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", cmd, args, err)
		}
		return string(out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sts", "pre"}, "prepare\t"},
		{[]string{"sts", "upgrade"}, "upgrade-check\t"},
		{[]string{"sts", "prepare", "--expl"}, "--explain\t"},
		{[]string{"sts", "prepare", "-o", ""}, "json\nyaml\n"},
	} {
		if got := complete(kubectl, append([]string{"__complete"}, tt.args...)...); !strings.Contains(got, tt.want) {
			t.Errorf("kubectl __complete %v:\n%s\nwant %q", tt.args, got, tt.want)
		}
	}
	// oc runs oc_complete-sts the same way (its plugin code is kubectl's).
	if got := complete(filepath.Join(bin, "oc_complete-sts"), "prepare", "--dir"); !strings.Contains(got, "--dir\t") {
		t.Errorf("oc_complete-sts prepare --dir:\n%s", got)
	}
	// Without the shim kubectl has nothing to offer.
	os.Remove(filepath.Join(bin, "kubectl_complete-sts"))
	if got := complete(kubectl, "__complete", "sts", "pre"); strings.Contains(got, "prepare") {
		t.Errorf("completion without the shim: %s", got)
	}
}

// Help reads as the plugin is run: `oc sts …`; every flag's value is
// named by its type (a backquoted word in a help text would rename it).
func TestHelpConventions(t *testing.T) {
	t.Parallel()
	flagLine := regexp.MustCompile(`^\s+(?:-\w, )?--[\w-]+(?: (\S+))?\s{2,}`)
	types := map[string]bool{"": true, "string": true, "int": true, "duration": true, "stringToString": true, "strings": true, "stringArray": true}
	for _, cmd := range [][]string{{}, {"prepare"}, {"verify"}, {"upgrade-check"}, {"destroy"}} {
		res := run(t, true, append(cmd, "--help")...)
		if res.code != 0 {
			t.Fatalf("%v --help: exit %d %s", cmd, res.code, res.stderr)
		}
		if want := strings.TrimSpace("oc sts " + strings.Join(cmd, " ")); !strings.Contains(res.stdout, "Usage:\n  "+want) {
			t.Errorf("%v --help: usage is not %q:\n%s", cmd, want, res.stdout)
		}
		if strings.Contains(res.stdout, "oc-sts ") {
			t.Errorf("%v --help names the binary, not the plugin:\n%s", cmd, res.stdout)
		}
		for _, line := range strings.Split(res.stdout, "\n") {
			if m := flagLine.FindStringSubmatch(line); m != nil && !types[m[1]] {
				t.Errorf("%v --help: flag value named %q: %s", cmd, m[1], line)
			}
		}
	}
}

// -v takes a klog level, as in oc and kubectl; the inclusion table is
// --explain's.
func TestVerbosityLevel(t *testing.T) {
	t.Parallel()
	crs := testdata("credentialsrequests", "4.16")
	for _, v := range [][]string{{"-v", "6"}, {"-v=6"}, {"--v", "2"}} {
		res := run(t, true, offlineArgs(exampleDir(t, nil), crs, v...)...)
		if res.code != 0 {
			t.Errorf("%v: exit %d\n%s", v, res.code, res.stderr)
		}
		if strings.Contains(res.stderr, "CREDENTIALSREQUEST") {
			t.Errorf("%v prints the inclusion table", v)
		}
	}
	res := run(t, true, offlineArgs(exampleDir(t, nil), crs, "--explain")...)
	if res.code != 0 || !strings.Contains(res.stderr, "CREDENTIALSREQUEST") {
		t.Errorf("--explain: exit %d\n%s", res.code, res.stderr)
	}
	if res := run(t, true, offlineArgs(exampleDir(t, nil), crs, "-v", "x")...); res.code == 0 || !strings.Contains(res.stderr, "-v") {
		t.Errorf("-v x: exit %d %s", res.code, res.stderr)
	}
}

// Every flag is checked before the first network call: online, in a
// network namespace of its own, a bad flag is reported as itself, not as
// an unreachable AWS or registry.
func TestFlagsCheckedBeforeNetwork(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		args []string
		want string
	}{
		"role path":            {[]string{"--role-path", "openshift"}, "--role-path"},
		"permissions boundary": {[]string{"--permissions-boundary", "arn:aws:iam::1:role/x"}, "--permissions-boundary"},
		"tag":                  {[]string{"--tag", "aws:x=y"}, "aws:"},
		"name":                 {[]string{"--name", strings.Repeat("a", 60)}, "63-character limit"},
		"account":              {[]string{"--account-id", "12"}, "--account-id"},
		"wait timeout":         {[]string{"--private-bucket", "--wait-timeout", "0s"}, "--wait-timeout"},
		"region":               {[]string{"--region", "eu-west-1"}, "platform.aws.region"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"prepare", "--no-installer", "--dir", exampleDir(t, nil), "--release-image", "registry.example:5000/ocp/release:4.16", "--yes"}, tt.args...)
			res := run(t, true, args...)
			if res.code == 0 || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, tt.want)
			}
			for _, network := range []string{"registry.example", "dial", "lookup", "connect", "credentials"} {
				if strings.Contains(res.stderr, network) {
					t.Errorf("reported after a network call (%q): %s", network, res.stderr)
				}
			}
		})
	}
}
