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
	faults faultPlan
	// DeployDelay is how long a created or updated distribution stays InProgress.
	deployDelay time.Duration
	changed     map[string]time.Time         // distribution id -> last change
	oac         map[string]map[string]string // distribution id -> origin id -> origin access control id
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
	g := &Gate{moto: newBackend(motoURL), ca: ca, faults: newFaultPlan(), changed: map[string]time.Time{}, oac: map[string]map[string]string{}}
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

// ResetLog forgets the calls and faults so far.
func (g *Gate) ResetLog() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls, g.faults, g.simDenied = nil, newFaultPlan(), nil
}

// SetDeployDelay makes CloudFront distributions InProgress for d after each change.
func (g *Gate) SetDeployDelay(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deployDelay = d
}

type callKey struct{}

// inflight is what afterMoto needs to know about the request it answers.
type inflight struct {
	call Call
	body []byte
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
	fault, delay, abort := g.admit(&call)
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
	g.answer(w, r.WithContext(context.WithValue(r.Context(), callKey{}, inflight{call, body})), call, body)
}

// answer replies as AWS would: from a shim where moto falls short, else from moto.
func (g *Gate) answer(w http.ResponseWriter, r *http.Request, call Call, body []byte) {
	ctx := r.Context()
	form, _ := url.ParseQuery(string(body))
	var e *apiError
	switch {
	case call.Operation == "AssumeRoleWithWebIdentity":
		e = g.verifyWebIdentity(ctx, form)
	case call.Operation == "SimulatePrincipalPolicy":
		g.simulate(w, form)
		return
	case call.Service == "iam":
		e = g.iamLimits(ctx, g.moto.in(call.Region), form)
	case call.Service == "s3" && unsigned(r):
		bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		g.anonymousS3(w, r, "us-east-1", bucket, key)
		return
	case call.Service == "s3":
		e = g.s3Guards(ctx, g.moto.in(call.Region), r, body)
	case call.Service == "cloudfront":
		toMotoARNs(r)
		e = g.cloudFrontGuards(r)
	}
	if e != nil {
		e.write(w, call.Service)
		return
	}
	g.proxy.ServeHTTP(w, r)
}

// afterMoto lets shims see moto's answers (new buckets, distribution state).
func (g *Gate) afterMoto(resp *http.Response) error {
	req, _ := resp.Request.Context().Value(callKey{}).(inflight)
	switch req.call.Service {
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
