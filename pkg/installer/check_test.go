package installer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var want = Expected{
	Manifests: map[string][]byte{
		"ns-a-credentials.yaml":                 []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\n"),
		"cluster-authentication-02-config.yaml": []byte("apiVersion: config.openshift.io/v1\nkind: Authentication\nmetadata: {name: cluster}\n"),
	},
	SignerKey: []byte("KEY"),
}

// dir lays out an install dir: rel path -> content.
func dir(t *testing.T, files map[string]string) string {
	t.Helper()
	d := t.TempDir()
	for rel, data := range files {
		p := filepath.Join(d, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func prepared(extra map[string]string) map[string]string {
	files := map[string]string{clusterConfig: "kind: ConfigMap\n", SignerKeyFile: "KEY"}
	for name, data := range want.Manifests {
		files["manifests/"+name] = string(data)
	}
	for k, v := range extra {
		if v == "" {
			delete(files, k)
		} else {
			files[k] = v
		}
	}
	return files
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error; none: no error
	}{
		{"complete", prepared(nil), nil},
		{"before create manifests", prepared(map[string]string{clusterConfig: "", InstallConfigFile: "apiVersion: v1\n"}), []string{"not been consumed yet"}},
		{"install-config back", prepared(map[string]string{InstallConfigFile: "apiVersion: v1\n"}), []string{"is back after `create manifests`"}},
		{"no manifests", prepared(map[string]string{clusterConfig: ""}), []string{"cluster-config.yaml is missing"}},
		{"secret missing, key differs", prepared(map[string]string{"manifests/ns-a-credentials.yaml": "", SignerKeyFile: "OTHER"}),
			[]string{"ns-a-credentials.yaml is missing", "not the signer key"}},
		{"changed since", prepared(map[string]string{"manifests/ns-a-credentials.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\nstringData: {}\n"}), []string{"not what oc sts wrote"}},
		{"a second Authentication", prepared(map[string]string{"manifests/other.yml": "kind: ConfigMap\n---\napiVersion: config.openshift.io/v1\nkind: Authentication\nmetadata:\n  name: cluster\n"}),
			[]string{"other.yml defines Authentication cluster too"}},
		{"root credentials Secret beside ours", prepared(map[string]string{"manifests/x.json": `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"ns"}}`}),
			[]string{"x.json defines Secret ns/a too"}},
		{"in openshift/ too", prepared(map[string]string{"openshift/99_x.yaml": "apiVersion: config.openshift.io/v1\nkind: Authentication\nmetadata: {name: cluster}\n"}),
			[]string{"openshift/99_x.yaml defines Authentication cluster too"}},
		{"key missing", prepared(map[string]string{SignerKeyFile: ""}), []string{"tls/bound-service-account-signing-key.key is missing"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(dir(t, tt.files), want)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestCheckAfterIgnition(t *testing.T) {
	err := Check(dir(t, map[string]string{"bootstrap.ign": "{}"}), want)
	if err == nil || !strings.Contains(err.Error(), "ignition configs were already created") {
		t.Fatal(err)
	}
}
