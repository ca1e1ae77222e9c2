package statedir

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
)

// aws/ holds exactly the last rendering: what an earlier one had and this
// one has not is removed, and files a user put there are left alone.
func TestAWSFilesReplaceTheLastRendering(t *testing.T) {
	dir := t.TempDir()
	write := func(rendered map[string][]byte) {
		t.Helper()
		files, err := AWSFiles(dir, rendered)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := atomicfs.Write(context.Background(), dir, files); err != nil {
			t.Fatal(err)
		}
	}
	write(map[string][]byte{"apply.sh": []byte("a"), "delete.sh": []byte("d"), "cloudformation.yaml": []byte("t"), "roles/r1-trust.json": []byte("1"), "roles/r2-trust.json": []byte("2")})
	os.WriteFile(filepath.Join(dir, AWSDir, "NOTES.md"), []byte("mine"), 0o644)
	write(map[string][]byte{"cloudformation.yaml": []byte("t2"), "roles/r1-trust.json": []byte("1")})
	for rel, want := range map[string]bool{"cloudformation.yaml": true, "roles/r1-trust.json": true, "NOTES.md": true, "apply.sh": false, "delete.sh": false, "roles/r2-trust.json": false} {
		if _, err := os.Stat(filepath.Join(dir, AWSDir, rel)); (err == nil) != want {
			t.Errorf("%s: present %v, want %v", rel, err == nil, want)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, AWSDir, "cloudformation.yaml")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("template: %v %v", st, err)
	}
}
