package provision

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/awsread"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// The IAM roles, one per CredentialsRequest: trust, inline policy, path,
// boundary and tags; owned roles no CredentialsRequest needs any more.

var (
	iamCreateRole         = declare(RoleResource, "CreateRole", "iam:CreateRole", "iam:TagRole")
	iamCreateBoundedRole  = declare(RoleResource, "CreateRole", "iam:CreateRole", "iam:TagRole", "iam:PutRolePermissionsBoundary")
	iamPutRolePolicy      = declare(RoleResource, "PutRolePolicy", "iam:PutRolePolicy")
	iamUpdateTrust        = declare(RoleResource, "UpdateAssumeRolePolicy", "iam:UpdateAssumeRolePolicy")
	iamDeleteRolePolicy   = declare(RoleResource, "DeleteRolePolicy", "iam:DeleteRolePolicy")
	iamDetachRolePolicy   = declare(RoleResource, "DetachRolePolicy", "iam:DetachRolePolicy")
	iamPutRoleBoundary    = declare(RoleResource, "PutRolePermissionsBoundary", "iam:PutRolePermissionsBoundary")
	iamDeleteRoleBoundary = declare(RoleResource, "DeleteRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary")
	iamTagRole            = declare(RoleResource, "TagRole", "iam:TagRole")
	iamDeleteRole         = declare(RoleResource, "DeleteRole", "iam:DeleteRole")
	iamReadRoles          = reads("GetAccountAuthorizationDetails (else ListRoles, ListRoleTags, GetRole, ...)", "iam:GetAccountAuthorizationDetails")
)

// RoleState is an IAM role as found.
type RoleState = awsread.Role

// ReadRole reads a role with its trust, inline and attached policies and
// boundary; ok is false when it does not exist.
func ReadRole(ctx context.Context, c *Clients, name string) (RoleState, bool, error) {
	return awsread.ReadRole(ctx, c.IAM, name)
}

// observeRoles reads every role of the account with its policies and tags
// in one paged call (GetAccountAuthorizationDetails) and keeps the named and
// the owned ones; where that call is denied, it reads the named roles one
// by one (owned roles outside them are then found by ListRoles).
func observeRoles(ctx context.Context, c *Clients, name string, names []string, path string) (map[string]RoleState, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	roles := map[string]RoleState{}
	pages := iam.NewGetAccountAuthorizationDetailsPaginator(c.IAM, &iam.GetAccountAuthorizationDetailsInput{
		Filter: []iamtypes.EntityType{iamtypes.EntityTypeRole}, MaxItems: aws.Int32(1000)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if errorCode(err) == "AccessDenied" {
			return observeRolesOneByOne(ctx, c, name, names, path)
		}
		if err != nil {
			return nil, readError("IAM roles", "iam:GetAccountAuthorizationDetails", err)
		}
		for _, d := range out.RoleDetailList {
			r := RoleState{
				Name: aws.ToString(d.RoleName), ARN: aws.ToString(d.Arn), Path: aws.ToString(d.Path),
				Trust: awsread.DecodePolicy(aws.ToString(d.AssumeRolePolicyDocument)), Inline: map[string]string{}, Tags: awsread.Tags(d.Tags),
			}
			if !want[r.Name] && !awsid.Owned(r.Tags, name) {
				continue
			}
			for _, ip := range d.RolePolicyList {
				r.Inline[aws.ToString(ip.PolicyName)] = awsread.DecodePolicy(aws.ToString(ip.PolicyDocument))
			}
			for _, ap := range d.AttachedManagedPolicies {
				r.Attached = append(r.Attached, aws.ToString(ap.PolicyArn))
			}
			if d.PermissionsBoundary != nil {
				r.Boundary = aws.ToString(d.PermissionsBoundary.PermissionsBoundaryArn)
			}
			roles[r.Name] = r
		}
	}
	return roles, nil
}

func observeRolesOneByOne(ctx context.Context, c *Clients, name string, planned []string, path string) (map[string]RoleState, error) {
	owned, err := ownedRoleNames(ctx, c, name, path)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, n := range append(planned, owned...) {
		names[n] = true
	}
	roles := map[string]RoleState{}
	var fns []func(context.Context) error
	results := make(chan RoleState, len(names))
	for name := range names {
		fns = append(fns, func(ctx context.Context) error {
			r, ok, err := ReadRole(ctx, c, name)
			if ok {
				results <- r
			}
			return err
		})
	}
	err = parallel(ctx, c.Concurrency, fns...)
	close(results)
	for r := range results {
		roles[r.Name] = r
	}
	return roles, err
}

// ownedRoleNames lists the roles under path whose name starts with name-
// and that carry name's ownership tag.
func ownedRoleNames(ctx context.Context, c *Clients, name, path string) ([]string, error) {
	var out []string
	pages := iam.NewListRolesPaginator(c.IAM, &iam.ListRolesInput{PathPrefix: &path})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, readError("IAM roles under "+path, "iam:ListRoles", err)
		}
		for _, r := range page.Roles {
			n := aws.ToString(r.RoleName)
			if !strings.HasPrefix(n, name+"-") {
				continue
			}
			tags, err := c.IAM.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: &n})
			if err != nil {
				return nil, readError("the IAM role "+n, "iam:ListRoleTags", err)
			}
			if awsid.Owned(awsread.Tags(tags.Tags), name) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// roleDelta is a role change: the plan's role (nil for a deletion) and the
