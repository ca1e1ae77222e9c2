package installconfig

import (
	"bytes"
	"encoding/json"
	"reflect"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// SetManual returns the file with credentialsMode: Manual. It changes only
// the bytes of that one field and leaves every other byte as it was
// (comments, order, quoting, blank lines, fields oc sts does not know): it
// inserts one line, or in a flow-style or JSON file one entry (a JSON file
// stays JSON), or replaces an empty or null value in place. The file is
// unchanged when the mode is already Manual.
func (c *Config) SetManual() []byte {
	if c.CredentialsMode == ManualMode {
		return c.Raw
	}
	if out, ok := c.edit(); ok && c.onlyModeChanged(out) {
		return out
	}
	return c.reencode()
}

// edit makes the byte-level change; ok is false for a shape it does not
// handle exactly (a multi-line value), which reencode then handles.
func (c *Config) edit() ([]byte, bool) {
	v, k := lookup(c.root, "credentialsMode")
	switch {
	case k != nil:
		return c.replaceValue(k, v)
	case c.root.Style&yaml.FlowStyle != 0:
		return c.insertEntry()
	}
	return c.insertLine()
}

// insertLine puts the key right after the apiVersion line when the file is
// in the common block style, where a line insertion is exact.
func (c *Config) insertLine() ([]byte, bool) {
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

// insertEntry adds `"credentialsMode": "Manual",` before the first key of
// a flow-style (JSON) top level, spaced as that key is.
func (c *Config) insertEntry() ([]byte, bool) {
	if len(c.root.Content) == 0 {
		return nil, false
	}
	at, ok := c.offset(c.root.Content[0])
	if !ok {
		return nil, false
	}
	gap := at
	for gap > 0 && isSpace(c.Raw[gap-1]) {
		gap--
	}
	sep := string(c.Raw[gap:at])
	if sep == "" {
		sep = " "
	}
	return splice(c.Raw, at, at, `"credentialsMode": "`+ManualMode+`",`+sep), true
}

// replaceValue replaces the present but empty or null value of key k in
// place: `credentialsMode:`, `: ""`, `: null`, `: ~`.
func (c *Config) replaceValue(k, v *yaml.Node) ([]byte, bool) {
	flow := c.root.Style&yaml.FlowStyle != 0
	value := ManualMode
	if flow {
		value = `"` + ManualMode + `"` // valid JSON and YAML alike
	}
	start, ok := c.offset(k)
	if !ok || k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
		return nil, false
	}
	end := start + len(k.Value)
	if k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		if end = scanQuoted(c.Raw, start); end < 0 {
			return nil, false
		}
	}
	for end < len(c.Raw) && (c.Raw[end] == ' ' || c.Raw[end] == '\t') {
		end++
	}
	if end >= len(c.Raw) || c.Raw[end] != ':' {
		return nil, false
	}
	colon := end + 1
	if v.Tag == "!!null" && v.Value == "" && !hasValueText(c.Raw, colon, flow) {
		return splice(c.Raw, colon, colon, " "+value), true
	}
	vs, ok := c.offset(v)
	if !ok || vs < colon {
		return nil, false
	}
	ve := scanScalar(c.Raw, vs, flow)
	if ve < 0 {
		return nil, false
	}
	return splice(c.Raw, vs, ve, value), true
}

// hasValueText says whether text follows the colon on its line.
func hasValueText(b []byte, i int, flow bool) bool {
	for ; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t':
			continue
		case '\n', '\r', '#':
			return false
		case ',', '}':
			return !flow
		}
		return true
	}
	return false
}

// scanScalar is the end of the one-line scalar starting at b[i], or -1.
func scanScalar(b []byte, i int, flow bool) int {
	if b[i] == '"' || b[i] == '\'' {
		return scanQuoted(b, i)
	}
	j := i
	for ; j < len(b); j++ {
		ch := b[j]
		if ch == '\n' || ch == '\r' || (ch == '#' && j > i && isSpace(b[j-1])) || (flow && (ch == ',' || ch == '}' || ch == ']')) {
			break
		}
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return j
}

// scanQuoted is the end of the quoted scalar starting at b[i] (past its
// closing quote), or -1 when it spans lines.
func scanQuoted(b []byte, i int) int {
	q := b[i]
	for j := i + 1; j < len(b); j++ {
		switch {
		case b[j] == '\n':
			return -1
		case q == '"' && b[j] == '\\':
			j++
		case b[j] == q && q == '\'' && j+1 < len(b) && b[j+1] == '\'':
			j++
		case b[j] == q:
			return j + 1
		}
	}
	return -1
}

// offset is the byte offset of n's position (yaml.v3 counts lines and
// columns from 1, columns in characters).
func (c *Config) offset(n *yaml.Node) (int, bool) {
	i, line := 0, 1
	for line < n.Line {
		nl := bytes.IndexByte(c.Raw[i:], '\n')
		if nl < 0 {
			return 0, false
		}
		i += nl + 1
		line++
	}
	for col := 1; col < n.Column; col++ {
		if i >= len(c.Raw) || c.Raw[i] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(c.Raw[i:])
		i += size
	}
	return i, true
}

// onlyModeChanged checks an edit: the result parses, says Manual, keeps
// every other field's value, and a JSON file is still JSON.
func (c *Config) onlyModeChanged(out []byte) bool {
	re, err := Parse(c.File, out)
	if err != nil || re.CredentialsMode != ManualMode {
		return false
	}
	var before, after map[string]any
	if yaml.Unmarshal(c.Raw, &before) != nil || yaml.Unmarshal(out, &after) != nil {
		return false
	}
	delete(before, "credentialsMode")
	delete(after, "credentialsMode")
	return reflect.DeepEqual(before, after) && (!json.Valid(c.Raw) || json.Valid(out))
}

func splice(b []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(b)+len(s))
	out = append(append(append(out, b[:from]...), s...), b[to:]...)
	return out
}

func isSpace(ch byte) bool { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' }

// reencode edits the node tree; yaml.v3 keeps comments, order and unknown
// fields, though not blank lines. Only a shape the byte edits do not cover
// exactly (a multi-line value) gets here.
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
