package awsworld

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Call is one AWS API call seen by the gate.
type Call struct {
	Service   string // the SigV4 signing name: iam, sts, s3, cloudfront
	Operation string // the query Action, or METHOD /path for REST services
	Mutating  bool
	Injected  Fault // the fault answered instead of moto, if any
}

// Fault is what the gate answers instead of forwarding a call.
type Fault string

const (
	Throttling      Fault = "Throttling"
	InternalError   Fault = "InternalError"
	ConnectionReset Fault = "ConnectionReset"
)

// Gate forwards to moto, logs calls and injects faults.
type Gate struct {
	proxy *httputil.ReverseProxy

	mu            sync.Mutex
	calls         []Call
	failAt        map[int]Fault // 1-based call number -> fault
	failFraction  float64
	fractionFault Fault
	rnd           *rand.Rand
}

// NewGate forwards to the moto server at motoURL.
func NewGate(motoURL string) (*Gate, error) {
	u, err := url.Parse(motoURL)
	if err != nil {
		return nil, err
	}
	return &Gate{proxy: httputil.NewSingleHostReverseProxy(u), failAt: map[int]Fault{}, rnd: rand.New(rand.NewSource(1))}, nil
}

// FailCall answers the k-th call (1-based, counted from now on) with f.
func (g *Gate) FailCall(k int, f Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failAt[len(g.calls)+k] = f
}

// FailFraction answers about p of the calls with f, reproducibly (seeded).
func (g *Gate) FailFraction(p float64, f Fault, seed int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failFraction, g.fractionFault, g.rnd = p, f, rand.New(rand.NewSource(seed))
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
	g.calls, g.failAt, g.failFraction = nil, map[int]Fault{}, 0
}

var scopeRE = regexp.MustCompile(`Credential=[^/]+/[0-9]{8}/[^/]+/([^/]+)/aws4_request`)

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	call := describe(r, body)

	g.mu.Lock()
	n := len(g.calls) + 1
	fault := g.failAt[n]
	if fault == "" && g.failFraction > 0 && g.rnd.Float64() < g.failFraction {
		fault = g.fractionFault
	}
	call.Injected = fault
	g.calls = append(g.calls, call)
	g.mu.Unlock()

	switch fault {
	case "":
		g.proxy.ServeHTTP(w, r)
	case ConnectionReset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
	default:
		writeError(w, call.Service, fault)
	}
}

// describe names a call from its signature scope and, for query
// protocols (IAM, STS), its Action parameter.
func describe(r *http.Request, body []byte) Call {
	c := Call{Service: "unknown"}
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.Service = m[1]
	}
	values, _ := url.ParseQuery(string(body))
	if action := values.Get("Action"); action != "" {
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

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// writeError answers in the error shape of the service's protocol, so the
// SDK classifies it as AWS would (Throttling is retried with backoff).
func writeError(w http.ResponseWriter, service string, f Fault) {
	status, code := http.StatusBadRequest, "Throttling"
	if f == InternalError {
		status, code = http.StatusInternalServerError, "InternalError"
	}
	if service == "s3" {
		if f == Throttling {
			status, code = http.StatusServiceUnavailable, "SlowDown"
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by the test gate</Message><RequestId>gate</RequestId></Error>`, code)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>injected by the test gate</Message></Error><RequestId>gate</RequestId></ErrorResponse>`, code)
}
