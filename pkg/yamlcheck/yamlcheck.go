// Package yamlcheck holds YAML inputs to the installer's and the API
// server's strictness: a key set twice in one mapping is an error (the
// installer refuses it; a lenient parser silently keeps the last value),
// and every syntax error names its line as file:line: across all the
// documents of a multi-document file.
package yamlcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a problem at a line of a file.
type Error struct {
	File  string
	Line  int    // 0 when unknown
	Field string // dotted path of a duplicate key; "" for syntax errors
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Check parses every document of data (the content of file) and reports
// the first syntax error, at its line, or duplicate key.
func Check(file string, data []byte) error {
	if err := each(data, func(doc *yaml.Node) error { return Duplicates(file, doc) }); err != nil {
		var ye *Error
		if errors.As(err, &ye) {
			return err
		}
		return SyntaxAt(file, data, err)
	}
	return nil
}

func each(data []byte, f func(*yaml.Node) error) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(&doc); err != nil {
			return err
		}
	}
}

// SyntaxAt is Syntax with the line found in data: the parser names the
// line of the construct it was in, often one off. A parser fails on a bad
// token whatever follows it, so the error is on the first line whose
// prefix of the file no longer parses (found by bisection: a truncated
// flow collection may fail earlier, which then is the line to look at).
func SyntaxAt(file string, data []byte, err error) error {
	e := Syntax(file, err).(*Error)
	lines := bytes.SplitAfter(data, []byte("\n"))
	fails := func(n int) bool {
		return each(bytes.Join(lines[:n], nil), func(*yaml.Node) error { return nil }) != nil
	}
	lo, hi := 1, len(lines) // fails(hi)
	if !fails(hi) {
		return e
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	e.Line = lo
	return e
}

// Duplicates reports the first mapping key of n's tree that is set twice,
// at the line of its second occurrence, as the installer does.
func Duplicates(file string, n *yaml.Node) error {
	return walk(file, n, "")
}

func walk(file string, n *yaml.Node, path string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := walk(file, c, path); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := walk(file, c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			field := k.Value
			if path != "" {
				field = path + "." + k.Value
			}
			// The merge key "<<" may repeat; YAML merges each in turn.
			if k.Kind == yaml.ScalarNode && k.Tag != "!!merge" {
				if line, dup := first[k.Value]; dup {
					return &Error{File: file, Line: k.Line, Field: field,
						Msg: fmt.Sprintf("key %q is already set at line %d: the installer and the API server refuse duplicate keys; keep one", k.Value, line)}
				}
				first[k.Value] = k.Line
			}
			if err := walk(file, v, field); err != nil {
				return err
			}
		}
	}
	return nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Syntax turns a YAML parser error into file:line: what, with the line the
// parser reports.
func Syntax(file string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: m[2] + ": fix the YAML"}
	}
	return &Error{File: file, Msg: msg + ": fix the YAML"}
}
