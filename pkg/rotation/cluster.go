package rotation

import (
	"context"
	"fmt"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/oidckeys"
)

// Cluster is the running cluster as a rotation reads and changes it.
type Cluster interface {
	// Issuer is the cluster's service-account issuer (Authentication cluster).
	Issuer(ctx context.Context) (string, error)
	// SigningKIDs are the kids of n fresh tokens: the keys the API servers
	// sign with now (requests are spread over the API servers).
	SigningKIDs(ctx context.Context, n int) ([]string, error)
	// AcceptedKIDs are the keys the API server verifies tokens with (/openid/v1/jwks).
	AcceptedKIDs(ctx context.Context) ([]string, error)
	// HandedKID is the kid of the key in the kube-apiserver operator's
	// next-bound-service-account-signing-key Secret, "" when it holds none.
	HandedKID(ctx context.Context) (string, error)
	// HandOver puts key into that Secret; changed says whether it wrote.
	HandOver(ctx context.Context, key *oidckeys.Signer) (changed bool, err error)
	// Rollout is the kube-apiserver operator's progress.
	Rollout(ctx context.Context) (Rollout, error)
	// TokenSettings are kube-apiserver's token lifetime settings.
	TokenSettings(ctx context.Context) TokenSettings
}

// Rollout is the kube-apiserver operator's status (KubeAPIServer cluster).
type Rollout struct {
	Known          bool // the operator's status exists (an OpenShift cluster)
	LatestRevision int32
	Nodes          int
	NodesAtLatest  int
	Progressing    bool   // NodeInstallerProgressing
	Degraded       string // a Degraded condition of the operator that concerns the rollout or the signer
}

// Settled: every kube-apiserver runs the latest revision and none is being
// installed; true where there is no operator status to read.
func (r Rollout) Settled() bool {
	return !r.Known || (r.Nodes > 0 && r.NodesAtLatest == r.Nodes && !r.Progressing)
}

func (r Rollout) String() string {
	if !r.Known {
		return "no kube-apiserver operator status"
	}
	s := fmt.Sprintf("kube-apiserver revision %d on %d of %d nodes", r.LatestRevision, r.NodesAtLatest, r.Nodes)
	if r.Progressing {
		s += ", installing"
	}
	if r.Degraded != "" {
		s += ", degraded: " + r.Degraded
	}
	return s
}

// kidList names kids briefly for progress lines.
func kidList(kids []string) string {
	var short []string
	for _, k := range kids {
		short = append(short, shortKID(k))
	}
	return strings.Join(short, ", ")
}

func shortKID(kid string) string {
	if len(kid) > 12 {
		return kid[:12] + "…"
	}
	return kid
}
