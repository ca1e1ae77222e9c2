package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/handoff"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// The offline handoff: an AWS admin applies the plan (CloudFormation or the
// script), the OpenShift admin confirms with a read-only dry run, then
// installs. A private issuer takes two stages: its distribution's domain is
// the issuer, known only once the stage-1 stack has made it.

var cloudFrontDomainRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?\.cloudfront\.(net|cn)$`)

// privateStage1 is prepare --offline --private-bucket before the distribution exists.
func (o *PrepareOptions) privateStage1() bool {
	return o.Offline && o.PrivateBucket && o.CloudFrontDomain == ""
}

func (o *PrepareOptions) validateHandoff() error {
	given := o.CloudFrontDomain != "" || o.DistributionARN != ""
	switch {
	case given && !(o.Offline && o.PrivateBucket):
		return errors.New("--cloudfront-domain and --distribution-arn go with --offline --private-bucket (online, prepare finds its distribution itself)")
	case given && (o.CloudFrontDomain == "" || o.DistributionARN == ""):
		return errors.New("give both --cloudfront-domain and --distribution-arn: the outputs CloudFrontDomain and DistributionArn of the stage-1 stack")
	case o.CloudFrontDomain != "" && !cloudFrontDomainRE.MatchString(o.CloudFrontDomain):
		return fmt.Errorf("--cloudfront-domain %q: want the distribution's own domain (like d111111abcdef8.cloudfront.net), the stack output CloudFrontDomain", o.CloudFrontDomain)
	case o.DistributionARN != "" && !strings.HasPrefix(o.DistributionARN, distributionARNPrefix(o.Region, o.AccountID)):
		return fmt.Errorf("--distribution-arn %q: want the ARN of a distribution in account %s (%sID), the stack output DistributionArn", o.DistributionARN, o.AccountID, distributionARNPrefix(o.Region, o.AccountID))
	case o.privateStage1() && o.Output != "":
		return errors.New("-o prints the plan, which needs the issuer: give --cloudfront-domain and --distribution-arn (the outputs of the stage-1 stack)")
	case o.Offline && o.PrivateBucket:
		return provision.PrivateIssuerSupported(o.Region)
	}
	return nil
}

// privateIssuer points the plan input at the distribution of the flags; in
// stage 1 there are none and the issuer is known after apply (the stage-1
// stack's), which its rendering does not need.
func (o *PrepareOptions) privateIssuer(in *plan.Input) {
	in.IssuerKind = plan.PrivateCloudFront
	in.CloudFrontDomain, in.DistributionARN = o.CloudFrontDomain, o.DistributionARN
}

func distributionARNPrefix(region, account string) string {
	part, _ := awsid.PartitionFor(region)
	return awsid.DistributionARNPrefix(part.ID, account)
}

// writeIssuerStage writes stage 1 of a private issuer's handoff: only the
// state dir's aws/cloudformation.yaml; the install dir must wait for the issuer.
func (o *PrepareOptions) writeIssuerStage(ctx context.Context, p *plan.Plan) error {
	rendered, err := handoff.IssuerFiles(p)
	if err != nil {
		return err
	}
	files, err := statedir.AWSFiles(o.StateDir, rendered)
	if err != nil {
		return err
	}
	if _, err := atomicfs.Write(ctx, o.StateDir, files); err != nil {
		return writeError(err)
	}
	awsDir := filepath.Join(o.StateDir, statedir.AWSDir)
	template := filepath.Join(awsDir, handoff.TemplateFile)
	w := o.Out
	fmt.Fprintf(w, "Rendered stage 1 of 2 of the private issuer of %s: %s holds its bucket, CloudFront distribution and origin access control.\n", o.Name, template)
	fmt.Fprintf(w, "Nothing else is written yet: the cluster's manifests name the issuer, the distribution's domain.\n")
	fmt.Fprintf(w, "\nNext:\n  1. An admin of AWS account %s creates the stack:\n       %s\n", p.AccountID, handoff.DeployCommand(p, template, len(rendered[handoff.TemplateFile])))
	fmt.Fprintf(w, "     and reads its outputs CloudFrontDomain and DistributionArn:\n       %s\n", handoff.OutputsCommand(p))
	fmt.Fprintf(w, "  2. Render stage 2 with them, then follow what it says:\n       %s\n",
		o.rerun(true, "--cloudfront-domain", "CLOUDFRONT_DOMAIN", "--distribution-arn", "DISTRIBUTION_ARN"))
	return nil
}

// offlineNext tells the admin flow up to the install: apply, confirm.
func (o *PrepareOptions) offlineNext(p *plan.Plan) {
	w := o.Out
	awsDir := filepath.Join(o.StateDir, statedir.AWSDir)
	template := filepath.Join(awsDir, handoff.TemplateFile)
	size := 0
	if st, err := os.Stat(template); err == nil {
		size = int(st.Size())
	}
	fmt.Fprintf(w, "\nNext (plan: %s):\n", filepath.Join(o.StateDir, statedir.PlanFile))
	if p.Bucket.Private {
		fmt.Fprintf(w, "  1. An admin of AWS account %s updates the stage-1 stack with the full template:\n", p.AccountID)
	} else {
		fmt.Fprintf(w, "  1. An admin of AWS account %s applies it, with CloudFormation:\n", p.AccountID)
	}
	fmt.Fprintf(w, "       %s\n     then uploads the two discovery documents, which CloudFormation cannot hold:\n", handoff.DeployCommand(p, template, size))
	for _, c := range handoff.UploadCommands(p, awsDir) {
		fmt.Fprintf(w, "       %s\n", c)
	}
	if !p.Bucket.Private {
		fmt.Fprintf(w, "     or with the aws CLI script, safe to re-run (--dry-run shows what it would change; %s removes it all):\n       %s\n",
			handoff.DeleteScript, filepath.Join(awsDir, handoff.ApplyScript))
	}
	fmt.Fprintf(w, "  2. With read-only credentials of that account, confirm AWS matches the plan (\"nothing to change\"):\n       %s\n", o.rerun(false, "--dry-run"))
}

// rerun is this prepare again, online or offline, with the flags that shape
// the plan, and extra.
func (o *PrepareOptions) rerun(offline bool, extra ...string) string {
	args := []string{"oc", "sts", "prepare"}
	add := func(flag, value string) { args = append(args, flag, value) }
	target, defaultState := o.target.rerunArgs(o)
	args = append(args, target...)
	if o.StateDir != defaultState {
		add("--state-dir", o.StateDir)
	}
	if o.CredentialsRequestsDir != "" {
		add("--credentials-requests-dir", o.CredentialsRequestsDir)
	}
	if o.ReleaseImage != "" {
		add("--release-image", o.ReleaseImage)
	}
	if o.RegistryConfig != "" {
		add("--registry-config", o.RegistryConfig)
	}
	if o.Insecure {
		args = append(args, "--insecure")
	}
	if o.RolePath != "/" {
		add("--role-path", o.RolePath)
	}
	if o.PermissionsBoundary != "" {
		add("--permissions-boundary", o.PermissionsBoundary)
	}
	for _, k := range slices.Sorted(maps.Keys(o.Tags)) {
		add("--tag", k+"="+o.Tags[k])
	}
	if o.PrivateBucket {
		args = append(args, "--private-bucket")
	}
	if offline {
		args = append(args, "--offline")
	}
	add("--account-id", o.AccountID) // offline it names the account, online it is checked
	return handoff.Command(append(args, extra...)...)
}
