package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/hive"
	"github.com/oc-sts/oc-sts/pkg/installconfig"
	"github.com/oc-sts/oc-sts/pkg/installer"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// hiveFlags are prepare's Hive target: objects for a hub instead of an install dir.
type hiveFlags struct {
	Hive              bool
	HiveNamespace     string
	HiveConfigMap     bool
	ApplyToHub        bool
	ClusterDeployment string
	hub               *genericclioptions.ConfigFlags
}

const hiveDir = statedir.HiveDir

// Bind registers the Hive flags, listed in their own section of --help.
func (h *hiveFlags) Bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&h.Hive, "hive", false, "Instead of editing an install dir, write the Secrets (or ConfigMap) and ClusterDeployment patch a Hive hub needs (needs --name and --region).")
	f.StringVar(&h.HiveNamespace, "hive-namespace", "", "Namespace of the ClusterDeployment on the hub (default: the kube context's).")
	f.BoolVar(&h.HiveConfigMap, "hive-manifests-configmap", false, "Put the install manifests in a ConfigMap instead of a Secret (they name role ARNs).")
	f.BoolVar(&h.ApplyToHub, "apply-to-hub", false, "Create the objects on the hub of the current kube context.")
	f.StringVar(&h.ClusterDeployment, "cluster-deployment", "", "With --apply-to-hub: patch this ClusterDeployment and set credentialsMode: Manual in its install-config Secret.")
	h.hub = genericclioptions.NewConfigFlags(false)
	f.StringVar(h.hub.KubeConfig, "kubeconfig", "", "The hub's kubeconfig, for --hive (default: $KUBECONFIG, ~/.kube/config).")
	f.StringVar(h.hub.Context, "context", "", "The hub's kube context, for --hive.")
	group(f, "Hive flags (prepare --hive: objects for a Hive hub instead of an install dir)",
		"hive", "hive-namespace", "hive-manifests-configmap", "apply-to-hub", "cluster-deployment", "kubeconfig", "context")
}

// hiveTarget is a Hive hub: no install dir; the state dir is per user.
type hiveTarget struct {
	*hiveFlags
	name, stateDir string
	objs           hive.Objects
}

func (t *hiveTarget) complete(o *PrepareOptions) error {
	if o.StateDir == "" && o.Name != "" {
		if err := plan.ValidateName(o.Name); err != nil {
			return err
		}
		dir, err := statedir.UserDefault(o.Name)
		if err != nil {
			return err
		}
		// Earlier versions kept it in the current directory: never start a
		// second signer key beside the one a cluster may use.
		if legacy := statedir.DirName + "-" + o.Name; exists(legacy) {
			return fmt.Errorf("%s holds the state (signer key) of an earlier oc sts prepare --hive; the default is now per user (%s): pass --state-dir %s to keep using it, or move it there", legacy, dir, legacy)
		}
		o.StateDir = dir
	}
	if o.StateDir != "" {
		if err := o.lockStateDir(); err != nil {
			return err
		}
	}
	if t.HiveNamespace == "" {
		ns, _, err := t.hub.ToRawKubeConfigLoader().Namespace()
		if err != nil || ns == "" {
			ns = "default"
		}
		t.HiveNamespace = ns
	}
	t.name, t.stateDir = o.Name, o.StateDir
	return nil
}

func (t *hiveTarget) validate(o *PrepareOptions) error {
	switch {
	case o.Name == "" || o.Region == "":
		return errors.New("--hive needs --name (the ClusterDeployment's cluster name) and --region: there is no install-config to read them from")
	case o.Dir != "." && o.Dir != "":
		return errors.New("--hive writes no install dir: drop --dir")
	case t.ClusterDeployment != "" && !t.ApplyToHub:
		return errors.New("--cluster-deployment goes with --apply-to-hub")
	}
	return nil
}

// installConfig is an empty one: the ClusterDeployment's is on the hub.
func (t *hiveTarget) installConfig() *installconfig.Config { return &installconfig.Config{} }

func (t *hiveTarget) release(context.Context, *PrepareOptions) (installer.Release, error) {
	return installer.Release{}, errors.New("--hive has no install dir to find the release in: give --release-image or --credentials-requests-dir")
}

func (t *hiveTarget) signerKeyFile() string { return "" }

func (t *hiveTarget) rerunArgs(o *PrepareOptions) ([]string, string) {
	dir, _ := statedir.UserDefault(o.Name)
	return []string{"--hive", "--name", o.Name, "--region", o.Region}, dir
}
func (t *hiveTarget) dirs(*PrepareOptions) []string { return nil }

