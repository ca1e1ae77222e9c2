package rotation

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

// ReportKind is rotate-key's -o json|yaml document.
const ReportKind = "KeyRotationReport"

// Report is where a rotation stands (rotate-key -o json|yaml, --status).
type Report struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	StateDir   string    `json:"stateDir"`
	Issuer     string    `json:"issuer"`
	Rotation   *State    `json:"rotation"` // null: none recorded
	Next       string    `json:"next"`     // the next step
	Intents    []Intent  `json:"intents,omitempty"`
	Observed   *Observed `json:"observed,omitempty"` // --status: what the issuer and the cluster show now
}

// Observed is what the issuer serves and the cluster does now.
type Observed struct {
	PublishedKIDs  []string `json:"publishedKIDs"`
	PublishedError string   `json:"publishedError,omitempty"`
	SigningKID     string   `json:"signingKID,omitempty"`
	AcceptedKIDs   []string `json:"acceptedKIDs,omitempty"`
	Rollout        string   `json:"rollout,omitempty"`
	ClusterError   string   `json:"clusterError,omitempty"`
	HandedKID      string   `json:"handedKID,omitempty"`
	PublishedHolds string   `json:"publishedHolds,omitempty"` // how it compares with what the rotation's phase publishes
}

// NewReport describes st (nil: no rotation) for stateDir.
func NewReport(stateDir string, p *plan.Plan, st *State, now time.Time) Report {
	return Report{APIVersion: plan.APIVersion, Kind: ReportKind, StateDir: stateDir, Issuer: p.Issuer.URL, Rotation: st, Next: NextStep(stateDir, st, now)}
}

// NextStep is what to run next, and why.
func NextStep(stateDir string, st *State, now time.Time) string {
	switch {
	case st == nil:
		return "oc sts rotate-key: stage a new signer key and roll it out"
	case st.Phase == Staging:
		return "oc sts rotate-key: finish publishing both keys, then roll the new one out"
	case st.Phase == Staged:
		return "oc sts rotate-key: hand the new key to the cluster and wait until it signs with it"
	case st.Phase == Rolling:
		return "oc sts rotate-key: go on waiting until the cluster signs with the new key"
	case st.Phase == Rolled && st.RetireAfter != nil && now.Before(*st.RetireAfter):
		return fmt.Sprintf("oc sts rotate-key retire, after %s (once every token of the old key has expired; --retire-after 0s waits for it)", st.RetireAfter.Local().Format(time.RFC3339))
	case st.Phase == Rolled, st.Phase == Retiring:
		return "oc sts rotate-key retire: publish the new key only"
	}
	return fmt.Sprintf("nothing: the rotation is done; the old key stays archived in %s until you remove it (oc sts rotate-key starts the next rotation)",
		filepath.Join(stateDir, retiredFile(st.Previous.KID)))
}

// Observe reads what the issuer serves and the cluster does now; what
// cannot be read is said, not an error.
func Observe(ctx context.Context, st *State, iss Issuer, c Cluster) *Observed {
	o := &Observed{}
	if served, err := iss.Served(ctx); err != nil {
		o.PublishedError = err.Error()
	} else {
		for _, k := range served.Keys {
			o.PublishedKIDs = append(o.PublishedKIDs, k.KeyID)
		}
		if st != nil {
			if want, err := st.Published(); err == nil {
				if problem := servesExactly(served, want); problem != "" {
					o.PublishedHolds = "not what phase " + string(st.Phase) + " publishes: " + problem
				} else {
					o.PublishedHolds = "what phase " + string(st.Phase) + " publishes"
				}
			}
		}
	}
	kids, err := c.SigningKIDs(ctx, 1)
	if err != nil {
		o.ClusterError = err.Error()
		return o
	}
	o.SigningKID = kids[0]
	if o.AcceptedKIDs, err = c.AcceptedKIDs(ctx); err != nil {
		o.ClusterError = err.Error()
	}
	if r, err := c.Rollout(ctx); err == nil {
		o.Rollout = r.String()
	}
	if kid, err := c.HandedKID(ctx); err == nil {
		o.HandedKID = kid
	}
	slices.Sort(o.AcceptedKIDs)
	return o
}
