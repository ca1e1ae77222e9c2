package cli

import (
	"context"
	"slices"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/operator"
	"github.com/oc-sts/oc-sts/pkg/upgrade"
)

// operatorFindings takes the day-2 OLM operators' requests out of live
// (they are not the release's: compared with the target they would read
// as removed) and holds each against its role, with the Subscriptions
// whose newer CSV awaits approval.
func operatorFindings(ctx context.Context, o *UpgradeOptions, live *upgrade.Live) ([]upgrade.Finding, error) {
	subs, err := operator.ListSubscriptions(ctx, o.dyn)
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	var ops []upgrade.OperatorRequest
	var release []clustercheck.Request
	requests := operator.WithAddedServiceAccounts(live.Requests, live.Roles)
	for i, r := range live.Requests {
		j := slices.IndexFunc(subs, func(s *operator.Subscription) bool { return operator.BelongsTo(requests[i], s) })
		if j < 0 {
			release = append(release, r)
			continue
		}
		ops = append(ops, upgrade.OperatorRequest{Request: requests[i], Subscription: subs[j].Key(), InstalledCSV: subs[j].InstalledCSV})
	}
	live.Requests = release
	var pending []upgrade.PendingUpdate
	for _, s := range subs {
		if s.CurrentCSV == "" || s.InstalledCSV == "" || s.CurrentCSV == s.InstalledCSV {
			continue
		}
		p := upgrade.PendingUpdate{Subscription: s.Key(), InstalledCSV: s.InstalledCSV, NextCSV: s.CurrentCSV}
		for _, op := range ops {
			if op.Subscription == s.Key() {
				p.Requests = append(p.Requests, op.Request.Name)
			}
		}
		pending = append(pending, p)
	}
	return upgrade.CompareOperators(*live, ops, pending), nil
}
