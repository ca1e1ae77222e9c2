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
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// hiveFlags are prepare's Hive mode: objects for a hub instead of install-dir edits.
type hiveFlags struct {
	Hive              bool
	HiveNamespace     string
	HiveConfigMap     bool
	ApplyToHub        bool
	ClusterDeployment string
	hub               *genericclioptions.ConfigFlags
}

const hiveDir = statedir.HiveDir

func (h *hiveFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&h.Hive, "hive", false, "Instead of editing an install dir, write the Secrets (or ConfigMap) and ClusterDeployment patch a Hive hub needs (needs --name and --region).")
	f.StringVar(&h.HiveNamespace, "hive-namespace", "", "Namespace of the ClusterDeployment on the hub (default: the kube context's).")
	f.BoolVar(&h.HiveConfigMap, "hive-manifests-configmap", false, "Put the install manifests in a ConfigMap instead of a Secret (they name role ARNs).")
	f.BoolVar(&h.ApplyToHub, "apply-to-hub", false, "Create the objects on the hub of the current kube context.")
	f.StringVar(&h.ClusterDeployment, "cluster-deployment", "", "With --apply-to-hub: patch this ClusterDeployment and set credentialsMode: Manual in its install-config Secret.")
	h.hub = genericclioptions.NewConfigFlags(false)
	f.StringVar(h.hub.KubeConfig, "kubeconfig", "", "The hub's kubeconfig, for --hive (default: $KUBECONFIG, ~/.kube/config).")
	f.StringVar(h.hub.Context, "context", "", "The hub's kube context, for --hive.")
}

func (o *PrepareOptions) completeHive() error {
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
		if err := o.lockDirs(); err != nil {
			return err
		}
	}
	if o.HiveNamespace == "" {
		ns, _, err := o.hub.ToRawKubeConfigLoader().Namespace()
		if err != nil || ns == "" {
			ns = "default"
		}
		o.HiveNamespace = ns
	}
	return nil
}

func (o *PrepareOptions) validateHive() error {
	switch {
	case o.Name == "" || o.Region == "":
		return errors.New("--hive needs --name (the ClusterDeployment's cluster name) and --region: there is no install-config to read them from")
	case o.Dir != "." && o.Dir != "":
		return errors.New("--hive writes no install dir: drop --dir")
	case o.ClusterDeployment != "" && !o.ApplyToHub:
		return errors.New("--cluster-deployment goes with --apply-to-hub")
	}
	return nil
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

// writeHive writes the state dir and the hub objects, then applies them
// when asked.
func (o *PrepareOptions) writeHive(ctx context.Context, p *plan.Plan, signer *oidckeys.Signer) error {
	objs := hive.Build(o.Name, o.HiveNamespace, p, signer.PrivatePEM, o.HiveConfigMap)
	list, err := yaml.Marshal(objs.List())
	if err != nil {
		return err
	}
	files, err := statedir.Files(o.StateDir, p, signer)
	if err != nil {
		return err
	}
	objectsFile := filepath.Join(o.StateDir, hiveDir, "objects.yaml")
	patchFile := filepath.Join(o.StateDir, hiveDir, "clusterdeployment-patch.json")
	files = append(files,
		atomicfs.File{Path: objectsFile, Data: list, Mode: 0o600}, // holds the signer key
		atomicfs.File{Path: patchFile, Data: objs.ClusterDeploymentPatch, Mode: 0o644})
	if _, err := atomicfs.Write(ctx, o.StateDir, files); err != nil {
		return writeError(err)
	}
	if o.ApplyToHub {
		if err := o.applyToHub(ctx, objs); err != nil {
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
	if o.ApplyToHub && o.ClusterDeployment != "" {
		fmt.Fprintf(w, "The hub has the objects; ClusterDeployment %s/%s points at them and its install-config is Manual.\n", o.HiveNamespace, o.ClusterDeployment)
		return nil
	}
	if !o.ApplyToHub {
		fmt.Fprintf(w, "\nNext, on the hub:\n  1. kubectl apply -f %s\n", objectsFile)
	} else {
		fmt.Fprintf(w, "\nThe hub has the objects. Next:\n")
	}
	fmt.Fprintf(w, "  2. kubectl patch clusterdeployment <name> -n %s --type=merge --patch-file %s\n", o.HiveNamespace, patchFile)
	fmt.Fprintf(w, "  3. set credentialsMode: Manual in install-config.yaml of the ClusterDeployment's install-config Secret\n")
	fmt.Fprintf(w, "  (or all at once: --apply-to-hub --cluster-deployment <name>)\n")
	return nil
}

func (o *PrepareOptions) applyToHub(ctx context.Context, objs hive.Objects) error {
	kube, dyn, err := clusterClients(o.hub)
	if err != nil {
		return fmt.Errorf("the Hive hub: %w", err)
	}
	return hive.ApplyToHub(ctx, kube, dyn, objs, o.ClusterDeployment, progressTo(o.ErrOut))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
