package installconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func example(t testing.TB) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "examples", "install-dir", FileName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseExample(t *testing.T) {
	c, err := Parse(FileName, example(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClusterName != "demo" || c.Region != "us-east-2" || c.CredentialsMode != "" || c.PullSecret == "" {
		t.Errorf("parsed %+v", c)
	}
}

// Setting Manual adds exactly one line; every other byte stays.
func TestSetManualInsertsOneLine(t *testing.T) {
	orig := example(t)
	c, _ := Parse(FileName, orig)
	out := c.SetManual()
	if got, want := strings.Replace(string(out), "credentialsMode: Manual\n", "", 1), string(orig); got != want {
		t.Errorf("more than the credentialsMode line changed:\n%s", out)
	}
	again, err := Parse(FileName, out)
	if err != nil || again.CredentialsMode != ManualMode {
		t.Fatalf("re-parse: %v, mode %q", err, again.CredentialsMode)
	}
	if string(again.SetManual()) != string(out) {
		t.Error("a second edit changed the file")
	}
}

func TestSetManualOtherShapes(t *testing.T) {
	for name, in := range map[string]string{
		"flow style":        `{apiVersion: v1, platform: {aws: {region: us-east-1}}}`,
		"empty mode":        "apiVersion: v1\ncredentialsMode: \"\"\nplatform:\n  aws:\n    region: us-east-1\n",
		"no final newline":  "platform:\n  aws:\n    region: us-east-1\napiVersion: v1",
		"CRLF":              "apiVersion: v1\r\nplatform:\r\n  aws:\r\n    region: us-east-1\r\n",
		"apiVersion quoted": "# head\napiVersion: \"v1\" # trailing\nplatform:\n  aws:\n    region: us-east-1\n",
	} {
		c, err := Parse(FileName, []byte(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := c.SetManual()
		re, err := Parse(FileName, out)
		if err != nil || re.CredentialsMode != ManualMode || re.Region != "us-east-1" {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
		if strings.Contains(in, "# ") && !strings.Contains(string(out), "# trailing") {
			t.Errorf("%s: comment lost:\n%s", name, out)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for name, tt := range map[string]struct{ in, want string }{
		"malformed":     {"apiVersion: v1\nplatform: [\n", FileName + ":2: did not find expected node content"},
		"indentation":   {"apiVersion: v1\nmetadata:\n  name: a\n bad: b\n", FileName + ":4: "},
		"region twice":  {"apiVersion: v1\nplatform:\n  aws:\n    region: us-east-1\n    region: eu-west-1\n", FileName + ":5: platform.aws.region: key \"region\" is already set at line 4"},
		"mode twice":    {"apiVersion: v1\ncredentialsMode: Manual\ncredentialsMode: Mint\nplatform:\n  aws:\n    region: x\n", FileName + ":3: credentialsMode: key"},
		"name twice":    {"apiVersion: v1\nmetadata: {name: a, name: b}\nplatform:\n  aws:\n    region: x\n", FileName + ":2: metadata.name: key"},
		"empty":         {"", "is empty"},
		"not a mapping": {"- a\n", "YAML mapping"},
		"gcp":           {"apiVersion: v1\nplatform:\n  gcp:\n    region: x\n", FileName + ":3: platform: is \"gcp\""},
		"mint":          {"apiVersion: v1\ncredentialsMode: Mint\nplatform:\n  aws:\n    region: x\n", FileName + ":2: credentialsMode: is \"Mint\""},
		"no region":     {"apiVersion: v1\nplatform:\n  aws: {}\n", "platform.aws.region"},
		"no platform":   {"apiVersion: v1\n", "platform"},
		"old version":   {"apiVersion: v0\nplatform:\n  aws:\n    region: x\n", ":1: apiVersion: want v1"},
		"two documents": {"apiVersion: v1\n---\napiVersion: v1\n", "more than one YAML document"},
		"feature set":   {"apiVersion: v1\nfeatureSet: Bogus\nplatform:\n  aws:\n    region: x\n", ":2: featureSet"},
		"capabilities":  {"apiVersion: v1\ncapabilities:\n  baselineCapabilitySet: v0\nplatform:\n  aws:\n    region: x\n", ":2: featureSet/featureGates/capabilities"},
	} {
		_, err := Parse(FileName, []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", name, err, tt.want)
		}
	}
}

func topLevel(t *testing.T, data []byte) map[string]any {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return m
}

// Whatever valid install-config comes in, the edit sets Manual, keeps every
// other field's value, and is idempotent.
func FuzzSetManual(f *testing.F) {
	f.Add(string(example(f)))
	f.Add("apiVersion: v1\nplatform:\n  aws:\n    region: us-east-1\n")
	f.Add("{apiVersion: v1, platform: {aws: {region: us-east-1}}}")
	f.Add("apiVersion: v1 # c\n\n# x\nplatform: {aws: {region: r}}\nz: |\n  a\n")
	f.Add(`{"apiVersion": "v1", "credentialsMode": null, "platform": {"aws": {"region": "r"}}}`)
	f.Add("apiVersion: v1\ncredentialsMode: # c\nplatform: {aws: {region: r}}\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(FileName, []byte(in))
		if err != nil {
			return
		}
		out := c.SetManual()
		re, err := Parse(FileName, out)
		if err != nil {
			t.Fatalf("edited file does not parse: %v\n%q", err, out)
		}
		if re.CredentialsMode != ManualMode {
			t.Fatalf("mode %q", re.CredentialsMode)
		}
		before, after := topLevel(t, []byte(in)), topLevel(t, out)
		delete(before, "credentialsMode")
		delete(after, "credentialsMode")
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("fields changed:\n%v\n%v", before, after)
		}
		if json.Valid([]byte(in)) && !json.Valid(out) {
			t.Fatalf("a JSON install-config is no longer JSON:\n%s", out)
		}
		if string(re.SetManual()) != string(out) {
			t.Fatal("not idempotent")
		}
	})
}

// Every shape the installer accepts is edited in place: the expected file
// is the input with exactly the credentialsMode bytes changed.
func TestSetManualByteExact(t *testing.T) {
	const region = "platform:\n  aws:\n    region: us-east-1\n"
	for name, tt := range map[string]struct{ in, want string }{
		"empty":           {"apiVersion: v1\ncredentialsMode:\n" + region, "apiVersion: v1\ncredentialsMode: Manual\n" + region},
		"empty, comment":  {"apiVersion: v1\ncredentialsMode: # set by oc sts\n\n" + region, "apiVersion: v1\ncredentialsMode: Manual # set by oc sts\n\n" + region},
		"null":            {"# head\napiVersion: v1\n\ncredentialsMode: null   # x\n" + region, "# head\napiVersion: v1\n\ncredentialsMode: Manual   # x\n" + region},
		"tilde":           {"apiVersion: v1\ncredentialsMode: ~\n" + region, "apiVersion: v1\ncredentialsMode: Manual\n" + region},
		"empty quotes":    {"apiVersion: v1\n\"credentialsMode\": ''\n" + region, "apiVersion: v1\n\"credentialsMode\": Manual\n" + region},
		"last, no EOL":    {"apiVersion: v1\n" + region + "credentialsMode:", "apiVersion: v1\n" + region + "credentialsMode: Manual"},
		"flow":            {"{apiVersion: v1, platform: {aws: {region: us-east-1}}}", `{"credentialsMode": "Manual", apiVersion: v1, platform: {aws: {region: us-east-1}}}`},
		"JSON":            {"{\n  \"apiVersion\": \"v1\",\n  \"platform\": {\"aws\": {\"region\": \"us-east-1\"}}\n}\n", "{\n  \"credentialsMode\": \"Manual\",\n  \"apiVersion\": \"v1\",\n  \"platform\": {\"aws\": {\"region\": \"us-east-1\"}}\n}\n"},
		"JSON, tabs":      {"{\n\t\"apiVersion\": \"v1\",\n\t\"platform\": {\"aws\": {\"region\": \"us-east-1\"}}\n}", "{\n\t\"credentialsMode\": \"Manual\",\n\t\"apiVersion\": \"v1\",\n\t\"platform\": {\"aws\": {\"region\": \"us-east-1\"}}\n}"},
		"JSON empty mode": {`{"apiVersion":"v1","credentialsMode":"","platform":{"aws":{"region":"us-east-1"}}}`, `{"apiVersion":"v1","credentialsMode":"Manual","platform":{"aws":{"region":"us-east-1"}}}`},
		"JSON null mode":  {`{"apiVersion":"v1","credentialsMode": null,"platform":{"aws":{"region":"us-east-1"}}}`, `{"apiVersion":"v1","credentialsMode": "Manual","platform":{"aws":{"region":"us-east-1"}}}`},
		"JSON one line":   {`{"apiVersion":"v1","platform":{"aws":{"region":"us-east-1"}}}`, `{"credentialsMode": "Manual", "apiVersion":"v1","platform":{"aws":{"region":"us-east-1"}}}`},
	} {
		c, err := Parse(FileName, []byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.CredentialsMode != "" {
			t.Errorf("%s: parsed mode %q, want unset", name, c.CredentialsMode)
		}
		if got := string(c.SetManual()); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, tt.want)
		}
	}
}
