package yamlcheck

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a: 1\nb: 2\n", ""},
		{"apiVersion: v1\nplatform:\n  aws:\n    region: a\n    region: b\n", `f.yaml:5: platform.aws.region: key "region" is already set at line 4`},
		{"a: 1\n---\nmetadata:\n  name: x\n  name: y\n", `f.yaml:5: metadata.name: key "name" is already set at line 4`},
		{"list:\n- k: 1\n  k: 2\n", `f.yaml:3: list[0].k: key "k"`},
		{`{"a": 1, "a": 2}`, `f.yaml:1: a: key "a"`},
		{"base: &b {x: 1}\nm:\n  <<: *b\n  <<: *b\n", ""},
		{"a: 1\n---\nb: [\n", "f.yaml:3: did not find"},
		{"a: 1\nb: 2\n c: 3\n", "f.yaml:3: "},
	} {
		err := Check("f.yaml", []byte(tt.in))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%q: got %v, want %s...", tt.in, err, tt.want)
		}
	}
}

// FuzzCheck: any input gives nil or an error that names the file, never a panic.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"a: 1\na: 2\n", "x: [\n", "- a\n- {b: 1, b: 2}\n", "k: &a [*a]\n", "---\n---\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Check("f.yaml", data); err != nil && !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
