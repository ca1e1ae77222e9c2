package awsworld

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

var moto *Moto

// gateURL is the address of the current test's gate.
var gateURL string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("test/awsworld: skipped under -short (every test runs moto_server)")
		os.Exit(0)
	}
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
	t.Cleanup(func() { srv.Close(); g.Close() })
	gateURL = srv.URL
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
	if _, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gate-test-bucket")}); err != nil {
		t.Fatal(err)
	}
	calls := g.Calls()
	want := []Call{{Service: "sts", Region: "us-east-1", Operation: "GetCallerIdentity"}, {Service: "iam", Region: "us-east-1", Operation: "CreateRole", Mutating: true}, {Service: "s3", Region: "us-east-1", Operation: "PUT /gate-test-bucket", Mutating: true}}
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

const ec2Trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// webClient reaches the gate's issuer hosts the way a product does: through
// an HTTP proxy, trusting the test CA.
func webClient(t *testing.T, g *Gate) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(g.CACertPEM())
	proxy, _ := url.Parse(gateURL)
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func httpStatus(t *testing.T, c *http.Client, method, rawURL string) int {
	t.Helper()
	req, _ := http.NewRequest(method, rawURL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := errorCode(err); got != code {
		t.Errorf("%s: error %v, want code %s", what, err, code)
	}
}

func TestLatencyAndAbort(t *testing.T) {
	g, cfg := world(t)
	client := sts.NewFromConfig(cfg)
	ctx := context.Background()
	g.SetLatency(150 * time.Millisecond)
	start := time.Now()
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("call took %v, latency 150ms not applied", took)
	}
	g.SetLatency(0)
	aborted := 0
	g.AbortAfter(1, func() { aborted++ })
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("first call after AbortAfter(1): %v", err)
	}
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Error("second call after AbortAfter(1) succeeded; the network should be gone")
	}
	if aborted != 1 {
		t.Errorf("abort ran %d times, want once", aborted)
	}
}

// AbortAfterMutating lets reads and k mutating calls through and cuts the
// call after the k-th mutating one: a run killed right after a change.
func TestAbortAfterMutating(t *testing.T) {
	g, cfg := world(t)
	client := iam.NewFromConfig(cfg)
	ctx := context.Background()
	aborted := 0
	g.AbortAfterMutating(1, func() { aborted++ })
	for i := 0; i < 3; i++ {
		if _, err := client.ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
			t.Fatalf("read %d before the change: %v", i, err)
		}
	}
	if _, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatalf("the change: %v", err)
	}
	if aborted != 0 {
		t.Fatal("aborted before the call after the change")
	}
	_, err := client.ListRoles(ctx, &iam.ListRolesInput{}, func(o *iam.Options) { o.RetryMaxAttempts = 1 })
	if err == nil || aborted != 1 {
		t.Errorf("the call after the change: %v, abort ran %d times, want a cut network and once", err, aborted)
	}
}

func TestControlAPI(t *testing.T) {
	g, cfg := world(t)
	post := func(path, body string) {
		resp, err := http.Post(gateURL+path, "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	post("/gate-api/faults", `{"failCalls":{"1":"InternalError"}}`)
	if _, err := iam.NewFromConfig(cfg).ListRoles(context.Background(), &iam.ListRolesInput{}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(gateURL + "/gate-api/calls")
	if err != nil {
		t.Fatal(err)
	}
	var calls []Call
	json.NewDecoder(resp.Body).Decode(&calls)
	resp.Body.Close()
	if len(calls) != 2 || calls[0].Injected != InternalError || calls[1].Operation != "ListRoles" {
		t.Errorf("calls %+v", calls)
	}
	if _, err := iam.NewFromConfig(cfg).CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Fatal(err)
	}
	post("/gate-api/faults", `{"deny":{"iam:List*":"permissions boundary"},"rolePropagation":"1h","foreignBuckets":{"taken":"210987654321"}}`)
	_, err = iam.NewFromConfig(cfg).ListRoles(context.Background(), &iam.ListRolesInput{})
	if errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "iam:ListRoles with an explicit deny in a permissions boundary") {
		t.Errorf("deny set through the control API: %v", err)
	}
	if _, err := iam.NewFromConfig(cfg).CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String("young"), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Fatal(err)
	}
	_, err = iam.NewFromConfig(cfg).GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String("young")})
	wantCode(t, "rolePropagation set through the control API", err, "NoSuchEntity")
	if resp, err := http.Post(gateURL+"/gate-api/faults", "application/json", strings.NewReader(`{"deny":{"iam:*":"a memo"}}`)); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown deny source must be refused: %v %v", err, resp)
	}
	post("/gate-api/reset?world=1", "")
	if len(g.Calls()) != 0 {
		t.Errorf("log not reset: %v", g.Calls())
	}
	if _, ok := g.foreignOwner("taken"); ok {
		t.Error("foreign buckets not forgotten with the world")
	}
	roles, err := iam.NewFromConfig(cfg).ListRoles(context.Background(), &iam.ListRolesInput{})
	if err != nil || len(roles.Roles) != 0 {
		t.Errorf("world not reset: %v %v", err, roles)
	}
}

func TestProxyHasNoInternet(t *testing.T) {
	g, _ := world(t)
	_, err := webClient(t, g).Get("https://example.com/")
	if err == nil || !strings.Contains(err.Error(), "Bad Gateway") {
		t.Errorf("fetch of a host outside the test world: %v", err)
	}
}