// one found (nil for a creation).
type roleDelta struct {
	want *plan.Role
	have *RoleState
}

// diffRoles are the roles to create or repair, and to delete: with prune
// the owned roles the plan no longer has, and the owned ones of remove; a
// role of the plan's name that is not oc sts's is a conflict.
func diffRoles(p *plan.Plan, o *Observed, prune bool, remove []string) ([]Change, []error) {
	var changes []Change
	var conflicts []error
	for i := range p.Roles {
		want := &p.Roles[i]
		have, ok := o.Roles[want.Name]
		switch {
		case !ok:
			changes = append(changes, Change{Resource: RoleResource, Name: want.Name, Action: Create, delta: &roleDelta{want: want}})
		case !awsid.Owned(have.Tags, p.Name):
			conflicts = append(conflicts, fmt.Errorf("the IAM role %s exists without the tag %s=%s: it is not oc sts's; delete or rename it, or choose another --name", want.Name, awsid.OwnershipTagKey(p.Name), awsid.OwnedValue))
		case have.Tags[plan.OperatorRequestTag] != plan.TagOf(want.Tags, plan.OperatorRequestTag):
			conflicts = append(conflicts, fmt.Errorf("the IAM role %s is oc sts's, but %s: a CredentialsRequest of the release and a day-2 operator's cannot share a Secret's role; give the operator's request another Secret", want.Name, operatorOf(have.Tags)))
		default:
			if fields, details := roleDrift(want, have); fields != nil {
				changes = append(changes, Change{Resource: RoleResource, Name: want.Name, Action: Update, Fields: fields, Details: details, delta: &roleDelta{want: want, have: &have}})
			}
		}
	}
	var deleted []string
	if prune {
		deleted = Stale(p, o)
	}
	for _, name := range remove {
		if have, ok := o.Roles[name]; ok && awsid.Owned(have.Tags, p.Name) && !slices.Contains(deleted, name) {
			deleted = append(deleted, name)
		}
	}
	for _, name := range deleted {
		have := o.Roles[name]
		changes = append(changes, Change{Resource: RoleResource, Name: name, Action: Delete, delta: &roleDelta{have: &have}})
	}
	return changes, conflicts
}

