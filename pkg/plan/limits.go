package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/awsid"
)

// IAM quotas that cannot be raised (inline policy size) or are rarely raised
// (trust policy size: 2,048 by default, 4,096 at most).
const (
	MaxInlinePolicyChars = 10240
	MaxTrustPolicyChars  = 2048
	maxTags              = 50
)

func checkRoleLimits(r Role) error {
	var problems []string
	if len(r.Name) > maxRoleName || !roleNameRE.MatchString(r.Name) {
		problems = append(problems, fmt.Sprintf("role name %q is not a valid IAM role name", r.Name))
	}
	if n := len(r.Policy); n > MaxInlinePolicyChars {
		problems = append(problems, fmt.Sprintf("its permissions policy is %d characters, over IAM's %d per role: split the statementEntries or use a managed policy", n, MaxInlinePolicyChars))
	}
	if n := len(r.TrustPolicy); n > MaxTrustPolicyChars {
		problems = append(problems, fmt.Sprintf("its trust policy is %d characters, over IAM's default %d: reduce spec.serviceAccountNames or raise the account's quota", n, MaxTrustPolicyChars))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func validateTags(name string, tags map[string]string) error {
	if len(tags)+1 > maxTags {
		return fmt.Errorf("--tag: %d tags given, AWS allows %d per resource including the ownership tag", len(tags), maxTags)
	}
	for k, v := range tags {
		switch {
		case !tagKeyRE.MatchString(k) || strings.HasPrefix(strings.ToLower(k), "aws:"):
			return fmt.Errorf("--tag key %q: 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:", k)
		case !tagValueRE.MatchString(v):
			return fmt.Errorf("--tag %s value %q: at most 256 letters, digits, spaces or _.:/=+-@", k, v)
		case k == awsid.OwnershipTagKey(name):
			return fmt.Errorf("--tag key %q is the ownership tag oc sts sets itself", k)
		}
	}
	return nil
}

func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		panic(err) // only called on documents this program generated
	}
	return buf.Bytes()
}
