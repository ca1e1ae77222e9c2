package iampolicy

import (
	"slices"
	"strings"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
)

// MissingActions lists the actions of statements that policies (within
// boundary, when set) do not allow.
func MissingActions(policies []string, boundary string, statements []ccov1.StatementEntry) []string {
	var missing []string
	for _, e := range statements {
		if !strings.EqualFold(e.Effect, "Allow") {
			continue
		}
		resources := []string{e.Resource}
		if e.Resource == "" {
			resources = []string{"*"}
		}
		for _, a := range e.Action {
			ok := Allows(policies, a, resources)
			if ok && boundary != "" {
				ok = Allows([]string{boundary}, a, resources)
			}
			if !ok && !slices.Contains(missing, a) {
				missing = append(missing, a)
			}
		}
	}
	return missing
}
