package awsworld

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Call is one request seen by the gate.
type Call struct {
	Service   string `json:"service"`          // SigV4 signing name (iam, sts, s3, cloudfront); "https" for anonymous fetches of issuer hosts
	Region    string `json:"region,omitempty"` // SigV4 signing region
	Operation string `json:"operation"`        // the query Action, or METHOD /path for REST services
	Mutating  bool   `json:"mutating"`
	Injected  Fault  `json:"injected,omitempty"` // the fault answered instead of moto, if any
	// Refused is the AWS error code the gate answered in AWS's place (an
	// explicit deny, IAM not yet consistent, Block Public Access, a bucket
	// of another account or region, an IAM limit): the call never reached moto.
	Refused string `json:"refused,omitempty"`
	// ExpectedBucketOwner is the account an S3 call said must own the bucket.
	ExpectedBucketOwner string `json:"expectedBucketOwner,omitempty"`
}

// Gate forwards AWS calls to moto, logs them, injects faults and latency,
// and answers as AWS does where moto does not (web-identity verification,
// IAM limits, S3 public access, CloudFront deployment). It is also an HTTPS
// proxy for the issuer hosts (S3 and CloudFront domains).
type Gate struct {
	moto    backend
	proxy   *httputil.ReverseProxy
	ca      *testCA
	tlsConn *connListener

	mu     sync.Mutex
	calls  []Call
	epoch  int // bumped by ResetLog, so a late answer cannot mark a call of the new log
	faults faultPlan
	denies map[string]DenySource // action pattern -> where the explicit deny is
	iamLag iamPropagation
	s3     s3World
	ids    map[string]identity // partition -> moto's caller
	// DeployDelay is how long a created or updated distribution stays InProgress.
	deployDelay time.Duration
	changed     map[string]time.Time         // distribution id -> last change
	oac         map[string]map[string]string // distribution id -> origin id -> origin access control id
	cf          cloudFrontCache
	simDenied   []string
}

// NewGate forwards to the moto server at motoURL.
func NewGate(motoURL string) (*Gate, error) {
	u, err := url.Parse(motoURL)
	if err != nil {
		return nil, err
	}
	ca, err := newTestCA()
	if err != nil {
		return nil, err
	}
	g := &Gate{moto: newBackend(motoURL), ca: ca, faults: newFaultPlan(), changed: map[string]time.Time{}, oac: map[string]map[string]string{},
		iamLag: newIAMPropagation(), s3: newS3World(), ids: map[string]identity{}, cf: newCloudFrontCache()}
	g.proxy = httputil.NewSingleHostReverseProxy(u)
	g.proxy.ModifyResponse = g.afterMoto
	g.proxy.ErrorLog = log.New(io.Discard, "", 0) // clients killed mid-call are expected
	g.serveTLS()
	return g, nil
}

// Calls returns the log so far.
func (g *Gate) Calls() []Call {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Call(nil), g.calls...)
}

// ResetLog forgets the calls and faults so far: injected faults, denies and
// IAM propagation windows. What the world holds (foreign buckets, the S3
// endpoint kind) stays until ResetWorld.
func (g *Gate) ResetLog() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls, g.faults, g.simDenied, g.denies = nil, newFaultPlan(), nil, nil
	g.iamLag.provider, g.iamLag.role = 0, 0
	g.epoch++
}

// ResetWorld also forgets what the gate adds to moto's world.
func (g *Gate) ResetWorld() {
	g.ResetLog()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.iamLag, g.s3 = newIAMPropagation(), newS3World()
	g.cf.reset()
}

// SetDeployDelay makes CloudFront distributions InProgress for d after each change.
func (g *Gate) SetDeployDelay(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deployDelay = d
}

type callKey struct{}

// inflight is what the shims and afterMoto need to know about the request
// they answer.
type inflight struct {
	call  Call
	body  []byte
	n     int // the call's 1-based position in the log of epoch
	epoch int
}

// refuse answers e in AWS's place and marks the call in the log.
func (g *Gate) refuse(w http.ResponseWriter, r *http.Request, e *apiError) {
	g.markRefused(r, e.code)
	e.write(w, callOf(r).call.Service)
}

