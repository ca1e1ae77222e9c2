// Package clustercheck proves a cluster runs on short-lived AWS credentials:
// it reads facts from the cluster, the published issuer and AWS, and judges
// each link of the chain — cluster issuer ↔ discovery documents ↔ IAM OIDC
// provider ↔ role trust ↔ permissions ↔ Secrets — as a pure function.
package clustercheck

// Status is a check's verdict.
type Status string

const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Result is one check of one object.
type Result struct {
	Check  string `json:"check"`
	Object string `json:"object"`
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// Report is verify's -o json|yaml document.
type Report struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Issuer     string   `json:"issuer"`
	Results    []Result `json:"results"`
	Failed     int      `json:"failed"`
	Warnings   int      `json:"warnings"`
}

// NewReport counts the verdicts.
func NewReport(apiVersion, issuer string, results []Result) Report {
	r := Report{APIVersion: apiVersion, Kind: "VerifyReport", Issuer: issuer, Results: results}
	for _, res := range results {
		switch res.Status {
		case Fail:
			r.Failed++
		case Warn:
			r.Warnings++
		}
	}
	return r
}

// Check names.
const (
	CheckRootCredential  = "root-credential"
	CheckCredentialsMode = "credentials-mode"
	CheckIssuer          = "service-account-issuer"
	CheckDiscovery       = "discovery-document"
	CheckSigningKeys     = "signing-keys"
	CheckProvider        = "oidc-provider"
	CheckSecret          = "credentials-secret"
	CheckTrust           = "role-trust"
	CheckPermissions     = "role-permissions"
	CheckTokenExchange   = "token-exchange"
)
