package awsworld

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// The control API lets scripts and benchmarks drive a standalone gate:
//
//	GET  /gate-api/calls   the call log (JSON array of Call)
//	POST /gate-api/reset   forget calls, faults, denies and propagation windows;
//	                       ?world=1 also empties moto and forgets foreign buckets
//	POST /gate-api/faults  {"latency":"50ms","failFraction":0.2,"fault":"Throttling",
//	                        "seed":1,"failCalls":{"3":"InternalError"},"abortAfter":10,
//	                        "abortAfterMutating":1,
//	                        "failOperations":{"DeleteRole":"AccessDenied"},
//	                        "deployDelay":"2s",
//	                        "deny":{"iam:CreateOpenIDConnectProvider":"service control policy"},
//	                        "providerPropagation":"5s","rolePropagation":"5s",
//	                        "foreignBuckets":{"taken-oidc":"210987654321"},
//	                        "s3GlobalEndpoint":true}
//	GET  /gate-api/ca.pem  the test CA
const controlPrefix = "/gate-api/"

// FaultSettings is the body of POST /gate-api/faults.
type FaultSettings struct {
	Latency      string           `json:"latency,omitempty"`
	FailFraction float64          `json:"failFraction,omitempty"`
	Fault        Fault            `json:"fault,omitempty"`
	Seed         int64            `json:"seed,omitempty"`
	FailCalls    map[int]Fault    `json:"failCalls,omitempty"`
	FailOps      map[string]Fault `json:"failOperations,omitempty"`
	AbortAfter   int              `json:"abortAfter,omitempty"`
	// AbortAfterMutating cuts the network after that many mutating calls.
	AbortAfterMutating int    `json:"abortAfterMutating,omitempty"`
	DeployDelay        string `json:"deployDelay,omitempty"`
	// Deny answers the calls of these IAM actions (wildcards allowed) with
	// an explicit deny from the named source ("service control policy",
	// "permissions boundary" or "identity-based policy").
	Deny map[string]DenySource `json:"deny,omitempty"`
	// ProviderPropagation and RolePropagation are IAM's eventual
	// consistency windows (see SetIAMPropagation).
	ProviderPropagation string `json:"providerPropagation,omitempty"`
	RolePropagation     string `json:"rolePropagation,omitempty"`
	// ForeignBuckets are bucket names owned by other accounts.
	ForeignBuckets map[string]string `json:"foreignBuckets,omitempty"`
	// S3GlobalEndpoint answers wrong-region requests as s3.amazonaws.com does.
	S3GlobalEndpoint bool `json:"s3GlobalEndpoint,omitempty"`
}

// Apply sets the faults on g (cutting the network after AbortAfter calls).
func (s FaultSettings) Apply(g *Gate) error {
	latency, err := parseDuration(s.Latency)
	if err != nil {
		return err
	}
	delay, err := parseDuration(s.DeployDelay)
	if err != nil {
		return err
	}
	providerLag, err := parseDuration(s.ProviderPropagation)
	if err != nil {
		return err
	}
	roleLag, err := parseDuration(s.RolePropagation)
	if err != nil {
		return err
	}
	for action, source := range s.Deny {
		switch source {
		case SCP, PermissionsBoundary, IdentityPolicy:
		default:
			return fmt.Errorf("deny %s: source %q is none of %q, %q, %q", action, source, SCP, PermissionsBoundary, IdentityPolicy)
		}
	}
	g.SetLatency(latency)
	g.SetDeployDelay(delay)
	g.SetIAMPropagation(providerLag, roleLag)
	g.S3GlobalEndpoint(s.S3GlobalEndpoint)
	for action, source := range s.Deny {
		g.Deny(action, source)
	}
	for bucket, account := range s.ForeignBuckets {
		g.ForeignBucket(bucket, account)
	}
	if s.FailFraction > 0 {
		f := s.Fault
		if f == "" {
			f = Throttling
		}
		g.FailFraction(s.FailFraction, f, s.Seed)
	}
	for k, f := range s.FailCalls {
		g.FailCall(k, f)
	}
	for op, f := range s.FailOps {
		g.FailOperation(op, f)
	}
	if s.AbortAfter > 0 {
		g.AbortAfter(s.AbortAfter, nil)
	}
	if s.AbortAfterMutating > 0 {
		g.AbortAfterMutating(s.AbortAfterMutating, nil)
	}
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

func (g *Gate) control(w http.ResponseWriter, r *http.Request) {
	switch r.Method + " " + r.URL.Path {
	case "GET /gate-api/calls":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(g.Calls())
	case "GET /gate-api/ca.pem":
		w.Write(g.CACertPEM())
	case "POST /gate-api/reset":
		g.ResetLog()
		if r.URL.Query().Get("world") != "" {
			g.ResetWorld()
			if err := g.moto.reset(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
		}
	case "POST /gate-api/faults":
		var s FaultSettings
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.Apply(g); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	default:
		http.NotFound(w, r)
	}
}