// Stale are the owned roles the plan no longer has, sorted.
func Stale(p *plan.Plan, o *Observed) []string {
	inPlan := map[string]bool{}
	for _, r := range p.Roles {
		inPlan[r.Name] = true
	}
	var out []string
	for name, r := range o.Roles {
		if _, op := r.Tags[plan.OperatorRequestTag]; op {
			continue // a day-2 operator's: oc sts operator --delete (or destroy) removes it
		}
		if !inPlan[name] && awsid.Owned(r.Tags, p.Name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func operatorOf(tags map[string]string) string {
	if r := tags[plan.OperatorRequestTag]; r != "" {
		return "it serves the day-2 operator's CredentialsRequest " + r + " (oc sts operator)"
	}
	return "it is prepare's, for a CredentialsRequest of the release"
}

// roleDrift names the fields of have that differ from want, and what
// differs in each.
func roleDrift(want *plan.Role, have RoleState) ([]string, []FieldDiff) {
	var fields []string
	var details []FieldDiff
	if have.Path != want.Path {
		// a path cannot change: the role is re-created
		return []string{FieldPath}, []FieldDiff{valueDiff(FieldPath, have.Path, want.Path)}
	}
	if want.TrustPolicy == nil || !SamePolicy(have.Trust, string(want.TrustPolicy)) { // nil: names a provider known after apply
		fields = append(fields, FieldTrustPolicy)
		if want.TrustPolicy != nil {
			details = append(details, policyDiff(FieldTrustPolicy, have.Trust, string(want.TrustPolicy)))
		}
	}
	if !SamePolicy(have.Inline[want.PolicyName], string(want.Policy)) {
		fields = append(fields, FieldPolicy)
		details = append(details, policyDiff(FieldPolicy, have.Inline[want.PolicyName], string(want.Policy)))
	}
	if extra := extraPolicies(want, have); extra != nil {
		fields = append(fields, FieldExtraPolicies)
		details = append(details, FieldDiff{Field: FieldExtraPolicies, Removed: extra})
	}
	if have.Boundary != want.PermissionsBoundary {
		fields = append(fields, FieldPermissionsBoundary)
		details = append(details, valueDiff(FieldPermissionsBoundary, have.Boundary, want.PermissionsBoundary))
	}
	if tags := tagDiffs(have.Tags, want.Tags); tags != nil {
		fields = append(fields, FieldTags)
		details = append(details, tags...)
	}
	return fields, details
}

// extraPolicies are the policies of have the plan's role does not have:
// attached managed policies (by ARN) and other inline ones (by name), sorted.
func extraPolicies(want *plan.Role, have RoleState) []string {
	out := slices.Clone(have.Attached)
	for name := range have.Inline {
		if name != want.PolicyName {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// steps: a role is created with its trust, tags and boundary in one call
// once the provider its trust names exists, then given its inline policy;
// a path change re-creates it; other repairs are made one field after the
// other (IAM refuses concurrent changes to one role); a deletion removes
// its policies, then the role.
func (d *roleDelta) steps(a *applier, ch *Change) {
	switch {
	case ch.Action == Delete:
		shown := a.g.add(nil, func(context.Context) error {
			a.progress("deleting IAM role %s (no longer in the plan)", d.have.Name)
			return nil
		}, a.first)
		deleteRoleSteps(a, *d.have, shown).then(a.made.add(ch))
	case ch.Action == Create:
		created := d.create(a, a.g.add(nil, func(context.Context) error {
			a.progress("creating IAM role %s", d.want.Name)
			return nil
		}, a.provider, a.first)).then(a.made.add(ch))
		d.putPolicy(a, created)
	case ch.Fields[0] == FieldPath:
		shown := a.g.add(nil, func(context.Context) error {
			a.progress("re-creating IAM role %s under path %s", d.want.Name, d.want.Path)
			return nil
		}, a.provider, a.first)
		created := d.create(a, deleteRoleSteps(a, *d.have, shown)).then(a.made.add(ch))
		d.putPolicy(a, created)
	default:
		last := a.g.add(nil, func(context.Context) error {
			a.progress("updating IAM role %s (%s)", d.want.Name, strings.Join(ch.Fields, ", "))
			return nil
		}, a.provider, a.first)
		for _, f := range ch.Fields {
			last = d.update(a, f, last)
		}
		last.then(a.made.add(ch))
	}
}

// create makes the role with its trust, tags and boundary in one call, so
// a role never exists without the ownership tag.
func (d *roleDelta) create(a *applier, after *step) *step {
	r, create := d.want, iamCreateRole
	if r.PermissionsBoundary != "" {
		create = iamCreateBoundedRole
	}
	return a.g.call(create, func(ctx context.Context) error {
		in := &iam.CreateRoleInput{
			RoleName: &r.Name, Path: &r.Path, AssumeRolePolicyDocument: aws.String(string(r.TrustPolicy)), Tags: iamTagList(r.Tags),
			Description: aws.String(r.Description()),
		}
		if r.PermissionsBoundary != "" {
			in.PermissionsBoundary = &r.PermissionsBoundary
		}
		err := eventually(ctx, a.progress, "the new OIDC provider", "CreateRole", func() error {
			_, err := a.c.IAM.CreateRole(ctx, in)
			return err
		}, providerNotVisible)
		if errorCode(err) == "EntityAlreadyExists" {
			return nil // created by an interrupted run or a retried call
		}
		return stepError("creating IAM role "+r.Name, err)
	}, after)
}

func (d *roleDelta) putPolicy(a *applier, after *step) *step {
	r := d.want
	return a.g.call(iamPutRolePolicy, func(ctx context.Context) error {
		err := eventually(ctx, a.progress, "the new roles", "PutRolePolicy", func() error {
			_, err := a.c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &r.Name, PolicyName: &r.PolicyName, PolicyDocument: aws.String(string(r.Policy))})
			return err
		}, roleNotVisible)
		return stepError("setting the policy of IAM role "+r.Name, err)
	}, after)
}

// update repairs one field of the role.
func (d *roleDelta) update(a *applier, field string, after *step) *step {
	c, r := a.c, d.want
	fail := func(err error) error {
		return stepError(fmt.Sprintf("setting the %s of IAM role %s", field, r.Name), err)
	}
	switch field {
	case FieldTrustPolicy:
		return a.g.call(iamUpdateTrust, func(ctx context.Context) error {
			return fail(eventually(ctx, a.progress, "the OIDC provider", "UpdateAssumeRolePolicy", func() error {
				_, err := c.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: &r.Name, PolicyDocument: aws.String(string(r.TrustPolicy))})
				return err
			}, providerNotVisible))
		}, after)
	case FieldPolicy:
		return d.putPolicy(a, after)
	case FieldExtraPolicies:
		return removePolicySteps(a, *d.have, r.PolicyName, after)
	case FieldPermissionsBoundary:
		if r.PermissionsBoundary == "" {
			return a.g.call(iamDeleteRoleBoundary, func(ctx context.Context) error {
				_, err := c.IAM.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: &r.Name})
				return fail(err)
			}, after)
		}
		return a.g.call(iamPutRoleBoundary, func(ctx context.Context) error {
			_, err := c.IAM.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: &r.Name, PermissionsBoundary: &r.PermissionsBoundary})
			return fail(err)
		}, after)
	case FieldTags:
		return a.g.call(iamTagRole, func(ctx context.Context) error {
			_, err := c.IAM.TagRole(ctx, &iam.TagRoleInput{RoleName: &r.Name, Tags: iamTagList(r.Tags)})
			return fail(err)
		}, after)
	}
	panic("role field " + field)
}