func (t *hiveTarget) objectsFile() string { return filepath.Join(t.stateDir, hiveDir, "objects.yaml") }
func (t *hiveTarget) patchFile() string {
	return filepath.Join(t.stateDir, hiveDir, "clusterdeployment-patch.json")
}

// hiveDocument is prepare --hive's -o json|yaml: the hub objects (the
// signing key's data left out: it stays in the state dir) and the patches.
type hiveDocument struct {
	APIVersion             string         `json:"apiVersion"`
	Kind                   string         `json:"kind"`
	ObjectsFile            string         `json:"objectsFile"`
	SigningKeySecret       string         `json:"signingKeySecret"`
	Manifests              any            `json:"manifests"`
	ClusterDeploymentPatch map[string]any `json:"clusterDeploymentPatch"`
	InstallConfigPatch     map[string]any `json:"installConfigPatch"`
}

// files are the hub objects (holding the signer key: 0600) and the patch,
// in the state dir's hive/.
func (t *hiveTarget) files(_ *PrepareOptions, p *plan.Plan, signer *oidckeys.Signer) ([]atomicfs.File, error) {
	t.objs = hive.Build(t.name, t.HiveNamespace, p, signer.PrivatePEM, t.HiveConfigMap)
	list, err := yaml.Marshal(t.objs.List())
	if err != nil {
		return nil, err
	}
	return []atomicfs.File{
		{Path: t.objectsFile(), Data: list, Mode: 0o600},
		{Path: t.patchFile(), Data: t.objs.ClusterDeploymentPatch, Mode: 0o644},
	}, nil
}

// report applies the objects to the hub when asked, then says what is next.
func (t *hiveTarget) report(ctx context.Context, o *PrepareOptions, p *plan.Plan, _ []provision.Change, _ *oidckeys.Signer, _ []string) error {
	objs := t.objs
	objectsFile, patchFile := t.objectsFile(), t.patchFile()
	if t.ApplyToHub {
		if err := t.applyToHub(ctx, o, objs); err != nil {
			return err
		}
	}
	if o.Output != "" {
		doc := hiveDocument{APIVersion: plan.APIVersion, Kind: "HiveObjects", ObjectsFile: objectsFile, SigningKeySecret: objs.SigningKey.Name,
			InstallConfigPatch: map[string]any{"credentialsMode": "Manual"}}
		if objs.ManifestsSecret != nil {
			doc.Manifests = objs.ManifestsSecret
		} else {
			doc.Manifests = objs.ManifestsConfigMap
		}
		if err := yaml.Unmarshal(objs.ClusterDeploymentPatch, &doc.ClusterDeploymentPatch); err != nil {
			return err
		}
		return printObject(o.Out, o.Output, doc)
	}
	w := o.Out
	fmt.Fprintf(w, "Prepared %s for Hive (%d CredentialsRequests, issuer %s).\n", o.Name, len(p.Roles), p.Issuer.URL)
	if t.ApplyToHub && t.ClusterDeployment != "" {
		fmt.Fprintf(w, "The hub has the objects; ClusterDeployment %s/%s points at them and its install-config is Manual.\n", t.HiveNamespace, t.ClusterDeployment)
		return nil
	}
	if !t.ApplyToHub {
		fmt.Fprintf(w, "\nNext, on the hub:\n  1. kubectl apply -f %s\n", objectsFile)
	} else {
		fmt.Fprintf(w, "\nThe hub has the objects. Next:\n")
	}
	fmt.Fprintf(w, "  2. kubectl patch clusterdeployment <name> -n %s --type=merge --patch-file %s\n", t.HiveNamespace, patchFile)
	fmt.Fprintf(w, "  3. set credentialsMode: Manual in install-config.yaml of the ClusterDeployment's install-config Secret\n")
	fmt.Fprintf(w, "  (or all at once: --apply-to-hub --cluster-deployment <name>)\n")
	return nil
}

func (t *hiveTarget) applyToHub(ctx context.Context, o *PrepareOptions, objs hive.Objects) error {
	kube, dyn, err := clusterClients(t.hub)
	if err != nil {
		return fmt.Errorf("the Hive hub: %w", err)
	}
	return hive.ApplyToHub(ctx, kube, dyn, objs, t.ClusterDeployment, progressTo(o.ErrOut))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