func (g *Gate) markRefused(r *http.Request, code string) {
	in := callOf(r)
	g.mu.Lock()
	defer g.mu.Unlock()
	if in.epoch == g.epoch && in.n > 0 && in.n <= len(g.calls) {
		g.calls[in.n-1].Refused = code
	}
}

func callOf(r *http.Request) inflight {
	in, _ := r.Context().Value(callKey{}).(inflight)
	return in
}

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		g.connect(w, r)
		return
	case strings.HasPrefix(r.URL.Path, controlPrefix):
		g.control(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	call := describe(r, body)
	fault, delay, abort, n, epoch := g.admit(&call)
	if !sleep(r.Context(), delay) {
		return
	}
	if abort != nil {
		abort()
	}
	if fault != "" {
		injectFault(w, call.Service, fault)
		return
	}
	g.answer(w, r.WithContext(context.WithValue(r.Context(), callKey{}, inflight{call, body, n, epoch})), call, body)
}

// answer replies as AWS would: from a shim where moto falls short, else from moto.
func (g *Gate) answer(w http.ResponseWriter, r *http.Request, call Call, body []byte) {
	ctx := r.Context()
	form, _ := url.ParseQuery(string(body))
	if !unsigned(r) && call.Operation != "AssumeRoleWithWebIdentity" {
		if e := g.explicitDeny(ctx, r, call, form); e != nil {
			g.refuse(w, r, e)
			return
		}
	}
	var e *apiError
	switch {
	case call.Operation == "AssumeRoleWithWebIdentity":
		e = g.verifyWebIdentity(ctx, form)
	case call.Operation == "SimulatePrincipalPolicy":
		g.simulate(w, form)
		return
	case call.Service == "iam":
		if e = g.notYetVisible(call, form); e == nil {
			e = g.iamLimits(ctx, g.moto.in(call.Region), form)
		}
	case call.Service == "s3" && unsigned(r):
		bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		g.anonymousS3(w, r, "us-east-1", bucket, key, false)
		return
	case call.Service == "s3":
		if g.s3Elsewhere(w, r, call) {
			return
		}
		e = g.s3Guards(ctx, call.Region, r, body)
	case call.Service == "cloudfront":
		toMotoARNs(r)
		e = g.cloudFrontGuards(r)
	}
	if e != nil {
		g.refuse(w, r, e)
		return
	}
	g.proxy.ServeHTTP(w, r)
}

// afterMoto lets shims see moto's answers (new buckets, distribution state).
func (g *Gate) afterMoto(resp *http.Response) error {
	req := callOf(resp.Request)
	switch req.call.Service {
	case "iam":
		g.afterIAM(resp, req.body)
	case "s3":
		return g.afterS3(resp, req.call)
	case "cloudfront":
		return g.afterCloudFront(resp, req.body)
	}
	return nil
}

var scopeRE = regexp.MustCompile(`Credential=[^/]+/[0-9]{8}/([^/]+)/([^/]+)/aws4_request`)

// describe names a call from its signature scope and, for query
// protocols (IAM, STS), its Action parameter.
func describe(r *http.Request, body []byte) Call {
	c := Call{Service: "s3"} // unsigned REST calls are anonymous S3 requests
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.Region, c.Service = m[1], m[2]
	}
	if c.Service == "s3" {
		if strings.HasPrefix(r.URL.Path, s3ControlPrefix) { // S3 Control signs as s3
			c.Service = "s3control"
		}
		c.ExpectedBucketOwner = r.Header.Get(expectedOwnerHeader)
	}
	values, _ := url.ParseQuery(string(body))
	if action := values.Get("Action"); action != "" {
		if action == "AssumeRoleWithWebIdentity" { // sent unsigned
			c.Service = "sts"
		}
		c.Operation = action
		c.Mutating = !hasAnyPrefix(action, "Get", "List", "Simulate", "AssumeRole", "Decode")
		return c
	}
	c.Operation = r.Method + " " + r.URL.Path
	if q := r.URL.RawQuery; q != "" {
		c.Operation += "?" + strings.SplitN(q, "=", 2)[0]
	}
	c.Mutating = r.Method != http.MethodGet && r.Method != http.MethodHead
	return c
}

func unsigned(r *http.Request) bool {
	return r.Header.Get("Authorization") == "" && r.URL.Query().Get("X-Amz-Signature") == ""
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
