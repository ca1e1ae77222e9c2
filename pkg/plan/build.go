package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
)

// Input is everything the desired state depends on.
type Input struct {
	Name      string
	AccountID string
	Region    string
	Requests  []credreq.Request
	JWKS      []byte // the published key set (oidckeys.JWKS)
	// BucketHost is the issuer bucket's virtual-hosted S3 name, as the
	// AWS SDK's endpoint rules resolve it for Region (provision.S3Host):
	// computed at the edge, so the plan needs no SDK.
	BucketHost string

	IssuerKind IssuerKind // default PublicS3
	// CloudFrontDomain and DistributionARN are a private issuer's
	// distribution's, once it exists; before, the issuer and what names it
	// (provider, trust policies, discovery document, bucket policy) are
	// known only after apply.
	CloudFrontDomain    string
	DistributionARN     string
	RolePath            string // default "/"
	PermissionsBoundary string
	Tags                map[string]string
	// IssuerOnly is the plan of the issuer alone, without Requests: what a
	// signer-key rotation converges (prepare needs at least one request).
	IssuerOnly bool
}

// Build computes the plan, or explains every input problem at once.
func Build(in Input) (*Plan, error) {
	if err := validateInput(&in); err != nil {
		return nil, err
	}
	part, _ := awsid.PartitionFor(in.Region)
	p := &Plan{APIVersion: APIVersion, Kind: Kind, Name: in.Name, AccountID: in.AccountID, Region: in.Region, Partition: part}

	bucket := BucketName(in.Name)
	tags := tagList(in.Name, in.Tags)
	private := in.IssuerKind == PrivateCloudFront
	host := in.BucketHost
	if private {
		host = in.CloudFrontDomain // "" until the distribution exists
		p.Distribution = &Distribution{
			CallerReference: bucket, Comment: DistributionComment(in.Name),
			OriginDomain: in.BucketHost, OriginAccessControl: OACName(in.Name), CachePolicyID: CachingOptimizedPolicyID,
			Tags: tags, Domain: in.CloudFrontDomain, ARN: in.DistributionARN,
		}
	}
	p.Issuer = Issuer{Kind: in.IssuerKind, KnownAfterApply: host == ""}
	if host != "" {
		p.Issuer.URL, p.Issuer.HostPath = awsid.IssuerURL(host), host
	}

	discovery := Object{Key: oidckeys.DiscoveryPath, ContentType: "application/json"}
	if p.Issuer.URL != "" {
		doc, err := oidckeys.DiscoveryDocument(p.Issuer.URL)
		if err != nil {
			return nil, err
		}
		discovery.Body = compactJSON(doc)
	}
	p.Bucket = Bucket{
		Name: bucket, Region: in.Region, LocationConstraint: locationConstraint(in.Region),
		Private: private, PublicAccessBlock: IssuerBlock(private),
		Objects: []Object{discovery, {Key: oidckeys.JWKSPath, ContentType: "application/json", Body: compactJSON(in.JWKS)}},
		Tags:    tags,
	}
	if !private || in.DistributionARN != "" {
		p.Bucket.Policy = BucketPolicy(part.ID, bucket, in.DistributionARN, []string{oidckeys.DiscoveryPath, oidckeys.JWKSPath})
	}
	p.OIDCProvider = Provider{URL: p.Issuer.URL, ClientIDs: append([]string(nil), awsid.ClientIDs...), Tags: tags}
	if host != "" {
		p.OIDCProvider.ARN = awsid.ProviderARN(part.ID, in.AccountID, host)
	}
	var err error
	if p.Roles, err = roles(in, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Names are what a plan's resources are called in AWS: all that observing
// AWS needs, known before the signer key (whose generation takes seconds)
// and the documents are.
type Names struct {
	Bucket string
	// ProviderARN is "" while a new private issuer's domain is unknown.
	ProviderARN string
	Roles       []string // sorted
	RolePath    string
}

// NamesOf are the names Build(in) gives the resources; in.JWKS may be unset.
func NamesOf(in Input) (Names, error) {
	in.JWKS = []byte(`{"keys":[]}`) // no name depends on the keys
	p, err := Build(in)
	if err != nil {
		return Names{}, err
	}
	return p.Names(), nil
}

// Names are the names of p's resources.
func (p *Plan) Names() Names {
	n := Names{Bucket: p.Bucket.Name, ProviderARN: p.OIDCProvider.ARN, RolePath: "/"}
	for _, r := range p.Roles {
		n.Roles = append(n.Roles, r.Name)
		n.RolePath = r.Path
	}
	return n
}

// locationConstraint is CreateBucket's LocationConstraint for region: S3
// takes none for us-east-1 (and refuses its name).
func locationConstraint(region string) string {
	if region == "us-east-1" {
		return ""
	}
	return region
}

func roles(in Input, p *Plan) ([]Role, error) {
	var out []Role
	var errs []error
	byName := map[string]string{}
	for _, r := range in.Requests {
		ref := r.CR.Spec.SecretRef
		name := RoleName(in.Name, ref.Namespace, ref.Name)
		if prev, dup := byName[name]; dup {
			errs = append(errs, fmt.Errorf("%s: CredentialsRequest %q and %q both target Secret %s/%s: each Secret needs its own role; remove one", r.File, prev, r.Name(), ref.Namespace, ref.Name))
			continue
		}
		byName[name] = r.Name()
		role := Role{
			Name:                name,
			ARN:                 awsid.RoleARN(p.Partition.ID, in.AccountID, in.RolePath, name),
			Path:                in.RolePath,
			PermissionsBoundary: in.PermissionsBoundary,
			PolicyName:          name,
			Policy:              PermissionsPolicy(r.AWS.StatementEntries),
			Tags:                p.OIDCProvider.Tags,
			CredentialsRequest: RequestRef{
				Name: r.Name(), File: r.File, SecretNamespace: ref.Namespace, SecretName: ref.Name,
				ServiceAccounts: append([]string(nil), r.CR.Spec.ServiceAccountNames...),
			},
		}
		if p.OIDCProvider.ARN != "" {
			role.TrustPolicy = TrustPolicy(p.OIDCProvider.ARN, p.Issuer.HostPath, Subjects(ref.Namespace, r.CR.Spec.ServiceAccountNames))
		} else {
			// Known after apply: sized with the longest domain CloudFront
			// gives, so the limits are checked before anything is made.
			const longest = "d0000000000000.cloudfront.net"
			sized := TrustPolicy(awsid.ProviderARN(p.Partition.ID, in.AccountID, longest), longest, Subjects(ref.Namespace, r.CR.Spec.ServiceAccountNames))
			if err := checkRoleLimits(Role{Name: name, Policy: role.Policy, TrustPolicy: sized}); err != nil {
				errs = append(errs, fmt.Errorf("%s: CredentialsRequest %q: %w", r.File, r.Name(), err))
				continue
			}
		}
		if err := checkRoleLimits(role); err != nil {
			errs = append(errs, fmt.Errorf("%s: CredentialsRequest %q: %w", r.File, r.Name(), err))
			continue
		}
		out = append(out, role)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

func validateInput(in *Input) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(ValidateName(in.Name))
	if !accountRE.MatchString(in.AccountID) {
		add(fmt.Errorf("--account-id %q: an AWS account ID is exactly 12 digits", in.AccountID))
	}
	part, err := awsid.PartitionFor(in.Region)
	add(err)
	if in.BucketHost == "" || strings.ContainsAny(in.BucketHost, "/:") {
		add(fmt.Errorf("the issuer bucket's S3 host %q is not a host name", in.BucketHost))
	}
	if in.IssuerKind == "" {
		in.IssuerKind = PublicS3
	}
	switch in.IssuerKind {
	case PublicS3:
	case PrivateCloudFront:
		known := in.CloudFrontDomain != "" || in.DistributionARN != ""
		if known && (in.CloudFrontDomain == "" || strings.ContainsAny(in.CloudFrontDomain, "/:") || !strings.HasPrefix(in.DistributionARN, awsid.DistributionARNPrefix(part.ID, in.AccountID))) {
			add(fmt.Errorf("a private issuer needs the CloudFront distribution's domain name and ARN in account %s", in.AccountID))
		}
	default:
		add(fmt.Errorf("unknown issuer kind %q", in.IssuerKind))
	}
	if in.RolePath == "" {
		in.RolePath = "/"
	}
	if len(in.RolePath) > maxRolePath || !rolePathRE.MatchString(in.RolePath) {
		add(fmt.Errorf("--role-path %q: an IAM path starts and ends with '/' (like /openshift/) and is at most %d characters", in.RolePath, maxRolePath))
	}
	if b := in.PermissionsBoundary; b != "" && !awsid.IsPolicyARN(part.ID, b) {
		add(fmt.Errorf("--permissions-boundary %q: want an IAM policy ARN in partition %s (%s)", b, part.ID, awsid.PolicyARNForm(part.ID)))
	}
	add(validateTags(in.Name, in.Tags))
	if len(in.Requests) == 0 && !in.IssuerOnly {
		add(errors.New("no AWS CredentialsRequest is included for this cluster: check --credentials-requests-dir or the release image, and the install-config's featureSet and capabilities (-v lists what was left out and why)"))
	}
	if len(in.JWKS) == 0 {
		add(errors.New("no signer key set (JWKS) given"))
	}
	return errors.Join(errs...)
}

func tagList(name string, user map[string]string) []Tag {
	tags := []Tag{{Key: awsid.OwnershipTagKey(name), Value: awsid.OwnedValue}}
	for k, v := range user {
		tags = append(tags, Tag{Key: k, Value: v})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	return tags
}