// removePolicySteps remove, side by side, the role's inline policies but
// keep, and detach its managed ones.
func removePolicySteps(a *applier, r RoleState, keep string, after *step) *step {
	var removed []*step
	for name := range r.Inline {
		if name == keep {
			continue
		}
		removed = append(removed, a.g.call(iamDeleteRolePolicy, func(ctx context.Context) error {
			_, err := a.c.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &r.Name, PolicyName: aws.String(name)})
			if errorCode(err) == "NoSuchEntity" {
				return nil
			}
			return stepError("removing the policy "+name+" of IAM role "+r.Name, err)
		}, after))
	}
	for _, arn := range r.Attached {
		removed = append(removed, a.g.call(iamDetachRolePolicy, func(ctx context.Context) error {
			_, err := a.c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: &r.Name, PolicyArn: aws.String(arn)})
			if errorCode(err) == "NoSuchEntity" {
				return nil
			}
			return stepError("detaching "+arn+" from IAM role "+r.Name, err)
		}, after))
	}
	if len(removed) == 0 {
		return after
	}
	return a.g.join(removed...)
}

// deleteRoleSteps remove a role's policies, then the role.
func deleteRoleSteps(a *applier, r RoleState, after *step) *step {
	return a.g.call(iamDeleteRole, func(ctx context.Context) error {
		_, err := a.c.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: &r.Name})
		if errorCode(err) == "NoSuchEntity" {
			return nil
		}
		return stepError("deleting IAM role "+r.Name, err)
	}, removePolicySteps(a, r, "", after))
}

// providerNotVisible: IAM refuses a trust naming a provider it has just
// created until the provider is visible to it.
func providerNotVisible(err error) bool {
	return errorCode(err) == "MalformedPolicyDocument" && strings.Contains(err.Error(), "Invalid principal")
}

func roleNotVisible(err error) bool { return errorCode(err) == "NoSuchEntity" }

// hasAll says whether have holds every one of want.
func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// ReadOwnedRoles reads the roles carrying name's ownership tag (searched
// under path when GetAccountAuthorizationDetails is denied), by name: what
// a caller that builds its own roles (oc sts operator) reads them from.
func ReadOwnedRoles(ctx context.Context, c *Clients, name, path string) (map[string]RoleState, error) {
	return observeRoles(ctx, c, name, nil, path)
}
