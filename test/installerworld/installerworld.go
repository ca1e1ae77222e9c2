// Package installerworld runs the real openshift-install (`make test-tools`
// builds it from the installer module, test/tools/openshift-install) on
// install dirs, offline: the few AWS reads `create manifests` makes go over
// HTTPS to the AWS test world's gate (moto serves EC2 and Route 53), and only
// `create manifests` / `create ignition-configs` run, never anything that
// creates infrastructure. What the installer makes of a dir is read from the
// bootstrap ignition config, as the bootstrap node would.
package installerworld

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Binary finds openshift-install: $OPENSHIFT_INSTALL (any installer version
// to check against), else the one `make test-tools` builds.
func Binary() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(file), "..", "..", "bin", "tools", "openshift-install")
	if v := os.Getenv("OPENSHIFT_INSTALL"); v != "" {
		bin = v
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is missing: run `make test-tools` (builds openshift-install from the installer module)", bin)
	}
	return filepath.Abs(bin)
}

// World is an AWS test world as the installer sees it.
type World struct {
	Installer  string
	Endpoint   string // the gate over HTTPS
	CABundle   string // trusts the endpoint and the gate's issuer-host CA
	BaseDomain string
	Region     string
	home       string
}

// SSHKey is a real public key (no private half exists): the installer
// validates the install-config's sshKey.
const SSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPwBuzWY2anXqFrPv3rquBcIwOodbKlWvlbUo/Q51zIp oc-sts-test@example.com"

// New serves gate over HTTPS for the installer, writes a CA bundle that
// trusts it and gateCA (the issuer hosts' CA), and creates the public hosted
// zone of baseDomain in moto, which the installer looks up.
func New(t testing.TB, gate http.Handler, motoURL string, gateCA []byte, baseDomain, region string) *World {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(gate)
	t.Cleanup(srv.Close)
	home := t.TempDir()
	bundle := filepath.Join(home, "ca-bundle.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(bundle, append(append([]byte{}, gateCA...), certPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CreatePublicZone(motoURL, baseDomain); err != nil {
		t.Fatalf("Route 53 hosted zone %s: %v", baseDomain, err)
	}
	return &World{Installer: bin, Endpoint: srv.URL, CABundle: bundle, BaseDomain: baseDomain, Region: region, home: home}
}

// Env is what the installer (and oc sts, which runs it) needs: fake AWS
// credentials and the CA bundle; no AWS_ENDPOINT_URL, the install-config's
// serviceEndpoints say where AWS is.
func (w *World) Env() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true",
		"SSL_CERT_FILE=" + w.CABundle, "AWS_CA_BUNDLE=" + w.CABundle, "HOME=" + w.home,
		"PATH=" + os.Getenv("PATH"),
	}
	return append(env, DataEnv()...)
}

// DataEnv passes on OPENSHIFT_INSTALL_DATA, which a development build of
// the installer given as $OPENSHIFT_INSTALL needs (a release build, as
// `make test-tools` makes, embeds its data).
func DataEnv() []string {
	if v := os.Getenv("OPENSHIFT_INSTALL_DATA"); v != "" {
		return []string{"OPENSHIFT_INSTALL_DATA=" + v}
	}
	return nil
}

// InstallConfig is what `openshift-install create install-config` writes
// for this world (the survey answered: AWS, the region, the base domain),
// plus what running offline needs: zones, so that none are looked up, and
// serviceEndpoints pointing at the world.
func (w *World) InstallConfig(name, pullSecret string) []byte {
	zones := fmt.Sprintf("[%sa, %sb, %sc]", w.Region, w.Region, w.Region)
	var endpoints strings.Builder
	for _, svc := range []string{"ec2", "elasticloadbalancing", "iam", "route53", "s3", "sts", "tagging"} {
		fmt.Fprintf(&endpoints, "    - name: %s\n      url: %s\n", svc, w.Endpoint)
	}
	return fmt.Appendf(nil, `additionalTrustBundlePolicy: Proxyonly
apiVersion: v1
baseDomain: %s
compute:
- architecture: amd64
  hyperthreading: Enabled
  name: worker
  platform:
    aws:
      zones: %s
  replicas: 3
controlPlane:
  architecture: amd64
  hyperthreading: Enabled
  name: master
  platform:
    aws:
      zones: %s
  replicas: 3
metadata:
  creationTimestamp: null
  name: %s
networking:
  clusterNetwork:
  - cidr: 10.128.0.0/14
    hostPrefix: 23
  machineNetwork:
  - cidr: 10.0.0.0/16
  networkType: OVNKubernetes
  serviceNetwork:
  - 172.30.0.0/16
platform:
  aws:
    region: %s
    serviceEndpoints:
%spublish: External
pullSecret: '%s'
sshKey: |
  %s
`, w.BaseDomain, zones, zones, name, w.Region, endpoints.String(), pullSecret, SSHKey)
}

// Run runs the installer with args in dir, in the world's environment plus
// extraEnv, and returns its combined output.
func (w *World) Run(t testing.TB, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	return w.RunBinary(t, w.Installer, extraEnv, args...)
}

// RunBinary is Run with another build of the installer (see WithRelease).
func (w *World) RunBinary(t testing.TB, bin string, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(w.Env(), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// releaseMarker is where a development build of the installer keeps its
// release image; `oc adm release extract --command=openshift-install`
// writes the release's pull spec over it, NUL-terminated.
const releaseMarker = "\x00_RELEASE_IMAGE_LOCATION_\x00"

// WithRelease is an installer that installs spec: a copy made the way `oc
// adm release extract --command` makes a release's installer (in dir), with
// no environment needed. A release build has its own release baked in
// already: then it is the installer itself, with the override variable in
// env.
func (w *World) WithRelease(t testing.TB, dir, spec string) (bin string, env []string) {
	t.Helper()
	data, err := os.ReadFile(w.Installer)
	if err != nil {
		t.Fatal(err)
	}
	// The marker and its padding of X's: the prefix alone may be stored elsewhere too.
	i := bytes.Index(data, []byte(releaseMarker+"XXXXXXXXXXXXXXXX"))
	if i < 0 {
		return w.Installer, []string{"OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE=" + spec}
	}
	end := i + bytes.IndexByte(data[i+len(releaseMarker):], 0) + len(releaseMarker)
	if len(spec)+1 > end-i {
		t.Fatalf("pull spec %s is longer than the marker", spec)
	}
	copy(data[i:], append([]byte(spec), 0))
	sum := sha256.Sum256([]byte(spec))
	bin = filepath.Join(dir, "openshift-install-"+hex.EncodeToString(sum[:4]))
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, nil
}

// CreatePublicZone makes the public hosted zone the installer checks the
// base domain against (moto starts with none), straight at moto.
func CreatePublicZone(motoURL, domain string) error {
	body := fmt.Sprintf(`<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>%s</Name><CallerReference>oc-sts-%d</CallerReference></CreateHostedZoneRequest>`,
		domain, time.Now().UnixNano())
	req, err := http.NewRequest(http.MethodPost, motoURL+"/2013-04-01/hostedzone", strings.NewReader(body))
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "route53", "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("moto answered %s", resp.Status)
	}
	return nil
}
