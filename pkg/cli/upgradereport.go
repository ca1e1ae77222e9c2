package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/upgrade"
)

// upgradeReport is upgrade-check's -o json|yaml document.
type upgradeReport struct {
	APIVersion     string             `json:"apiVersion"`
	Kind           string             `json:"kind"`
	CurrentVersion string             `json:"currentVersion"`
	TargetVersion  string             `json:"targetVersion"`
	Safe           bool               `json:"safe"`
	Findings       []upgrade.Finding  `json:"findings"`
	Applied        []provision.Change `json:"applied,omitempty"`
	UpgradeableTo  annotationReport   `json:"upgradeableTo"`
	Warnings       []string           `json:"warnings,omitempty"`
}

// annotationReport is the upgradeable-to annotation after the run.
type annotationReport struct {
	Value    string `json:"value"`
	Needed   bool   `json:"needed"`   // a minor upgrade: the operator blocks it without the annotation
	Unblocks bool   `json:"unblocks"` // the value lets the cloud credential operator report Upgradeable
	covers   bool   // ...up to the target's minor version
}

// annotate reports the upgradeable-to annotation and, with --apply on a
// safe cluster, sets it when the upgrade needs it and it does not already
// say so. Never when the check is not safe.
func (o *UpgradeOptions) annotate(ctx context.Context, st upgrade.State, version string, r *upgradeReport) error {
	value, err := upgrade.ReadAnnotation(ctx, o.dyn)
	if err != nil {
		return err
	}
	r.UpgradeableTo = annotationReport{Value: value, Unblocks: upgrade.Unblocks(value, st.ClusterVersion)}
	if version == "" {
		return nil
	}
	if r.UpgradeableTo.Needed, err = upgrade.AnnotationNeeded(version, st.ClusterVersion); err != nil {
		return err
	}
	r.UpgradeableTo.covers = upgrade.Covers(value, version, st.ClusterVersion)
	if !r.Safe || !o.Apply || o.DryRun || !r.UpgradeableTo.Needed || r.UpgradeableTo.covers {
		return nil
	}
	if err := upgrade.MarkUpgradeable(ctx, o.dyn, version); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "  set %s=%s on CloudCredential cluster\n", upgrade.UpgradeableToAnnotation, version)
	r.UpgradeableTo.Value, r.UpgradeableTo.Unblocks = version, upgrade.Unblocks(version, st.ClusterVersion)
	r.UpgradeableTo.covers = upgrade.Covers(version, version, st.ClusterVersion)
	return nil
}

func (o *UpgradeOptions) print(r upgradeReport) error {
	if o.Output != "" {
		return printObject(o.Out, o.Output, r)
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CREDENTIALSREQUEST\tFINDING\tBLOCKING\tDETAIL\tAPPLY")
	for _, f := range r.Findings {
		detail := f.Detail
		if len(f.Actions) > 0 {
			detail += ": " + strings.Join(f.Actions, ", ")
		}
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\n", f.CredentialsRequest, f.Kind, f.Blocking, detail, f.Apply)
	}
	w.Flush()
	if !r.Safe {
		return nil
	}
	fmt.Fprintf(o.Out, "\nSafe to upgrade from %s to %s as far as AWS credentials go.\n", r.CurrentVersion, r.TargetVersion)
	switch a := r.UpgradeableTo; {
	case r.TargetVersion == "":
		fmt.Fprintf(o.Out, "The target's version is unknown (a directory): give --target-version to check %s too.\n", upgrade.UpgradeableToAnnotation)
	case !a.Needed:
		fmt.Fprintf(o.Out, "The cloud credential operator does not block this update: %s is not needed.\n", upgrade.UpgradeableToAnnotation)
	case a.covers:
		fmt.Fprintf(o.Out, "%s=%s lets the cloud credential operator allow it.\n", upgrade.UpgradeableToAnnotation, a.Value)
	default:
		fmt.Fprintf(o.Out, "Next: oc sts upgrade-check --apply sets %s=%s, without which the cloud credential operator blocks the upgrade.\n", upgrade.UpgradeableToAnnotation, r.TargetVersion)
	}
	return nil
}
