package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/awsread"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// The IAM OIDC identity provider of the issuer: the roles' trust names it.

var (
	iamCreateProvider = declare(ProviderResource, "CreateOpenIDConnectProvider", "iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider")
	iamAddClientID    = declare(ProviderResource, "AddClientIDToOpenIDConnectProvider", "iam:AddClientIDToOpenIDConnectProvider")
	iamTagProvider    = declare(ProviderResource, "TagOpenIDConnectProvider", "iam:TagOpenIDConnectProvider")
	iamDeleteProvider = declare(ProviderResource, "DeleteOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider")
	iamGetProvider    = reads("GetOpenIDConnectProvider", "iam:GetOpenIDConnectProvider")
	iamListProviders  = reads("ListOpenIDConnectProviders, GetOpenIDConnectProvider", "iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider")
)

// ProviderState is the IAM OIDC provider for the plan's issuer URL.
type ProviderState = awsread.Provider

// ReadProvider reads the IAM OIDC provider of an ARN.
func ReadProvider(ctx context.Context, c *Clients, arn string) (ProviderState, error) {
	return awsread.ReadProvider(ctx, c.IAM, arn)
}

// providerDelta is a provider change: the plan's provider and the one found.
type providerDelta struct {
	want *plan.Provider
	have ProviderState
}

// diffProvider is the provider's change, if any. A provider for exactly the
// issuer URL that is not oc sts's is reused as it is, if it has the audience.
func diffProvider(p *plan.Plan, o *Observed) (*Change, error) {
	pr, want := o.Provider, &p.OIDCProvider
	d := &providerDelta{want: want, have: pr}
	name := want.ARN
	if name == "" {
		name = "(issuer known after apply)"
	}
	switch {
	case !pr.Exists:
		return &Change{Resource: ProviderResource, Name: name, Action: Create, delta: d}, nil
	case !awsid.Owned(pr.Tags, p.Name):
		if !slices.Contains(pr.ClientIDs, awsid.Audience) {
			return nil, fmt.Errorf("the IAM OIDC provider %s exists, is not oc sts's and lacks the client ID %q: add it (aws iam add-client-id-to-open-id-connect-provider) or delete the provider", want.ARN, awsid.Audience)
		}
		return nil, nil
	}
	var fields []string
	var details []FieldDiff
	if !hasAll(pr.ClientIDs, want.ClientIDs) {
		fields = append(fields, FieldClientIDs)
		details = append(details, valueDiff(FieldClientIDs, strings.Join(pr.ClientIDs, ","), strings.Join(want.ClientIDs, ",")))
	}
	if tags := tagDiffs(pr.Tags, want.Tags); tags != nil {
		fields = append(fields, FieldTags)
		details = append(details, tags...)
	}
	if fields == nil {
		return nil, nil
	}
	return &Change{Resource: ProviderResource, Name: name, Action: Update, Fields: fields, Details: details, delta: d}, nil
}

// steps: a new provider is made with its tags in one call; the roles wait
// for it (their trust names it).
func (d *providerDelta) steps(a *applier, ch *Change) {
	c, want := a.c, d.want
	if ch.Action == Create {
		a.provider = a.g.call(iamCreateProvider, func(ctx context.Context) error {
			a.progress("creating IAM OIDC provider for %s", want.URL)
			_, err := c.IAM.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: &want.URL, ClientIDList: want.ClientIDs, Tags: iamTagList(want.Tags)})
			if errorCode(err) == "EntityAlreadyExists" {
				return nil // created by an interrupted run; its state is checked by the next one
			}
			return stepError("creating the IAM OIDC provider for "+want.URL, err)
		}, a.first).then(a.made.add(ch))
		return
	}
	shown := a.g.add(nil, func(context.Context) error {
		a.progress("updating IAM OIDC provider %s (%s)", want.ARN, strings.Join(ch.Fields, ", "))
		return nil
	}, a.first)
	var set []*step
	for _, id := range want.ClientIDs {
		if ch.has(FieldClientIDs) && !slices.Contains(d.have.ClientIDs, id) {
			set = append(set, a.g.call(iamAddClientID, func(ctx context.Context) error {
				_, err := c.IAM.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{OpenIDConnectProviderArn: &want.ARN, ClientID: aws.String(id)})
				return stepError("adding client ID "+id+" to "+want.ARN, err)
			}, shown))
		}
	}
	if ch.has(FieldTags) {
		set = append(set, a.g.call(iamTagProvider, func(ctx context.Context) error {
			_, err := c.IAM.TagOpenIDConnectProvider(ctx, &iam.TagOpenIDConnectProviderInput{OpenIDConnectProviderArn: &want.ARN, Tags: iamTagList(want.Tags)})
			return stepError("tagging "+want.ARN, err)
		}, shown))
	}
	a.g.join(set...).then(a.made.add(ch))
}

// providerDeleteDelta deletes an owned provider (destroy).
type providerDeleteDelta struct{ arn string }

func (d *providerDeleteDelta) steps(a *applier, ch *Change) {
	a.g.call(iamDeleteProvider, func(ctx context.Context) error {
		a.progress("deleting IAM OIDC provider %s", d.arn)
		_, err := a.c.IAM.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(d.arn)})
		if err != nil && errorCode(err) != "NoSuchEntity" {
			return stepError("deleting IAM OIDC provider "+d.arn, err)
		}
		return nil
	}).then(a.made.add(ch))
}

// ownedProviders lists the account's providers (a handful) and keeps name's.
func ownedProviders(ctx context.Context, c *Clients, name string) ([]string, error) {
	list, err := c.IAM.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil {
		return nil, readError("IAM OIDC providers", "iam:ListOpenIDConnectProviders", err)
	}
	owned := make([]string, len(list.OpenIDConnectProviderList))
	var fns []func(context.Context) error
	for i, p := range list.OpenIDConnectProviderList {
		fns = append(fns, func(ctx context.Context) error {
			got, err := ReadProvider(ctx, c, aws.ToString(p.Arn))
			if err == nil && awsid.Owned(got.Tags, name) {
				owned[i] = aws.ToString(p.Arn)
			}
			return err
		})
	}
	err = parallel(ctx, c.Concurrency, fns...)
	return slices.DeleteFunc(owned, func(s string) bool { return s == "" }), err
}

func iamTagList(tags []plan.Tag) []iamtypes.Tag {
	out := make([]iamtypes.Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, iamtypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	return out
}
