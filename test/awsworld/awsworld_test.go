package awsworld

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

var moto *Moto

func TestMain(m *testing.M) {
	var err error
	if moto, err = StartMoto(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "AWS test world:", err)
		os.Exit(1)
	}
	code := m.Run()
	moto.Stop()
	os.Exit(code)
}

// world starts a gate in front of a freshly reset moto and returns an SDK
// config that reaches it the standard way (AWS_ENDPOINT_URL).
func world(t *testing.T) (*Gate, aws.Config) {
	t.Helper()
	if err := moto.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err := NewGate(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g, cfg
}

func TestCallsAreForwardedAndLogged(t *testing.T) {
	g, cfg := world(t)
	ctx := context.Background()
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || len(aws.ToString(id.Account)) != 12 {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if _, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gate-test-bucket")}); err != nil {
		t.Fatal(err)
	}
	calls := g.Calls()
	want := []Call{{Service: "sts", Operation: "GetCallerIdentity"}, {Service: "iam", Operation: "CreateRole", Mutating: true}, {Service: "s3", Operation: "PUT /gate-test-bucket", Mutating: true}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("log %v\nwant %v", calls, want)
	}
}

// Injected throttling, server errors and resets are retried by the SDK.
func TestFaultsAreRetried(t *testing.T) {
	for _, f := range []Fault{Throttling, InternalError, ConnectionReset} {
		g, cfg := world(t)
		g.FailCall(1, f)
		if _, err := iam.NewFromConfig(cfg).ListRoles(context.Background(), &iam.ListRolesInput{}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		calls := g.Calls()
		if len(calls) != 2 || calls[0].Injected != f || calls[1].Injected != "" {
			t.Errorf("%s: log %v", f, calls)
		}
	}
}

func TestFractionOfFaults(t *testing.T) {
	g, cfg := world(t)
	g.FailFraction(0.2, Throttling, 7)
	client := iam.NewFromConfig(cfg)
	for i := 0; i < 20; i++ {
		if _, err := client.ListRoles(context.Background(), &iam.ListRolesInput{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	injected := 0
	for _, c := range g.Calls() {
		if c.Injected != "" {
			injected++
		}
	}
	if injected == 0 || !strings.Contains(fmt.Sprint(g.Calls()), "ListRoles") {
		t.Errorf("no fault injected in %d calls", len(g.Calls()))
	}
}
