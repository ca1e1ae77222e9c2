package provision

import (
	"maps"
	"slices"
	"strings"
	"sync"
)

// Resource is the kind of AWS resource a change touches.
type Resource string

const (
	BucketResource       Resource = "s3-bucket"
	ObjectResource       Resource = "s3-object"
	ProviderResource     Resource = "iam-oidc-provider"
	RoleResource         Resource = "iam-role"
	DistributionResource Resource = "cloudfront-distribution"
)

// resourceOrder is the order changes are listed in (the order they are made in).
var resourceOrder = map[Resource]int{DistributionResource: 0, BucketResource: 1, ObjectResource: 2, ProviderResource: 3, RoleResource: 4}

// Action is what a change does.
type Action string

const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Fields a change can name.
const (
	FieldTags                = "tags"
	FieldPolicy              = "policy"
	FieldTrustPolicy         = "trust-policy"
	FieldPermissionsBoundary = "permissions-boundary"
	FieldExtraPolicies       = "extra-policies"
	FieldPublicAccessBlock   = "public-access-block"
	FieldBucketPolicy        = "bucket-policy"
	FieldContent             = "content"
	FieldClientIDs           = "client-ids"
	FieldPath                = "path"
)

// A Change is one difference between the desired and the observed state:
// what Converge makes, destroy removes and upgrade-check predicts. Its
// exported fields are its stable JSON form; delta holds the desired and the
// observed values it is made from, and makes it.
type Change struct {
	Resource Resource `json:"resource"`
	Name     string   `json:"name"`
	Action   Action   `json:"action"`
	// Fields name what differs, for updates: trust-policy, policy, tags, ...
	Fields []string `json:"fields,omitempty"`
	// Details say what differs in each field (see FieldDiff), for updates.
	Details []FieldDiff `json:"details,omitempty"`

	delta delta
}

// A delta is a change's typed desired and observed values. Each resource's
// file defines its own, next to that resource's observe and diff; steps adds
// the calls that make the change to the apply graph.
type delta interface {
	steps(a *applier, ch *Change)
}

// has says whether the change touches field.
func (ch *Change) has(field string) bool {
	return ch.Action == Create || slices.Contains(ch.Fields, field)
}

// sortChanges puts changes in the order they are listed and made in:
// resource kind, then name.
func sortChanges(changes []Change) {
	slices.SortStableFunc(changes, func(a, b Change) int {
		if d := resourceOrder[a.Resource] - resourceOrder[b.Resource]; d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// A call is one AWS API operation and the IAM actions the caller needs for
// it. Every call Converge makes is declared once, beside the code that makes
// it, and graph steps name their calls: the permission check asks IAM's
// simulator about exactly the actions of the steps it is about to run, so a
// new call cannot forget its permission.
type call struct {
	op      string
	actions []string
}

// declared are every declared call's actions by resource: what the
// permission check can ask about before the changes are known.
var declared = map[Resource]map[string]bool{}

// declare declares an AWS operation a resource's changes make and the IAM
// actions it needs (the operation's own name when none is given).
func declare(r Resource, op string, actions ...string) call {
	if len(actions) == 0 {
		panic("declare " + op + ": name its IAM actions")
	}
	if declared[r] == nil {
		declared[r] = map[string]bool{}
	}
	for _, a := range actions {
		declared[r][a] = true
	}
	return call{op: op, actions: actions}
}

// reads describes a read Converge makes before it decides: its failure
// says itself which permission it lacks, so it is no part of the check.
func reads(op string, actions ...string) call { return call{op: op, actions: actions} }

// declaredActions are every action the calls of these resources can need, sorted.
func declaredActions(resources ...Resource) []string {
	set := map[string]bool{}
	for _, r := range resources {
		maps.Copy(set, declared[r])
	}
	return slices.Sorted(maps.Keys(set))
}

// ApplyError is a failed apply and the changes it made before (the ones
// that finished: a bucket is listed once created, a role once created even
// if its policy is not set yet).
type ApplyError struct {
	Err  error
	Done []Change
}

func (e *ApplyError) Error() string { return e.Err.Error() }
func (e *ApplyError) Unwrap() error { return e.Err }

// madeChanges collects the changes made, as steps finish.
type madeChanges struct {
	mu   sync.Mutex
	list []Change
}

func (m *madeChanges) add(ch *Change) func() {
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.list = append(m.list, *ch)
	}
}

// sorted are the changes made, in the order changes are listed.
func (m *madeChanges) sorted() []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.list)
	sortChanges(out)
	return out
}
