package installconfig

import (
	"bytes"

	"gopkg.in/yaml.v3"
)

// SetManual returns the file with credentialsMode: Manual. It inserts one
// line and leaves every other byte as it was (comments, order, quoting,
// blank lines, fields oc sts does not know). The file is unchanged when
// the mode is already Manual.
func (c *Config) SetManual() []byte {
	if c.CredentialsMode == ManualMode {
		return c.Raw
	}
	if out, ok := c.insertLine(); ok {
		return out
	}
	return c.reencode()
}

// insertLine puts the key right after the apiVersion line when the file is
// in the common block style, where a line insertion is exact.
func (c *Config) insertLine() ([]byte, bool) {
	if _, mode := lookup(c.root, "credentialsMode"); mode != nil {
		return nil, false // present but empty: let the encoder replace it
	}
	if c.root.Style&yaml.FlowStyle != 0 {
		return nil, false
	}
	v, k := lookup(c.root, "apiVersion")
	if k == nil || k.Column != 1 || v.Kind != yaml.ScalarNode || v.Line != k.Line || v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return nil, false
	}
	lines := bytes.SplitAfter(c.Raw, []byte("\n"))
	if k.Line > len(lines) {
		return nil, false
	}
	nl := []byte("\n")
	if bytes.HasSuffix(lines[0], []byte("\r\n")) {
		nl = []byte("\r\n")
	}
	var out bytes.Buffer
	for i, l := range lines {
		out.Write(l)
		if i == k.Line-1 {
			if !bytes.HasSuffix(l, []byte("\n")) {
				out.Write(nl)
			}
			out.WriteString("credentialsMode: " + ManualMode)
			out.Write(nl)
		}
	}
	return out.Bytes(), true
}

// reencode edits the node tree; yaml.v3 keeps comments, order and unknown
// fields, though not blank lines.
func (c *Config) reencode() []byte {
	if v, _ := lookup(c.root, "credentialsMode"); v != nil {
		v.Value, v.Tag, v.Style = ManualMode, "!!str", 0
	} else {
		c.root.Content = append(c.root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "credentialsMode"},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ManualMode})
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(c.root); err != nil {
		panic(err) // the tree was decoded from valid YAML
	}
	return out.Bytes()
}
