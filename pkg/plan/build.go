package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"

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

	IssuerKind IssuerKind // default PublicS3
	// CloudFrontDomain and DistributionARN are required for PrivateCloudFront.
	CloudFrontDomain    string
	DistributionARN     string
	RolePath            string // default "/"
	PermissionsBoundary string
	Tags                map[string]string
}

// Build computes the plan, or explains every input problem at once.
func Build(in Input) (*Plan, error) {
	if err := validateInput(&in); err != nil {
		return nil, err
	}
	part, _ := PartitionFor(in.Region)
	p := &Plan{APIVersion: APIVersion, Kind: Kind, Name: in.Name, AccountID: in.AccountID, Region: in.Region, Partition: part}

	bucket := BucketName(in.Name)
	host, err := S3Host(in.Region, bucket)
	if err != nil {
		return nil, err
	}
	if in.IssuerKind == PrivateCloudFront {
		host = in.CloudFrontDomain
	}
	p.Issuer = Issuer{Kind: in.IssuerKind, URL: "https://" + host, HostPath: host}

	discovery, err := oidckeys.DiscoveryDocument(p.Issuer.URL)
	if err != nil {
		return nil, err
	}
	tags := tagList(in.Name, in.Tags)
	keys := []string{oidckeys.DiscoveryPath, oidckeys.JWKSPath}
	p.Bucket = Bucket{
		Name: bucket, Region: in.Region, Private: in.IssuerKind == PrivateCloudFront,
		Policy: BucketPolicy(part.ID, bucket, in.DistributionARN, keys),
		Objects: []Object{
			{Key: oidckeys.DiscoveryPath, ContentType: "application/json", Body: compactJSON(discovery)},
			{Key: oidckeys.JWKSPath, ContentType: "application/json", Body: compactJSON(in.JWKS)},
		},
		Tags: tags,
	}
	p.OIDCProvider = Provider{
		ARN:       fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", part.ID, in.AccountID, p.Issuer.HostPath),
		URL:       p.Issuer.URL,
		ClientIDs: append([]string(nil), ClientIDs...),
		Tags:      tags,
	}
	if p.Roles, err = roles(in, p); err != nil {
		return nil, err
	}
	return p, nil
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
			ARN:                 fmt.Sprintf("arn:%s:iam::%s:role%s%s", p.Partition.ID, in.AccountID, in.RolePath, name),
			Path:                in.RolePath,
			PermissionsBoundary: in.PermissionsBoundary,
			TrustPolicy:         TrustPolicy(p.OIDCProvider.ARN, p.Issuer.HostPath, Subjects(ref.Namespace, r.CR.Spec.ServiceAccountNames)),
			PolicyName:          name,
			Policy:              PermissionsPolicy(r.AWS.StatementEntries),
			Tags:                p.OIDCProvider.Tags,
			CredentialsRequest: RequestRef{
				Name: r.Name(), File: r.File, SecretNamespace: ref.Namespace, SecretName: ref.Name,
				ServiceAccounts: append([]string(nil), r.CR.Spec.ServiceAccountNames...),
			},
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

// ValidateFlags checks what the user gives on the command line (name,
// account ID unless empty, region, role path, permissions boundary, tags),
// so a command can refuse them before its first network call.
func ValidateFlags(in Input) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(ValidateName(in.Name))
	if in.AccountID != "" && !accountRE.MatchString(in.AccountID) {
		add(fmt.Errorf("--account-id %q: an AWS account ID is exactly 12 digits", in.AccountID))
	}
	part, err := PartitionFor(in.Region)
	add(err)
	if in.RolePath == "" {
		in.RolePath = "/"
	}
	if len(in.RolePath) > maxRolePath || !rolePathRE.MatchString(in.RolePath) {
		add(fmt.Errorf("--role-path %q: an IAM path starts and ends with '/' (like /openshift/) and is at most %d characters", in.RolePath, maxRolePath))
	}
	if b := in.PermissionsBoundary; b != "" && (!boundaryRE.MatchString(b) || !strings.HasPrefix(b, "arn:"+part.ID+":")) {
		add(fmt.Errorf("--permissions-boundary %q: want an IAM policy ARN in partition %s (arn:%s:iam::ACCOUNT:policy/NAME)", b, part.ID, part.ID))
	}
	add(validateTags(in.Name, in.Tags))
	return errors.Join(errs...)
}

func validateInput(in *Input) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(ValidateFlags(*in))
	if in.AccountID == "" { // ValidateFlags allows none: online it is the caller's
		add(errors.New(`--account-id "": an AWS account ID is exactly 12 digits`))
	}
	part, _ := PartitionFor(in.Region)
	if in.IssuerKind == "" {
		in.IssuerKind = PublicS3
	}
	switch in.IssuerKind {
	case PublicS3:
	case PrivateCloudFront:
		if in.CloudFrontDomain == "" || strings.ContainsAny(in.CloudFrontDomain, "/:") || !strings.HasPrefix(in.DistributionARN, "arn:"+part.ID+":cloudfront::"+in.AccountID+":distribution/") {
			add(fmt.Errorf("a private issuer needs the CloudFront distribution's domain name and ARN in account %s", in.AccountID))
		}
	default:
		add(fmt.Errorf("unknown issuer kind %q", in.IssuerKind))
	}
	if in.RolePath == "" {
		in.RolePath = "/"
	}
	if len(in.Requests) == 0 {
		add(errors.New("no AWS CredentialsRequest is included for this cluster: check --credentials-requests-dir or the release image, and the install-config's featureSet and capabilities (--explain lists what was left out and why)"))
	}
	if len(in.JWKS) == 0 {
		add(errors.New("no signer key set (JWKS) given"))
	}
	return errors.Join(errs...)
}

func tagList(name string, user map[string]string) []Tag {
	tags := []Tag{{Key: OwnershipTagKey(name), Value: OwnedValue}}
	for k, v := range user {
		tags = append(tags, Tag{Key: k, Value: v})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	return tags
}
