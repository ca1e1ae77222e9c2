package credreq

import (
	"strings"
	"testing"
)

func TestSubstitute(t *testing.T) {
	f := File{Name: "cr.yaml", Data: []byte("a: ${NAMESPACE}\nb: arn:aws:s3:::bucket/${aws:username}/*\nc: ${BUCKET} ${NAMESPACE}\n")}
	vars := []Placeholder{{Name: "NAMESPACE", Value: "ns", Flag: "--namespace"}}
	_, err := Substitute(f, vars)
	if err == nil || err.Error() != "cr.yaml:3: ${BUCKET} is a template placeholder oc sts has no value for: replace it in a copy of the file" {
		t.Fatalf("got %v", err)
	}
	f.Data = []byte("a: ${NAMESPACE}\nb: arn:aws:s3:::bucket/${aws:username}/*\n")
	got, err := Substitute(f, vars)
	if err != nil || string(got.Data) != "a: ns\nb: arn:aws:s3:::bucket/${aws:username}/*\n" {
		t.Errorf("%q %v", got.Data, err)
	}
	if _, err := Substitute(f, []Placeholder{{Name: "NAMESPACE", Flag: "--namespace"}}); err == nil || !strings.Contains(err.Error(), "cr.yaml:1: ${NAMESPACE} is a template placeholder: give its value with --namespace") {
		t.Errorf("got %v", err)
	}
}

func TestReadStandaloneSkipsWhatIsNotAnAWSRequest(t *testing.T) {
	files, err := ReadFiles([]string{"../../test/testdata/credentialsrequests/edge-cases/0000_99_machine-api-operator_00_tombstones.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStandalone(files, nil); err == nil || !strings.Contains(err.Error(), "no AWS CredentialsRequest in") {
		t.Errorf("tombstones only: %v", err)
	}
}
