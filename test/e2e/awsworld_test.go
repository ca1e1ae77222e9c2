package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oc-sts/oc-sts/test/awsworld"
)

// The moto servers: a test takes an idle one (reset) or starts one, and
// gives it back when it ends, so tests running side by side (t.Parallel)
// each have an AWS account of their own and a package run starts only as
// many servers as tests ran at once.
var (
	motoMu    sync.Mutex
	idleMotos []*awsworld.Moto
	allMotos  []*awsworld.Moto
)

func stopMoto() {
	motoMu.Lock()
	defer motoMu.Unlock()
	for _, m := range allMotos {
		m.Stop()
	}
}

// world is the AWS test world for one test: a reset moto behind a new gate.
type world struct {
	moto   string // its moto server's URL
	gate   *awsworld.Gate
	env    []string
	direct aws.Config // straight to moto, for the test's own reads and drift
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return worldOn(t, takeMoto(t).URL)
}

// takeMoto is a moto server of the test's own until it ends, with no state.
func takeMoto(t testing.TB) *awsworld.Moto {
	t.Helper()
	motoMu.Lock()
	var m *awsworld.Moto
	if n := len(idleMotos); n > 0 {
		m, idleMotos = idleMotos[n-1], idleMotos[:n-1]
	}
	motoMu.Unlock()
	if m == nil {
		var err error
		if m, err = awsworld.StartMoto(context.Background()); err != nil {
			t.Fatalf("AWS test world: %v", err)
		}
		motoMu.Lock()
		allMotos = append(allMotos, m)
		motoMu.Unlock()
	} else if err := m.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		motoMu.Lock()
		idleMotos = append(idleMotos, m)
		motoMu.Unlock()
	})
	return m
}

func worldOn(t testing.TB, motoURL string) *world {
	t.Helper()
	g, err := awsworld.NewGate(motoURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); g.Close() })
	home := t.TempDir()
	ca := filepath.Join(home, "ca.pem")
	os.WriteFile(ca, g.CACertPEM(), 0o644)
	return &world{
		moto: motoURL,
		gate: g,
		// HTTP_PROXY carries S3 Control, whose SDK puts the account ID in front of the endpoint's host.
		env: []string{"AWS_ENDPOINT_URL=" + srv.URL, "HTTPS_PROXY=" + srv.URL, "HTTP_PROXY=" + srv.URL, "SSL_CERT_FILE=" + ca, "HOME=" + home,
			"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true", "PATH=" + os.Getenv("PATH")},
		direct: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(motoURL), Credentials: credentials.NewStaticCredentialsProvider("t", "t", "")},
	}
}

// ocSTS runs the binary against the world.
func (w *world) ocSTS(t testing.TB, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = w.env
	return runCmd(t, cmd)
}

func (w *world) prepare(t testing.TB, dir, crDir string, extra ...string) result {
	t.Helper()
	return w.ocSTS(t, append([]string{"prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crDir, "--yes"}, extra...)...)
}

// mutating lists the mutating AWS calls that reached AWS (not answered
// with an injected fault or refused) since the log was last reset.
func (w *world) mutating() []string {
	var out []string
	for _, c := range w.gate.Calls() {
		if c.Mutating && c.Injected == "" && c.Refused == "" {
			out = append(out, c.Operation)
		}
	}
	return out
}

func (w *world) iam() *iam.Client { return iam.NewFromConfig(w.direct) }
func (w *world) s3() *s3.Client {
	return s3.NewFromConfig(w.direct, func(o *s3.Options) { o.UsePathStyle = true })
}

// state renders everything in the account a user would look at, read
// straight from moto: roles with trust, policies and tags, providers, buckets.
func (w *world) state(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	d, err := w.iam().GetAccountAuthorizationDetails(ctx, &iam.GetAccountAuthorizationDetailsInput{Filter: []iamtypes.EntityType{iamtypes.EntityTypeRole}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.RoleDetailList {
		line := fmt.Sprintf("role %s trust=%s tags=%s", aws.ToString(r.Arn), aws.ToString(r.AssumeRolePolicyDocument), iamTagString(r.Tags))
		for _, p := range r.RolePolicyList {
			line += fmt.Sprintf(" policy %s=%s", aws.ToString(p.PolicyName), aws.ToString(p.PolicyDocument))
		}
		lines = append(lines, line)
	}
	providers, err := w.iam().ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range providers.OpenIDConnectProviderList {
		got, err := w.iam().GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: p.Arn})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("provider %s clients=%v tags=%s", aws.ToString(p.Arn), got.ClientIDList, iamTagString(got.Tags)))
	}
	buckets, err := w.s3().ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets.Buckets {
		line := "bucket " + aws.ToString(b.Name)
		if pol, err := w.s3().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b.Name}); err == nil {
			line += " policy=" + aws.ToString(pol.Policy)
		}
		if pab, err := w.s3().GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b.Name}); err == nil {
			c := pab.PublicAccessBlockConfiguration
			line += fmt.Sprintf(" block=%v,%v,%v,%v", *c.BlockPublicAcls, *c.IgnorePublicAcls, *c.BlockPublicPolicy, *c.RestrictPublicBuckets)
		}
		if tags, err := w.s3().GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b.Name}); err == nil {
			for _, tg := range tags.TagSet {
				line += fmt.Sprintf(" tag %s=%s", aws.ToString(tg.Key), aws.ToString(tg.Value))
			}
		}
		objs, _ := w.s3().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b.Name})
		for _, o := range objs.Contents {
			line += fmt.Sprintf(" object %s=%s", aws.ToString(o.Key), aws.ToString(o.ETag))
		}
		lines = append(lines, line)
	}
	cf := cloudfront.NewFromConfig(w.direct)
	dists, err := cf.ListDistributions(ctx, &cloudfront.ListDistributionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if dists.DistributionList != nil {
		for _, d := range dists.DistributionList.Items {
			lines = append(lines, "distribution "+aws.ToString(d.DomainName))
		}
	}
	oacs, err := cf.ListOriginAccessControls(ctx, &cloudfront.ListOriginAccessControlsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if oacs.OriginAccessControlList != nil {
		for _, o := range oacs.OriginAccessControlList.Items {
			lines = append(lines, "origin-access-control "+aws.ToString(o.Name))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func iamTagString(tags []iamtypes.Tag) string {
	var out []string
	for _, t := range tags {
		out = append(out, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
