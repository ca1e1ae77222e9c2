package cli

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/openshift/library-go/pkg/manifest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/installconfig"
	"github.com/oc-sts/oc-sts/pkg/releaseimage"
	"github.com/oc-sts/oc-sts/pkg/upgrade"
)

var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+`)

// keepForUpgrade keeps, besides CredentialsRequests, what decides inclusion
// after an upgrade: FeatureGate manifests and every manifest carrying a
// capability (its object may make the CVO enable that capability).
func keepForUpgrade(data []byte) bool {
	return credreq.HoldsFeatureGate(data) || bytes.Contains(data, []byte(manifest.CapabilityAnnotation))
}

// target reads the target's manifests and version.
func (o *UpgradeOptions) target(ctx context.Context, st upgrade.State) (upgrade.Target, error) {
	if o.CredentialsRequestsDir != "" {
		files, err := credreq.ReadDir(o.CredentialsRequestsDir)
		// oc adm release extract --to writes every manifest; --credentials-requests only those.
		complete := slices.ContainsFunc(files, func(f credreq.File) bool { return !bytes.Contains(f.Data, []byte("CredentialsRequest")) })
		return upgrade.Target{Files: files, Version: o.TargetVersion, Name: "--credentials-requests-dir " + o.CredentialsRequestsDir, Complete: complete}, err
	}
	pullSpec := o.To
	if versionRE.MatchString(o.To) && !strings.ContainsAny(o.To, "/:@") {
		image, ok := st.UpdateImage(o.To)
		if !ok {
			return upgrade.Target{}, fmt.Errorf("%s is not among the cluster's available or conditional updates; give its release image pull spec instead", o.To)
		}
		pullSpec = image
	}
	fmt.Fprintf(o.ErrOut, "Reading the target release image %s\n", pullSpec)
	rel, err := o.fetch(ctx, pullSpec)
	if err != nil {
		return upgrade.Target{}, err
	}
	version := o.TargetVersion
	if version == "" {
		version = rel.Version
	}
	return upgrade.Target{Files: rel.Files, Version: version, Name: "release " + version, Complete: true}, nil
}

// currentRelease is where the current release's manifests can be read
// when the cluster's objects cannot tell: --current-credentials-requests-dir,
// else the release image ClusterVersion names.
func (o *UpgradeOptions) currentRelease(st upgrade.State) *upgrade.CurrentRelease {
	if dir := o.CurrentCredentialsRequestsDir; dir != "" {
		return &upgrade.CurrentRelease{Name: "--current-credentials-requests-dir " + dir, Given: true,
			Read: func(context.Context) ([]credreq.File, error) { return credreq.ReadDir(dir) }}
	}
	image := st.ClusterVersion.Status.Desired.Image
	if image == "" {
		return nil
	}
	return &upgrade.CurrentRelease{Name: "the current release image " + image, Read: func(ctx context.Context) ([]credreq.File, error) {
		fmt.Fprintf(o.ErrOut, "Reading the current release image %s\n", image)
		rel, err := o.fetch(ctx, image)
		if err != nil {
			return nil, err
		}
		return rel.Files, nil
	}}
}

// fetch pulls a release image with the pull secrets in oc's order, then the cluster's.
func (o *UpgradeOptions) fetch(ctx context.Context, pullSpec string) (*releaseimage.Release, error) {
	auth, err := authSources(o.RegistryConfig, &installconfig.Config{})
	if err != nil {
		return nil, err
	}
	if secret, err := o.kube.CoreV1().Secrets("openshift-config").Get(ctx, "pull-secret", metav1.GetOptions{}); err == nil {
		if s, err := releaseimage.ParseAuth("the cluster's openshift-config/pull-secret", secret.Data[".dockerconfigjson"]); err == nil {
			auth = append(auth, s)
		}
	}
	return releaseimage.Fetch(ctx, releaseimage.Options{PullSpec: pullSpec, Auth: auth, Insecure: o.Insecure, Keep: keepForUpgrade})
}
