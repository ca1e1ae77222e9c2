package operator

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
)

// CheckRoleARN is verify's check of a role ARN a Subscription gives its
// operator (ROLEARN, NODE_ROLEARN): a role of the cluster's account that
// exists, and that the operator has put in its CredentialsRequest. The
// request itself then goes through verify's chain (Secret, role, trust,
// permissions, token exchange) like the release's.
const CheckRoleARN = "operator-role-arn"

// WiredARN is a role ARN a Subscription's spec.config.env gives its operator.
type WiredARN struct {
	Subscription string // namespace/name
	Env, ARN     string
}

// Wired lists the role ARNs of the Subscriptions' spec.config.env.
func Wired(subs []*Subscription) []WiredARN {
	var out []WiredARN
	for _, s := range subs {
		for _, e := range s.Env {
			if isRoleARNVar(e.Name) && e.Value != "" {
				out = append(out, WiredARN{Subscription: s.Key(), Env: e.Name, ARN: e.Value})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subscription != out[j].Subscription {
			return out[i].Subscription < out[j].Subscription
		}
		return out[i].Env < out[j].Env
	})
	return out
}

// EvaluateWired judges each wired ARN. roles holds what AWS has of them
// (by ARN, nil when missing; absent when not read: another account's).
func EvaluateWired(wired []WiredARN, requests []clustercheck.Request, roles map[string]*clustercheck.Role, providerARN string) []clustercheck.Result {
	var out []clustercheck.Result
	for _, w := range wired {
		object := "subscription " + w.Subscription
		fix := fmt.Sprintf("oc sts operator --subscription %s -n %s", subName(w.Subscription), subNamespace(w.Subscription))
		add := func(s clustercheck.Status, reason, fix string) {
			out = append(out, clustercheck.Result{Check: CheckRoleARN, Object: object, Status: s, Reason: reason, Fix: fix})
		}
		if problem := clustercheck.RoleARNProblem(w.ARN, providerARN); problem != "" {
			add(clustercheck.Fail, w.Env+" names "+problem, fix+" (it sets the role this cluster's account has for it)")
			continue
		}
		role, read := roles[w.ARN]
		if read && role == nil {
			add(clustercheck.Fail, w.Env+" names role "+w.ARN+", which does not exist", fix+" (it makes the role)")
			continue
		}
		var users []string
		for _, r := range requests {
			if r.STSRoleARN == w.ARN {
				users = append(users, "credentialsrequest "+r.Key())
			}
		}
		if len(users) == 0 {
			add(clustercheck.Warn, w.Env+" names "+w.ARN+", but no CredentialsRequest of the cluster carries it as stsIAMRoleARN yet: the operator has not picked it up",
				"check that the operator's ClusterServiceVersion is Succeeded and its pod restarted (oc get csv -n "+subNamespace(w.Subscription)+")")
			continue
		}
		add(clustercheck.Pass, w.Env+" "+w.ARN+" is the stsIAMRoleARN of "+strings.Join(users, ", "), "")
	}
	return out
}

func subNamespace(key string) string { ns, _, _ := strings.Cut(key, "/"); return ns }
func subName(key string) string      { _, n, _ := strings.Cut(key, "/"); return n }

// WithAddedServiceAccounts adds to each request the service accounts its
// role's tag says --service-account added (an operator's request often
// names fewer than use its Secret, or none): verify then holds the trust
// to exactly those and exchanges a token of one of them.
func WithAddedServiceAccounts(requests []clustercheck.Request, roles map[string]*clustercheck.Role) []clustercheck.Request {
	out := make([]clustercheck.Request, len(requests))
	for i, r := range requests {
		out[i] = r
		role := roles[r.Secret.RoleARN]
		if role == nil || role.Tags[ServiceAccountsTag] == "" {
			continue
		}
		sas := append([]string(nil), r.ServiceAccounts...)
		for _, sa := range strings.Split(role.Tags[ServiceAccountsTag], ",") {
			if sa != "" && !slices.Contains(sas, sa) {
				sas = append(sas, sa)
			}
		}
		out[i].ServiceAccounts = sas
	}
	return out
}
