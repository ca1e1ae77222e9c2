// Package oracle checks oc sts against oc itself: for every fixture release
// and install-config variant, `oc adm release extract --credentials-requests
// --cloud=aws --included --install-config` (oc's own command code, at the one
// oc version the module proxy serves) and `oc sts prepare --release-image`
// must select the same CredentialsRequests from the same release image.
//
// This is its own module so that oc's frozen Kubernetes stack (k8s.io v0.30)
// stays out of the product's dependencies; it drives the product as a binary.
package oracle

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/openshift/oc/pkg/cli/admin/release"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"
)

var (
	bin      string
	releases map[string]string // version -> digest pull spec
)

func root() string { wd, _ := os.Getwd(); return filepath.Join(wd, "..", "..") }

func TestMain(m *testing.M) {
	dir, _ := os.MkdirTemp("", "oracle")
	defer os.RemoveAll(dir)
	for _, target := range []string{"./cmd/oc-sts", "./test/cmd/release-registry"} {
		build := exec.Command("go", "build", "-o", dir+"/", target)
		build.Dir = root()
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", target, err, out)
			os.Exit(1)
		}
	}
	bin = filepath.Join(dir, "oc-sts")
	args := []string{}
	for _, v := range []string{"4.12", "4.14", "4.16"} {
		args = append(args, "--release", v+".0="+filepath.Join(root(), "test", "testdata", "credentialsrequests", v))
	}
	reg := exec.Command(filepath.Join(dir, "release-registry"), args...)
	reg.Stderr = os.Stderr
	stdout, _ := reg.StdoutPipe()
	if err := reg.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var info struct {
		Releases map[string]string `json:"releases"`
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &info)
	}
	if err != nil {
		reg.Process.Kill()
		fmt.Fprintln(os.Stderr, "release-registry:", err)
		os.Exit(1)
	}
	releases = info.Releases
	code := m.Run()
	reg.Process.Kill()
	os.Exit(code)
}

const baseInstallConfig = `apiVersion: v1
baseDomain: example.com
metadata:
  name: oracle
platform:
  aws:
    region: us-east-1
pullSecret: '{"auths":{}}'
`

// Install-config variants on which both tools must agree.
var variants = map[string]string{
	"default":                   "",
	"TechPreviewNoUpgrade":      "featureSet: TechPreviewNoUpgrade\n",
	"None+CloudCredential":      "capabilities:\n  baselineCapabilitySet: None\n  additionalEnabledCapabilities: [CloudCredential]\n",
	"None+CloudCredential+more": "capabilities:\n  baselineCapabilitySet: None\n  additionalEnabledCapabilities: [CloudCredential, Storage, Ingress, MachineAPI]\n",
	"v4.11":                     "capabilities:\n  baselineCapabilitySet: v4.11\n",
	"vCurrent":                  "capabilities:\n  baselineCapabilitySet: vCurrent\n",
	// Not compared: capabilities without baselineCapabilitySet. oc errors
	// ("unrecognized baselineCapabilitySet"), the installer defaults it to
	// vCurrent and so does oc sts: the installer decides what the cluster
	// runs, so oc sts follows it.
}

// request is what both tools must agree on for each CredentialsRequest.
type request struct {
	Name, SecretNamespace, SecretName string
	ServiceAccounts                   []string
}

func (r request) String() string {
	sort.Strings(r.ServiceAccounts)
	return fmt.Sprintf("%s -> %s/%s %v", r.Name, r.SecretNamespace, r.SecretName, r.ServiceAccounts)
}

func TestSameCredentialsRequestsAsOc(t *testing.T) {
	for version, spec := range releases {
		for variant, extra := range variants {
			t.Run(version+"/"+variant, func(t *testing.T) {
				dir := t.TempDir()
				ic := filepath.Join(dir, "install-config.yaml")
				os.WriteFile(ic, []byte(baseInstallConfig+extra), 0o600)
				want := fromOc(t, spec, ic)
				got := fromOcSts(t, spec, dir)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("oc sts selected:\n  %s\noc selected:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
				if len(want) == 0 && variant == "default" {
					t.Error("oc selected nothing: the fixture image is broken")
				}
			})
		}
	}
}

// fromOc runs oc's `adm release extract` command code in-process.
func fromOc(t *testing.T, spec, installConfig string) []string {
	t.Helper()
	out := t.TempDir()
	kcmdutil.BehaviorOnFatal(func(msg string, code int) { t.Fatalf("oc: %s (exit %d)", msg, code) })
	defer kcmdutil.DefaultBehaviorOnFatal()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stderr, ErrOut: os.Stderr}
	cmd := release.NewExtract(kcmdutil.NewFactory(genericclioptions.NewConfigFlags(true)), streams)
	cmd.SetArgs([]string{"--credentials-requests", "--cloud=aws", "--included", "--install-config=" + installConfig, "--to=" + out, "--insecure=true", spec})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("oc: %v", err)
	}
	var reqs []string
	files, _ := os.ReadDir(out)
	for _, f := range files {
		data, _ := os.ReadFile(filepath.Join(out, f.Name()))
		for _, doc := range strings.Split(string(data), "\n---\n") {
			var cr struct {
				Metadata struct{ Name string }
				Spec     struct {
					SecretRef           struct{ Name, Namespace string } `json:"secretRef"`
					ServiceAccountNames []string                         `json:"serviceAccountNames"`
				}
			}
			if err := yaml.Unmarshal([]byte(doc), &cr); err != nil || cr.Metadata.Name == "" {
				continue
			}
			reqs = append(reqs, request{cr.Metadata.Name, cr.Spec.SecretRef.Namespace, cr.Spec.SecretRef.Name, cr.Spec.ServiceAccountNames}.String())
		}
	}
	sort.Strings(reqs)
	return reqs
}

// fromOcSts runs the product binary on the same image and install-config.
func fromOcSts(t *testing.T, spec, dir string) []string {
	t.Helper()
	cmd := exec.Command(bin, "prepare", "--no-installer", "--dir", dir, "--release-image", spec, "--offline", "--account-id", "123456789012", "-o", "json")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		if strings.Contains(string(stderr), "no AWS CredentialsRequest is included") {
			return nil
		}
		t.Fatalf("oc-sts: %v\n%s", err, stderr)
	}
	var p struct {
		Roles []struct {
			CredentialsRequest struct {
				Name, SecretNamespace, SecretName string
				ServiceAccounts                   []string
			} `json:"credentialsRequest"`
		}
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for _, r := range p.Roles {
		c := r.CredentialsRequest
		reqs = append(reqs, request{c.Name, c.SecretNamespace, c.SecretName, c.ServiceAccounts}.String())
	}
	sort.Strings(reqs)
	return reqs
}
