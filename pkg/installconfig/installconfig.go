// Package installconfig reads the fields of an openshift-install
// install-config.yaml that oc sts needs, and sets credentialsMode: Manual
// without disturbing anything else in the file.
package installconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	"gopkg.in/yaml.v3"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/yamlcheck"
)

// FileName is the installer's input file.
const FileName = "install-config.yaml"

// ManualMode is the credentialsMode that STS clusters use.
const ManualMode = "Manual"

// Config is what oc sts reads from an install-config.
type Config struct {
	File            string
	Raw             []byte
	ClusterName     string
	Region          string
	CredentialsMode string
	PullSecret      string // never logged
	Architecture    string // controlPlane.architecture, GOARCH style
	Mirrors         []Mirror
	Inclusion       credreq.ClusterSettings

	root *yaml.Node
}

// Mirror is an imageDigestSources or imageContentSources entry.
type Mirror struct {
	Source       string   `yaml:"source"`
	Mirrors      []string `yaml:"mirrors"`
	SourcePolicy string   `yaml:"sourcePolicy"`
}

// FieldError points at a field of the file.
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// Parse reads data (the content of file) and checks it describes an AWS
// cluster whose credentials mode can be Manual.
func Parse(file string, data []byte) (*Config, error) {
	doc := &yaml.Node{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s is empty: run `openshift-install create install-config` first", file)
		}
		return nil, yamlcheck.SyntaxAt(file, data, err)
	}
	if err := dec.Decode(&yaml.Node{}); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: holds more than one YAML document; the installer reads only one", file)
	}
	// The installer refuses a key set twice; reading the last one would
	// create AWS resources for a region or name the install never uses.
	if err := yamlcheck.Duplicates(file, doc); err != nil {
		return nil, err
	}
	root := doc
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	c := &Config{File: file, Raw: data, root: root}
	fe := func(n *yaml.Node, field, format string, a ...any) error {
		line := 0
		if n != nil {
			line = n.Line
		}
		return &FieldError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	if root.Kind != yaml.MappingNode {
		return nil, fe(root, "(top level)", "an install-config is a YAML mapping")
	}
	if v, _ := lookup(root, "apiVersion"); v == nil || v.Value != "v1" {
		return nil, fe(v, "apiVersion", "want v1")
	}
	if name, _ := lookup(root, "metadata", "name"); name != nil {
		c.ClusterName = name.Value
	}
	platform, pkey := lookup(root, "platform")
	if platform == nil || platform.Kind != yaml.MappingNode || len(platform.Content) == 0 {
		return nil, fe(pkey, "platform", "missing: oc sts needs platform.aws")
	}
	if got := platform.Content[0].Value; got != "aws" || len(platform.Content) != 2 {
		return nil, fe(platform.Content[0], "platform", "is %q: oc sts sets up AWS STS only; use the ccoctl mode of your cloud instead", got)
	}
	region, rkey := lookup(root, "platform", "aws", "region")
	if region == nil || region.Value == "" {
		return nil, fe(rkey, "platform.aws.region", "missing: set the AWS region of the cluster")
	}
	c.Region = region.Value
	mode, _ := lookup(root, "credentialsMode")
	if mode != nil && mode.Tag != "!!null" { // `credentialsMode:`, null and ~ are unset, as for the installer
		c.CredentialsMode = mode.Value
		if mode.Value != ManualMode && mode.Value != "" {
			return nil, fe(mode, "credentialsMode", "is %q: STS needs Manual; remove the line or set credentialsMode: Manual", mode.Value)
		}
	}
	if ps, _ := lookup(root, "pullSecret"); ps != nil {
		c.PullSecret = ps.Value
	}
	if arch, _ := lookup(root, "controlPlane", "architecture"); arch != nil {
		c.Architecture = arch.Value
	}
	for _, field := range []string{"imageDigestSources", "imageContentSources"} {
		if n, key := lookup(root, field); n != nil {
			var ms []Mirror
			if err := n.Decode(&ms); err != nil {
				return nil, fe(key, field, "want a list of {source, mirrors}: %v", err)
			}
			c.Mirrors = append(c.Mirrors, ms...)
		}
	}
	if err := readInclusion(c, fe); err != nil {
		return nil, err
	}
	return c, nil
}

func readInclusion(c *Config, fe func(*yaml.Node, string, string, ...any) error) error {
	if fs, _ := lookup(c.root, "featureSet"); fs != nil {
		c.Inclusion.FeatureSet = fs.Value
	}
	if fg, _ := lookup(c.root, "featureGates"); fg != nil {
		if err := fg.Decode(&c.Inclusion.FeatureGates); err != nil {
			return fe(fg, "featureGates", "want a list of Name=true|false strings")
		}
	}
	if caps, _ := lookup(c.root, "capabilities"); caps != nil {
		spec := &configv1.ClusterVersionCapabilitiesSpec{}
		var raw struct {
			Baseline   string   `yaml:"baselineCapabilitySet"`
			Additional []string `yaml:"additionalEnabledCapabilities"`
		}
		if err := caps.Decode(&raw); err != nil {
			return fe(caps, "capabilities", "want baselineCapabilitySet and additionalEnabledCapabilities: %v", err)
		}
		spec.BaselineCapabilitySet = configv1.ClusterVersionCapabilitySet(raw.Baseline)
		for _, a := range raw.Additional {
			spec.AdditionalEnabledCapabilities = append(spec.AdditionalEnabledCapabilities, configv1.ClusterVersionCapability(a))
		}
		c.Inclusion.Capabilities = spec
	}
	if _, err := credreq.NewInclusion(c.Inclusion); err != nil {
		_, n := lookup(c.root, "featureSet")
		if strings.HasPrefix(err.Error(), "capabilities") {
			_, n = lookup(c.root, "capabilities")
		}
		return &FieldError{File: c.File, Line: lineOf(n), Field: "featureSet/featureGates/capabilities", Msg: err.Error()}
	}
	return nil
}

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// lookup follows keys through nested mappings; it returns the value node and
// the last key node found (for error positions).
func lookup(n *yaml.Node, keys ...string) (value, key *yaml.Node) {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil, key
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				key, next = n.Content[i], n.Content[i+1]
			}
		}
		n = next
	}
	return n, key
}
