package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/operator"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
)

// VerifyOptions are the inputs of `oc sts verify`.
type VerifyOptions struct {
	ConfigFlags   *genericclioptions.ConfigFlags
	TokenExchange bool
	Region        string
	Output        string
	awsFlags

	kube kubernetes.Interface
	dyn  dynamic.Interface
	genericiooptions.IOStreams
}

// NewVerifyCmd builds `oc sts verify`.
func NewVerifyCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &VerifyOptions{IOStreams: streams, ConfigFlags: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that a live cluster really runs on short-lived AWS credentials",
		Long: `Verify checks every link of the STS chain and names the broken ones with a fix:
no root credential in the cluster; CloudCredential in Manual mode; the
Authentication issuer equal, byte for byte, to the published discovery
document's; every API-server signing key in the published JWKS; the IAM OIDC
provider for exactly that issuer with the openshift audience; each AWS
CredentialsRequest's Secret in STS form; its role trusting exactly that provider
and the request's service accounts, and allowing every action the request needs
(within its permissions boundary).

With --token-exchange it also gets a token of each request's service account
(TokenRequest, audience openshift) and trades it at STS for the role, as the
operator's pods do. Tokens and credentials are never shown. Verify changes
nothing; it exits 0 only when no check FAILs.`,
		Example: `  oc sts verify
  oc sts verify --token-exchange -o yaml`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	bindKubeFlags(cmd, o.ConfigFlags)
	cmd.Flags().BoolVar(&o.TokenExchange, "token-exchange", false, "Also exchange a service-account token for each role at STS.")
	cmd.Flags().StringVar(&o.Region, "region", "", "AWS region (default: the cluster's Infrastructure, then the AWS configuration).")
	o.awsFlags.Bind(cmd)
	addOutputFlag(cmd, &o.Output)
	return cmd
}

// Complete builds the cluster clients.
func (o *VerifyOptions) Complete() (err error) {
	o.kube, o.dyn, err = clusterClients(o.ConfigFlags)
	return err
}

// clusterClients are the typed and dynamic clients of the kubeconfig the
// flags select; no kubeconfig at all is an error, not localhost:8080.
func clusterClients(flags *genericclioptions.ConfigFlags) (kubernetes.Interface, dynamic.Interface, error) {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err == nil && len(raw.Clusters) == 0 && (flags.APIServer == nil || *flags.APIServer == "") {
		return nil, nil, errors.New("no cluster: log in (oc login), or give --kubeconfig or $KUBECONFIG")
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	return kube, dyn, err
}

// Validate checks the flags.
func (o *VerifyOptions) Validate() error { return validateOutput(o.Output) }

// Run reads the facts, judges them and reports.
func (o *VerifyOptions) Run(ctx context.Context) error {
	var f clustercheck.Facts
	var err error
	fmt.Fprintln(o.ErrOut, "Reading the cluster...")
	if f.Cluster, err = clustercheck.ReadCluster(ctx, o.kube, o.dyn); err != nil {
		return err
	}
	f.Cluster.SigningKID = clustercheck.SigningKeyID(ctx, o.kube, f.Cluster.Requests)
	if o.Region == "" {
		o.Region = clustercheck.ReadRegion(ctx, o.dyn)
	}
	cfg, err := provision.LoadConfig(ctx, o.Profile, o.Region)
	if err != nil {
		return err
	}
	c := provision.NewClients(cfg)
	id, err := provision.WhoAmI(ctx, c, cfg.Region)
	if err != nil {
		return err
	}
	host := awsid.IssuerHost(f.Cluster.Issuer)
	if f.Cluster.Issuer != "" {
		fmt.Fprintf(o.ErrOut, "Fetching %s anonymously, reading AWS account %s...\n", f.Cluster.Issuer, id.Account)
		f.Published = clustercheck.FetchPublished(ctx, f.Cluster.Issuer)
	}
	providerARN := awsid.ProviderARN(id.Partition, id.Account, host)
	subs, err := operator.ListSubscriptions(ctx, o.dyn)
	if err != nil {
		return err
	}
	wired := operator.Wired(subs)
	var wiredARNs []string
	for _, w := range wired {
		wiredARNs = append(wiredARNs, w.ARN)
	}
	if f.AWS, err = clustercheck.ReadAWS(ctx, c.IAM, providerARN, f.Cluster.Requests, wiredARNs...); err != nil {
		return err
	}
	// A day-2 operator's role trusts the service accounts oc sts operator
	// added to its request too: verify holds it to exactly those.
	f.Cluster.Requests = operator.WithAddedServiceAccounts(f.Cluster.Requests, f.AWS.Roles)
	if o.TokenExchange {
		fmt.Fprintf(o.ErrOut, "Exchanging service-account tokens at STS for %d roles...\n", len(f.Cluster.Requests))
		f.Exchanges = clustercheck.ExchangeTokens(ctx, o.kube, c.STS, f.Cluster.Requests)
	}
	results := append(clustercheck.Evaluate(f), operator.EvaluateWired(wired, f.Cluster.Requests, f.AWS.Roles, providerARN)...)
	report := clustercheck.NewReport(plan.APIVersion, f.Cluster.Issuer, results)
	if o.Output != "" {
		if err := printObject(o.Out, o.Output, report); err != nil {
			return err
		}
	} else {
		printReport(o, report)
	}
	if report.Failed > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d checks FAILed", report.Failed)}
	}
	return nil
}

func printReport(o *VerifyOptions, r clustercheck.Report) {
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CHECK\tOBJECT\tSTATUS\tREASON\tFIX")
	for _, res := range r.Results {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", res.Check, res.Object, res.Status, res.Reason, res.Fix)
	}
	w.Flush()
	switch {
	case r.Failed > 0:
		fmt.Fprintf(o.Out, "\n%d FAIL, %d WARN: the cluster does not fully run on short-lived credentials; apply the fixes above.\n", r.Failed, r.Warnings)
	default:
		fmt.Fprintf(o.Out, "\nEvery link of the STS chain holds (%d WARN).\n", r.Warnings)
	}
}
